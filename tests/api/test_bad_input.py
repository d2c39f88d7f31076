"""Bad input is a problem (400, 413 or 422) that names what is wrong, never a 500, and is never
silently accepted; a refused request writes nothing."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.conf import settings
from django.test import Client

from accounts.external_ids import RULE
from accounts.models import Account, Partner
from cases.actions import Suspend
from cases.models import Case, PolicyClause
from cases.services import case_open, case_transition
from config.limits import (
    DEFAULT_MAX_BODY_BYTES,
    EARLIEST_TIME,
    LATEST_TIME,
    MAX_EVIDENCE_DEPTH,
    MAX_JSON_DEPTH,
)
from core.actors import Actor

from .conftest import API, ApiCaller, problem, signal

SUSPEND = {"reason": "Distilling", "policies": ["competing-model-development"]}
SUSPEND_COMMAND = Suspend(reason="Distilling", policies=["competing-model-development"])


def rows() -> dict[str, int]:
    """How many rows each model of the service holds."""
    return {
        model._meta.label: model._default_manager.count()
        for app in ("accounts", "cases", "notifications")
        for model in apps.get_app_config(app).get_models()
    }


def post_raw(api: ApiCaller, path: str, raw: str, **headers: str) -> Any:
    return api.client.post(
        f"{API}{path}", raw, content_type="application/json", headers={**api.headers, **headers}
    )


@pytest.fixture
def case(account: Account, policies: dict[str, PolicyClause]) -> Case:
    return case_open(account=account, summary="Flagged by hand", actor=Actor.system())


@pytest.fixture
def suspended_case(case: Case) -> Case:
    return case_transition(case=case, command=SUSPEND_COMMAND, actor=Actor.system())


def investigate(deadline: Any) -> dict[str, Any]:
    return {
        "action": "investigate",
        "findings": "Confirmed",
        "violation_confirmed": True,
        "remediation": {"items": ["Delete the model"], "deadline": deadline},
    }


# --- times: a zone, and a plausible range -------------------------------------------------------


@pytest.mark.parametrize(
    "occurred_at",
    [
        "0001-01-01T00:00:00Z",
        "0001-01-01T00:00:00+01:00",
        "1999-12-31T23:59:59Z",
        "2100-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "9999-12-31T23:59:59-01:00",
    ],
)
def test_a_signal_time_outside_the_range_is_422_naming_the_field(
    api: ApiCaller, account: Account, occurred_at: str
) -> None:
    before = rows()
    batch = {"signals": [signal(1), signal(2, occurred_at=occurred_at)]}
    body = problem(api.post("/signals", batch), 422, "invalid_signals")
    assert [(e["pointer"], e["code"]) for e in body["errors"]] == [
        ("/signals/1/occurred_at", "datetime_range")
    ]
    assert "2000-01-01T00:00:00Z" in body["errors"][0]["detail"]
    assert rows() == before


def test_the_ends_of_the_range_are_accepted(api: ApiCaller, account: Account) -> None:
    batch = [
        signal(1, occurred_at="2000-01-01T00:00:00Z"),
        signal(2, occurred_at="2099-12-31T23:59:59.999999Z"),
        signal(3, occurred_at="2000-01-01T00:00:00+00:00", severity="critical"),
    ]
    response = api.post("/signals", {"signals": batch})
    assert response.status_code == 202, response.content
    assert response.json()["stored"] == 3


@pytest.mark.parametrize(
    ("deadline", "why"),
    [
        ("2026-12-01T00:00:00", "time zone"),
        ("2026-12-01 00:00", "time zone"),
        ("0001-01-01T00:00:00Z", "2000-01-01"),
        ("9999-12-31T23:59:59+05:00", "2000-01-01"),
    ],
)
def test_a_remediation_deadline_without_a_zone_or_out_of_range_is_422(
    api: ApiCaller, suspended_case: Case, deadline: str, why: str
) -> None:
    before = rows()
    response = api.post(f"/cases/{suspended_case.pk}/transitions", investigate(deadline))
    body = problem(response, 422, "invalid_input")
    assert [e["pointer"] for e in body["errors"]] == ["/remediation/deadline"]
    assert why in body["errors"][0]["detail"]
    assert rows() == before
    assert Case.objects.get().state == "suspended"


# --- JSON that nests too deep, or holds numbers that are not finite -----------------------------


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


JSON_WRITES = [
    ("post", "/signals"),
    ("post", "/cases"),
    ("post", "/cases/{case}/transitions"),
    ("post", "/cases/{case}/plan/items/1/verify"),
    ("post", "/enforcement/check"),
    ("put", "/accounts/acme-ai"),
    ("put", "/partners/cloudco"),
]


@pytest.mark.parametrize(("method", "path"), JSON_WRITES)
@pytest.mark.parametrize("depth", [1000, 5000, MAX_JSON_DEPTH])
@pytest.mark.parametrize("key", [None, "deep-1"])
def test_json_nested_too_deep_is_400_on_every_json_endpoint(
    api: ApiCaller, case: Case, method: str, path: str, depth: int, key: str | None
) -> None:
    before = rows()
    raw = '{"padding": ' + nested(depth) + "}"
    headers = {"Idempotency-Key": key} if key else {}
    response = getattr(api.client, method)(
        API + path.format(case=case.pk),
        raw,
        content_type="application/json",
        headers={**api.headers, **headers},
    )
    body = problem(response, 400, "malformed_request")
    assert str(MAX_JSON_DEPTH) in body["detail"]
    assert rows() == before


def test_json_at_the_depth_limit_is_parsed(api: ApiCaller, account: Account) -> None:
    """The parser reads it: what answers is the body's own check (a field it does not take),
    not the parser's 400."""
    raw = '{"accounts": ["acme-ai"], "padding": ' + nested(MAX_JSON_DEPTH - 1) + "}"
    body = problem(post_raw(api, "/enforcement/check", raw), 422)
    assert [e["code"] for e in body["errors"]] == ["unknown_field"]


