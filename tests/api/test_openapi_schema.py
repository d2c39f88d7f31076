"""Acceptance 6: the schema is valid OpenAPI 3, and a bounded schemathesis run finds no server
error and no response that breaks it (positive and negative data, against the WSGI app)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from drf_spectacular.validation import validate_schema
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.generation import GenerationMode

from accounts.models import Account, Channel, Partner
from accounts.services import api_client_create
from cases.services import case_open
from core.actors import Actor
from tests.conftest import make_policy

SCHEMA_PATH = "/api/v1/schema?format=json"
EXAMPLES_PER_OPERATION = 40


def fetch_schema() -> dict[str, Any]:
    response = Client().get(SCHEMA_PATH)
    assert response.status_code == 200
    result: dict[str, Any] = json.loads(response.content)
    return result


def test_schema_is_valid_openapi_3(db: None) -> None:
    schema = fetch_schema()
    validate_schema(schema)
    assert schema["openapi"].startswith("3.")


def test_every_operation_documents_scope_problems_and_examples(db: None) -> None:
    schema = fetch_schema()
    operations = [
        (path, method, op)
        for path, item in schema["paths"].items()
        for method, op in item.items()
        if path.startswith("/api/v1/") and not path.endswith(("/schema", "/docs"))
    ]
    assert len(operations) == 41
    for path, method, op in operations:
        assert op.get("x-scopes"), (path, method)
        assert "Scope:" in op["description"], (path, method)
        for status in ("401", "403"):
            problem = op["responses"][status]["content"]["application/problem+json"]
            assert problem["schema"]["$ref"] == "#/components/schemas/Problem"
        if method in ("post", "put"):
            assert "422" in op["responses"], (path, method)
            bodies = op["requestBody"]["content"]
            if "multipart/form-data" in bodies:  # a file upload: its parts, not a JSON example
                parts = _resolved(schema, bodies["multipart/form-data"]["schema"])["properties"]
                assert parts["file"]["format"] == "binary", (path, method)
                continue
            content = bodies["application/json"]
            assert content.get("examples"), (path, method)
    assert schema["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def _resolved(schema: dict[str, Any], part: dict[str, Any]) -> dict[str, Any]:
    ref = part.get("$ref")
    return schema["components"]["schemas"][ref.rsplit("/", 1)[1]] if ref else part


def test_docs_page_is_served(db: None) -> None:
    response = Client().get("/api/v1/docs")
    assert response.status_code == 200
    assert b"swagger" in response.content.lower()


@pytest.fixture
def fuzz_data(db: None) -> str:
    """A little data so that some generated requests find something, and a key for all."""
    make_policy("competing-model-development")
    partner = Partner.objects.create(code="cloudco", name="CloudCo")
    account = Account.objects.create(external_id="acme-ai")
    Channel.objects.create(account=account, partner=partner)
    case_open(account=account, summary="x", actor=Actor.system())
    _, key = api_client_create(
        name="fuzzer",
        scopes=[
            "enforcement:read",
            "signals:write",
            "accounts:read",
            "accounts:write",
            "cases:read",
            "cases:write",
            "appeals:write",
        ],
        role="lead",
    )
    return key


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def keep_test_connection() -> Iterator[None]:
    """Calls go straight to the WSGI app, not through Django's test client, so stop the
    request signals from closing the connection that holds the test transaction."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def test_api_conforms_to_its_schema(fuzz_data: str, keep_test_connection: None) -> None:
    """Every operation, positive and negative data, a bounded number of examples each."""
    from config.wsgi import application

    api_schema = schemathesis.openapi.from_wsgi(SCHEMA_PATH, application)
    headers = {"Authorization": f"Bearer {fuzz_data}"}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 15
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(operation.as_strategy(generation_mode=mode))
            @hypothesis_settings(
                max_examples=EXAMPLES_PER_OPERATION,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def run(case: Any) -> None:
                case.call_and_validate(headers=headers, checks=CHECKS)

            run()
