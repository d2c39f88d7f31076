"""The check as Envoy's HTTP ext_authz filter sends it, built from docs/gateway/envoy.yaml: the
original method, ``path_prefix`` + the original path, the allowed headers of the client's
request and the headers added, no body. Envoy itself is not installable here; this pins what
the shipped configuration makes it send, and what the answer lets through."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from django.test import Client

from accounts.models import Account
from accounts.services import api_client_create
from cases.actions import RestrictionSpec, Suspend
from cases.models import Decision
from cases.services import case_open, case_transition
from core.actors import Actor

CONFIG = Path(__file__).resolve().parents[2] / "docs" / "gateway" / "envoy.yaml"
SERVICE_PREFIX = "/api/v1/gateway/authz"


def ext_authz() -> dict[str, Any]:
    document = yaml.safe_load(CONFIG.read_text())
    [listener] = document["static_resources"]["listeners"]
    [chain] = listener["filter_chains"]
    [manager] = chain["filters"]
    filters = manager["typed_config"]["http_filters"]
    [authz] = [f for f in filters if f["name"] == "envoy.filters.http.ext_authz"]
    config: dict[str, Any] = authz["typed_config"]
    return config


def envoy_check(
    client: Client,
    *,
    method: str,
    path: str,
    headers: dict[str, str],
    key: str,
    prefix: str | None = None,
) -> Any:
    """The check request Envoy builds for a client's ``method path`` with ``headers``."""
    service = ext_authz()["http_service"]
    allowed = {p["exact"] for p in service["authorization_request"]["allowed_headers"]["patterns"]}
    sent = {name: value for name, value in headers.items() if name.lower() in allowed}
    for added in service["authorization_request"]["headers_to_add"]:
        value = added["value"]
        sent[added["key"]] = key if "TSCASE_GATEWAY_KEY" in value else value
    # Envoy sends Host, Method, Path and a zero Content-Length besides.
    sent["content-length"] = "0"
    check_path = (prefix or service["path_prefix"]) + path
    return getattr(client, method.lower())(check_path, headers=sent)


def test_the_shipped_config_forwards_what_the_check_needs() -> None:
    config = ext_authz()
    service = config["http_service"]
    assert service["path_prefix"] == "/authz"
    allowed = {p["exact"] for p in service["authorization_request"]["allowed_headers"]["patterns"]}
    assert {"x-account-id", "x-model", "x-feature"} <= allowed
    upstream = {
        p["exact"]
        for p in service["authorization_response"]["allowed_upstream_headers"]["patterns"]
    }
    assert {"x-tns-status", "x-tns-rate-limit"} <= upstream
    to_client = {
        p["exact"] for p in service["authorization_response"]["allowed_client_headers"]["patterns"]
    }
    assert {"x-tns-reason", "x-tns-decision"} <= to_client
    assert config["failure_mode_allow"] is True


@pytest.mark.django_db
def test_the_service_answers_envoys_check(policies: Any) -> None:
    _, key = api_client_create(name="envoy", scopes=["enforcement:read"])
    account = Account.objects.create(external_id="model-co")
    case = case_open(account=account, summary="gateway", actor=Actor.system())
    case_transition(
        case=case,
        command=Suspend(
            reason="r",
            policies=["rate-limit-evasion"],
            restriction=RestrictionSpec(kind="model_block", models=["gpt-x"]),
        ),
        actor=Actor.system(),
    )
    decision = Decision.objects.get(case=case)
    client = Client(raise_request_exception=False)
    request = {
        "method": "POST",
        "path": "/v1/chat/completions?stream=true",
        "key": key,
        "prefix": SERVICE_PREFIX,
    }
    refused = envoy_check(
        client,
        headers={"x-account-id": "model-co", "x-model": "gpt-x", "authorization": "Bearer c"},
        **request,
    )
    assert refused.status_code == 403
    assert refused["x-tns-reason"] == "model_blocked"
    assert refused["x-tns-decision"] == decision.reference
    allowed = envoy_check(
        client, headers={"x-account-id": "model-co", "x-model": "gpt-y"}, **request
    )
    assert allowed.status_code == 200
    assert allowed["x-tns-status"] == "restricted"