def deep_object(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"inner": value}
    return value


def test_signal_evidence_nested_too_deep_is_422(api: ApiCaller, account: Account) -> None:
    before = rows()
    batch = [
        signal(1, evidence=deep_object(MAX_EVIDENCE_DEPTH)),
        signal(2, evidence=deep_object(MAX_EVIDENCE_DEPTH + 1)),
    ]
    body = problem(api.post("/signals", {"signals": batch}), 422, "invalid_signals")
    assert [e["pointer"] for e in body["errors"]] == ["/signals/1/evidence"]
    assert rows() == before
    response = api.post("/signals", {"signals": batch[:1]})
    assert response.status_code == 202, response.content


def test_transition_evidence_nested_too_deep_is_422(api: ApiCaller, suspended_case: Case) -> None:
    before = rows()
    body_in = {
        "action": "investigate",
        "findings": "Confirmed",
        "violation_confirmed": True,
        "evidence": ["logs://1", deep_object(MAX_EVIDENCE_DEPTH + 1)],
    }
    response = api.post(f"/cases/{suspended_case.pk}/transitions", body_in)
    body = problem(response, 422, "invalid_input")
    assert [e["pointer"] for e in body["errors"]] == ["/evidence/1"]
    assert rows() == before


SIGNAL_WITH = (
    '{"signals": [{"account": "acme-ai", "kind": "k", "severity": "low", '
    '"occurred_at": "2026-11-25T10:00:00Z", "source": "s", "dedupe_key": "d", '
    '"evidence": {"ok": 1.5, "size": %s}}]}'
)


@pytest.mark.parametrize("number", ["1e400", "-1e400", "1" + "0" * 400 + ".0", "NaN", "Infinity"])
def test_a_number_that_is_not_finite_is_422_naming_where_it_is(
    api: ApiCaller, account: Account, number: str
) -> None:
    before = rows()
    body = problem(post_raw(api, "/signals", SIGNAL_WITH % number), 422, "invalid_input")
    assert [e["pointer"] for e in body["errors"]] == ["/signals/0/evidence/size"]
    assert "finite" in body["errors"][0]["detail"]
    assert rows() == before


