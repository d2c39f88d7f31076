"""The schema declares what the server enforces, and the server refuses what the schema forbids:
per-action transition bodies, strict request bodies and scalars, non-blank text, batch bounds,
the Idempotency-Key's characters, cursors described by a pattern, ids within 64-bit integers."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.test import Client

from accounts.idempotency import KEY_PATTERN
from accounts.models import Account, Channel, IdempotencyKey, Partner
from cases.actions import Suspend
from cases.models import Case, CaseEvent, PolicyClause, Signal
from cases.services import case_open, case_transition
from config.api import NO_NUL_PATTERN, NONBLANK_PATTERN, TextField
from core.actors import Actor

from .conftest import ApiCaller, problem

SUSPEND = {"action": "suspend", "reason": "Distilling", "policies": ["competing-model-development"]}
SUSPEND_COMMAND = Suspend(reason="Distilling", policies=["competing-model-development"])


@pytest.fixture
def schema(db: None) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(Client().get("/api/v1/schema?format=json").content)
    return result


@pytest.fixture
def case(account: Account, policies: dict[str, PolicyClause]) -> Case:
    return case_open(account=account, summary="Flagged by hand", actor=Actor.system())


def _component(schema: dict[str, Any], ref: str) -> dict[str, Any]:
    result: dict[str, Any] = schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    return result


def _body_schema(schema: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    content = schema["paths"][path][method]["requestBody"]["content"]["application/json"]
    return _component(schema, content["schema"]["$ref"])


# --- transitions: one body per action --------------------------------------------------------


def test_transition_body_is_a_union_keyed_on_action(schema: dict[str, Any]) -> None:
    union = _body_schema(schema, "/api/v1/cases/{case_id}/transitions", "post")
    assert union["discriminator"]["propertyName"] == "action"
    mapping = union["discriminator"]["mapping"]
    assert set(mapping) == {"suspend", "investigate", "remediate", "terminate", "dismiss"}
    required = {a: set(_component(schema, ref)["required"]) for a, ref in mapping.items()}
    assert required == {
        "suspend": {"action", "reason", "policies"},
        "investigate": {"action", "findings", "violation_confirmed"},
        "remediate": {"action", "verification_note"},
        "terminate": {"action", "rationale"},
        "dismiss": {"action", "reason"},
    }
    for ref in mapping.values():
        body = _component(schema, ref)
        assert body["additionalProperties"] is False
    suspend = _component(schema, mapping["suspend"])["properties"]
    assert suspend["reason"]["pattern"] == NONBLANK_PATTERN
    assert suspend["policies"]["minItems"] == 1


@pytest.mark.parametrize(
    "body",
    [
        {**SUSPEND, "findings": "a field of investigate"},
        {**SUSPEND, "reason": "   "},
        {**SUSPEND, "reason": 42},
        {**SUSPEND, "policies": []},
        {"action": {"not": "a string"}, "reason": "x"},
        ["suspend"],
    ],
)
def test_transition_bodies_the_schema_forbids_are_refused(
    api: ApiCaller, case: Case, body: Any
) -> None:
    events = CaseEvent.objects.count()
    problem(api.post(f"/cases/{case.pk}/transitions", body), 422)
    assert Case.objects.get().state == "flagged"
    assert CaseEvent.objects.count() == events


def test_investigate_takes_a_boolean_not_its_text(api: ApiCaller, case: Case) -> None:
    case_transition(case=case, command=SUSPEND_COMMAND, actor=Actor.system())
    body = {"action": "investigate", "findings": "Logs", "violation_confirmed": "true"}
    problem(api.post(f"/cases/{case.pk}/transitions", body), 422)
    for evidence in ([None], [0, False, [None], {}], [{"reference": "r", "extra": 1}]):
        body["evidence"] = evidence  # type: ignore[assignment]
        problem(api.post(f"/cases/{case.pk}/transitions", body), 422)
    assert Case.objects.get().state == "suspended"
    ok = {**body, "violation_confirmed": False, "evidence": ["logs://q/1", {"reference": "r"}]}
    assert api.post(f"/cases/{case.pk}/transitions", ok).status_code == 200


def test_blank_required_input_is_missing_input(api: ApiCaller, case: Case) -> None:
    body = problem(
        api.post(f"/cases/{case.pk}/transitions", {"action": "dismiss", "reason": " \x1c "}),
        422,
        "missing_input",
    )
    assert [e["field"] for e in body["errors"]] == ["reason"]
    assert Case.objects.get().state == "flagged"


# --- strict bodies and scalars ------------------------------------------------------------------


def test_every_request_body_refuses_undeclared_fields(schema: dict[str, Any]) -> None:
    refs = [
        next(iter(op["requestBody"]["content"].values()))["schema"]["$ref"]  # JSON or multipart
        for item in schema["paths"].values()
        for op in item.values()
        if "requestBody" in op
    ]
    assert len(refs) >= 7
    for ref in refs:
        body = _component(schema, ref)
        parts = [_component(schema, r["$ref"]) for r in body.get("oneOf", [])] or [body]
        for part in parts:
            assert part["additionalProperties"] is False, ref


@pytest.mark.parametrize(
    "body",
    [{"name": 0}, {"name": "   "}, {"name": "CloudCo", "colour": "blue"}, {"name": True}],
)
def test_partner_bodies_the_schema_forbids_are_refused(api: ApiCaller, body: Any) -> None:
    problem(api.put("/partners/newco", body), 422)
    assert not Partner.objects.filter(code="newco").exists()


def test_partner_name_is_declared_non_blank(schema: dict[str, Any]) -> None:
    name = _body_schema(schema, "/api/v1/partners/{code}", "put")["properties"]["name"]
    assert (name["type"], name["minLength"], name["pattern"]) == ("string", 1, NONBLANK_PATTERN)


def test_channels_are_strings_not_numbers(api: ApiCaller, partner: Partner) -> None:
    Partner.objects.create(code="0", name="Zero")
    problem(api.put("/accounts/newacct", {"channels": [0]}), 422)
    assert not Account.objects.filter(external_id="newacct").exists()
    assert not Channel.objects.filter(partner__code="0").exists()


def test_signal_batches_hold_at_least_one_signal(api: ApiCaller, db: None) -> None:
    for body in ({"signals": []}, [], {"signals": [], "extra": 1}, {}):
        problem(api.post("/signals", body), 422)
    assert not Signal.objects.exists()


def test_signal_batch_bounds_are_declared(schema: dict[str, Any]) -> None:
    signals = _body_schema(schema, "/api/v1/signals", "post")["properties"]["signals"]
    assert (signals["minItems"], signals["maxItems"]) == (1, 1000)


# --- headers, cursors, ids, query text ----------------------------------------------------------


def test_idempotency_key_pattern_is_declared_and_enforced(
    api: ApiCaller, schema: dict[str, Any], case: Case
) -> None:
    header = next(
        p
        for p in schema["paths"]["/api/v1/cases/{case_id}/transitions"]["post"]["parameters"]
        if p["name"] == "Idempotency-Key"
    )
    assert header["schema"]["pattern"] == KEY_PATTERN
    problem(
        api.post(f"/cases/{case.pk}/transitions", SUSPEND, headers={"Idempotency-Key": "clé"}),
        400,
        "invalid_idempotency_key",
    )
    assert not IdempotencyKey.objects.exists()
    assert Case.objects.get().state == "flagged"
    ok = api.post(f"/cases/{case.pk}/transitions", SUSPEND, headers={"Idempotency-Key": "a b"})
    assert ok.status_code == 200


LISTS = ["/accounts", "/cases", "/partners", "/cases/{case}/events", "/cases/{case}/notices"]


def _cursor_pattern(schema: dict[str, Any], path: str) -> str:
    operation = schema["paths"][f"/api/v1{path.replace('{case}', '{case_id}')}"]["get"]
    [cursor] = [p for p in operation["parameters"] if p["name"] == "cursor"]
    pattern: str = cursor["schema"]["pattern"]
    return pattern


@pytest.mark.parametrize("path", LISTS)
def test_cursors_match_the_declared_pattern_and_others_are_400(
    api: ApiCaller, schema: dict[str, Any], case: Case, path: str
) -> None:
    case_transition(case=case, command=SUSPEND_COMMAND, actor=Actor.system())
    Partner.objects.create(code="zeta", name="Zeta")
    Account.objects.create(external_id="globex")
    case_open(account=Account.objects.get(external_id="globex"), summary="x", actor=Actor.system())
    url = path.replace("{case}", str(case.pk))
    pattern = _cursor_pattern(schema, path)
    page = api.get(url, limit="1").json()
    assert page["next"], page
    cursor = re.search(r"cursor=([^&]+)", page["next"])
    assert cursor is not None
    assert re.fullmatch(pattern, cursor.group(1)), (pattern, cursor.group(1))
    following = api.get(url, limit="1", cursor=cursor.group(1))
    assert following.status_code == 200
    assert following.json()["results"] != page["results"]
    for crafted in ("B", "cD1hYmM=", "n" + "9" * 70, "x1", "n1~12345"):
        assert not re.fullmatch(pattern, crafted)
        problem(api.get(url, cursor=crafted), 400, "invalid_query")


def test_an_id_no_row_can_have_is_a_404_problem(api: ApiCaller, schema: dict[str, Any]) -> None:
    big = "9" * 30
    for path in (f"/cases/{big}", f"/cases/{big}/events", f"/cases/1/plan/items/{big}/verify"):
        response = api.post(path, {}) if path.endswith("verify") else api.get(path)
        problem(response, 404)
    parameters = schema["paths"]["/api/v1/cases/{case_id}"]["get"]["parameters"]
    [case_id] = [p for p in parameters if p["name"] == "case_id"]
    assert case_id["schema"] == {"type": "integer", "minimum": 0, "maximum": 10**18 - 1}


def test_free_text_query_parameters_declare_no_nul(schema: dict[str, Any]) -> None:
    operation = schema["paths"]["/api/v1/cases"]["get"]
    params = {p["name"]: p["schema"] for p in operation["parameters"]}
    for name in ("account", "assignee", "policy"):
        assert params[name]["pattern"] == NO_NUL_PATTERN, name


def test_blank_text_where_allowed_matches_one_alternative_only() -> None:
    """``""`` may not match both branches of the ``oneOf`` drf-spectacular writes for text that
    may be blank (schemathesis: a schema-violating body accepted)."""
    field = TextField(allow_blank=True, max_length=10)
    assert re.fullmatch(field.pattern, "") is None
    assert re.fullmatch(field.pattern, "x") is not None


@pytest.mark.django_db
def test_an_id_filter_refuses_what_its_schema_refuses(make_caller: Any) -> None:
    caller = make_caller()
    for value in ("0", "1.5", "-3", ""):
        response = caller.get("/approvals", case=value)
        assert response.status_code == 400, (value, response.content)
    assert caller.get("/approvals", case="1").status_code == 200
    assert caller.get("/appeals", case="0").status_code == 400
    assert caller.get("/appeals", case="").status_code == 400