def test_numbers_that_are_not_finite_are_422_on_other_endpoints(
    api: ApiCaller, suspended_case: Case
) -> None:
    before = rows()
    raw = (
        '{"action": "investigate", "findings": "f", "violation_confirmed": true, '
        '"evidence": [{"bytes": -Infinity}], '
        '"remediation": {"items": ["x"], "deadline_days": 1e999}}'
    )
    body = problem(post_raw(api, f"/cases/{suspended_case.pk}/transitions", raw), 422)
    assert [e["pointer"] for e in body["errors"]] == [
        "/evidence/0/bytes",
        "/remediation/deadline_days",
    ]
    problem(post_raw(api, "/enforcement/check", '{"accounts": ["a"], "n": NaN}'), 422)
    assert rows() == before


def test_signal_intake_refuses_evidence_that_cannot_be_stored(db: Any) -> None:
    """The service itself, called without the parser, refuses numbers that are not finite."""
    from cases.intake.validation import SignalBatchInvalid, signals_validate

    with pytest.raises(SignalBatchInvalid) as refused:
        signals_validate([signal(1, evidence={"x": float("inf")})])
    assert [(e["pointer"], e["code"]) for e in refused.value.fields["errors"]] == [
        ("/signals/0/evidence", "not_finite")
    ]


# --- cursors and limits -------------------------------------------------------------------------


def cursor(query: str) -> str:
    return base64.b64encode(query.encode()).decode()


CURSOR_LISTS = [
    "/cases",
    "/cases/{case}/events",
    "/cases/{case}/notices",
    "/accounts",
    "/partners",
]


ANY_LIST = [
    cursor("p=a%00b"),
    cursor("p=" + "x" * 300),
    cursor("o=abc"),
    "not-base64!",
]
# Lists ordered by id, by time (notices) and by code (partners), and positions none can hold.
CRAFTED = [
    *[(path, crafted) for path in CURSOR_LISTS for crafted in ANY_LIST],
    *[
        (path, cursor(query))
        for path in ("/cases", "/cases/{case}/events", "/accounts")
        for query in ("p=abc", "r=1&p=abc", "p=99999999999999999999999", "p=1.5")
    ],
    *[
        ("/cases/{case}/notices", cursor(query))
        for query in ("p=abc", "r=1&p=abc", "p=0001-01-01 00:00:00+01:00", "p=99999")
    ],
    ("/partners", cursor("p=not a code")),
]


@pytest.mark.parametrize(("path", "crafted"), CRAFTED)
def test_a_crafted_cursor_is_400_invalid_query(
    api: ApiCaller, suspended_case: Case, path: str, crafted: str
) -> None:
    response = api.get(path.format(case=suspended_case.pk), cursor=crafted)
    body = problem(response, 400, "invalid_query")
    assert [e["pointer"] for e in body["errors"]] == ["cursor"]


@pytest.mark.parametrize("path", CURSOR_LISTS)
def test_a_cursor_handed_out_still_works(api: ApiCaller, suspended_case: Case, path: str) -> None:
    for n in range(2):
        more = Account.objects.create(external_id=f"more-{n}")
        case_open(account=more, summary="Another", actor=Actor.system())
        Partner.objects.create(code=f"partner-{n}", name=f"Partner {n}")
    first = api.get(path.format(case=suspended_case.pk), limit="1").json()
    assert first["next"] is not None
    response = api.client.get(first["next"], headers=api.headers)
    assert response.status_code == 200, response.content
    assert response.json()["results"] != first["results"]


@pytest.mark.parametrize("path", CURSOR_LISTS)
@pytest.mark.parametrize(
    "limit",
    [
        "-1",
        "0",
        "abc",
        "10^20",
        "100000000000000000000",
        "1.5",
        "",
        " 5",
        "\u0665",
        "501",
        "9" * 5000,
    ],
)
def test_a_bad_limit_is_400_invalid_query(
    api: ApiCaller, suspended_case: Case, path: str, limit: str
) -> None:
    response = api.get(path.format(case=suspended_case.pk), limit=limit)
    body = problem(response, 400, "invalid_query")
    assert [e["pointer"] for e in body["errors"]] == ["limit"]


@pytest.mark.parametrize(("path", "top"), [("/cases", 200), ("/accounts", 200), ("/partners", 200)])
def test_limits_up_to_the_maximum_are_accepted(
    api: ApiCaller, suspended_case: Case, path: str, top: int
) -> None:
    assert api.get(path, limit="1").status_code == 200
    assert api.get(path, limit=str(top)).status_code == 200
    problem(api.get(path, limit=str(top + 1)), 400, "invalid_query")


def test_the_schema_states_the_limit_range(api: ApiCaller) -> None:
    schema = Client().get(f"{API}/schema", {"format": "json"}).json()
    limit = next(
        p for p in schema["paths"]["/api/v1/cases"]["get"]["parameters"] if p["name"] == "limit"
    )
    assert (limit["schema"]["minimum"], limit["schema"]["maximum"]) == (1, 200)


# --- body size ----------------------------------------------------------------------------------


def test_a_body_within_the_documented_limit_is_read(api: ApiCaller, account: Account) -> None:
    """6 MiB is under the 8 MiB that docs/api.md states: the body is read (and here refused for
    what it says), not answered 413."""
    before = rows()
    batch = {"signals": [signal(1, summary="x" * (6 * 1024 * 1024))]}
    body = problem(api.post("/signals", batch), 422, "invalid_signals")
    assert [e["pointer"] for e in body["errors"]] == ["/signals/0/summary"]
    assert rows() == before


def test_a_body_over_the_limit_is_a_413_problem_naming_it(api: ApiCaller, account: Account) -> None:
    before = rows()
    raw = json.dumps({"signals": [signal(1, summary="x" * DEFAULT_MAX_BODY_BYTES)]})
    body = problem(post_raw(api, "/signals", raw), 413, "payload_too_large")
    assert str(DEFAULT_MAX_BODY_BYTES) in body["detail"]
    assert rows() == before


def test_one_body_limit_for_django_the_api_and_the_docs() -> None:
    assert settings.API_MAX_BODY_BYTES == DEFAULT_MAX_BODY_BYTES == 8 * 1024 * 1024
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE == settings.API_MAX_BODY_BYTES
    docs = Path(settings.BASE_DIR, "docs", "api.md").read_text()
    assert f"`API_MAX_BODY_BYTES` ({DEFAULT_MAX_BODY_BYTES // 2**20} MiB)" in docs


def test_docs_state_the_limits_the_code_applies() -> None:
    docs = " ".join(Path(settings.BASE_DIR, "docs", "api.md").read_text().split())
    assert f"nest at most {MAX_JSON_DEPTH} lists and objects" in docs
    assert f"at most {MAX_EVIDENCE_DEPTH} (deeper: 422)" in docs
    for end in (EARLIEST_TIME, LATEST_TIME):
        assert f"`{end.isoformat().replace('+00:00', 'Z')}`" in docs
    assert "1 to 128 ASCII letters, digits and `- . _ ~ : @`" in docs
    assert RULE.startswith("An external id is 1 to 128 ASCII letters, digits and - . _ ~ : @")


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/cases", {"state": ""}),
        ("/cases", {"priority": ""}),
        ("/cases", {"overdue": ""}),
        ("/accounts", {"status": ""}),
        ("/accounts", {"tier": ""}),
    ],
)
def test_an_empty_value_of_a_listed_filter_is_400(
    api: ApiCaller, account: Account, path: str, query: dict[str, str]
) -> None:
    """The schema gives the filter's values as an ``enum``; empty is none of them (django-filter
    alone would drop the filter and answer the whole list)."""
    body = problem(api.get(path, **query), 400, "invalid_query")
    assert [e["pointer"] for e in body["errors"]] == list(query)


@pytest.mark.parametrize("value", ["", "+5", " 5", "5.0", "1e2", "-1", "0"])
def test_the_change_feed_takes_only_a_whole_limit(
    api: ApiCaller, account: Account, value: str
) -> None:
    body = problem(api.get("/enforcement/changes", limit=value), 400)
    assert [e["pointer"] for e in body["errors"]] == ["limit"]


@pytest.mark.parametrize("value", ["", "+1", "1.0"])
def test_the_change_feed_takes_only_a_whole_position(
    api: ApiCaller, account: Account, value: str
) -> None:
    body = problem(api.get("/enforcement/changes", after=value), 400)
    assert [e["pointer"] for e in body["errors"]] == ["after"]
