"""Every error under /api/ is an RFC 9457 problem, the framework's own included."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client, override_settings
from rest_framework.exceptions import Throttled

from cases.models import Signal
from config.problems import exception_handler

from .conftest import API, ApiCaller, problem


def test_missing_key_is_401_with_a_bearer_challenge(anonymous: ApiCaller) -> None:
    response = anonymous.get("/cases")
    body = problem(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert body["instance"] == f"{API}/cases"
    assert body["type"].endswith("/not_authenticated")


@pytest.mark.parametrize(
    "header",
    ["Bearer nonsense", "Bearer tsk_000000000000_wrong", "Bearer ", "bearer tsk_x_y"],
)
def test_bad_key_is_401(db: Any, header: str) -> None:
    response = Client().get(f"{API}/cases", headers={"Authorization": header})
    problem(response, 401)


def test_unknown_api_path_is_a_problem_not_html(api: ApiCaller) -> None:
    problem(api.get("/nothing/here"), 404, "not_found")
    problem(api.get("/cases/not-a-number"), 404, "not_found")


def test_unknown_case_is_404(api: ApiCaller) -> None:
    problem(api.get("/cases/999999"), 404, "not_found")
    problem(api.get("/cases/99999999999999999999999"), 404)


def test_wrong_method_is_405_with_allow(api: ApiCaller) -> None:
    response = api.client.delete(f"{API}/cases", headers=api.headers)
    problem(response, 405, "method_not_allowed")
    assert "GET" in response["Allow"]


def test_unacceptable_accept_is_406(api: ApiCaller) -> None:
    problem(api.get("/cases", headers={"Accept": "text/html"}), 406, "not_acceptable")


def test_non_json_body_is_415(api: ApiCaller) -> None:
    response = api.client.post(
        f"{API}/signals", "a=b", content_type="text/plain", headers=api.headers
    )
    problem(response, 415, "unsupported_media_type")


def test_a_number_json_cannot_store_is_422_naming_it(api: ApiCaller) -> None:
    response = api.client.post(
        f"{API}/signals", '{"signals": NaN}', content_type="application/json", headers=api.headers
    )
    body = problem(response, 422, "invalid_input")
    assert [e["pointer"] for e in body["errors"]] == ["/signals"]


def test_malformed_json_is_400(api: ApiCaller) -> None:
    response = api.client.post(
        f"{API}/signals", "{not json", content_type="application/json", headers=api.headers
    )
    problem(response, 400, "malformed_request")


@override_settings(API_MAX_BODY_BYTES=1000)
def test_too_large_body_is_413(api: ApiCaller) -> None:
    response = api.post("/signals", {"signals": [{"summary": "x" * 2000}]})
    problem(response, 413, "payload_too_large")


def test_a_chunked_body_is_411_and_nothing_is_written(api: ApiCaller) -> None:
    # Django reads CONTENT_LENGTH bytes of a body: a chunked one would be read as empty and
    # escape the size limit, so it is refused before any view sees it.
    before = Signal.objects.count()
    response = api.client.post(
        f"{API}/signals",
        b'{"signals": []}',
        content_type="application/json",
        headers={**api.headers, "Transfer-Encoding": "chunked"},
    )
    problem(response, 411, "length_required")
    assert Signal.objects.count() == before


def test_throttled_is_429_with_retry_after() -> None:
    response = exception_handler(Throttled(wait=7), {})
    assert response is not None
    assert response.status_code == 429
    assert response["Retry-After"] == "7"
    assert response.data["code"] == "throttled"
    assert response.content_type == "application/problem+json"


def test_rate_limit_answers_429_over_http(
    api: ApiCaller, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from config.throttling import ApiRateThrottle

    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "throttle-test",
        }
    }
    monkeypatch.setattr(ApiRateThrottle, "THROTTLE_RATES", {"api": "2/min"})
    assert [api.get("/partners").status_code for _ in range(2)] == [200, 200]
    response = api.get("/partners")
    problem(response, 429, "throttled")
    assert int(response["Retry-After"]) > 0


def test_unexpected_error_is_a_500_problem(api: ApiCaller, monkeypatch: pytest.MonkeyPatch) -> None:
    import cases.api.views as views

    def boom(**kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(views, "case_get", boom)
    response = api.get("/cases/1")
    body = problem(response, 500, "server_error")
    assert "boom" not in body["detail"]


def test_validation_errors_carry_json_pointers(api: ApiCaller) -> None:
    response = api.put("/accounts/acme-ai", {"contacts": ["not-an-email"], "tier": "gold"})
    body = problem(response, 422, "invalid_input")
    pointers = {e["pointer"] for e in body["errors"]}
    assert pointers == {"/contacts/0", "/tier"}


def test_invalid_filter_is_400_naming_the_parameter(api: ApiCaller) -> None:
    body = problem(api.get("/cases", state="sleeping"), 400, "invalid_query")
    assert body["errors"][0]["pointer"] == "state"
    problem(api.get("/cases", cursor="garbage"), 400, "invalid_query")


def test_admin_pages_stay_html(db: Any) -> None:
    response = Client().get("/admin/login/")
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(
    "raw",
    [
        '{"signals": [{"account": "a\\u0000b"}]}',
        '{"signals": [{"account": "\\ud800"}]}',
    ],
)
def test_unstorable_json_is_422_at_the_string(api: ApiCaller, raw: str) -> None:
    response = api.client.post(
        f"{API}/signals", raw, content_type="application/json", headers=api.headers
    )
    body = problem(response, 422)
    assert [(e["pointer"], e["code"]) for e in body["errors"]] == [
        ("/signals/0/account", "unstorable_text")
    ]


def test_an_unstorable_key_is_named_by_its_object_without_its_text(
    api: ApiCaller, account: Any
) -> None:
    """Free-form evidence: the key cannot be repeated (the answer could not be encoded); its
    object is named, and each unstorable value beside it."""
    raw = (
        '{"signals": [{"account": "acme-ai", "kind": "k", "severity": "low", '
        '"occurred_at": "2026-11-25T10:00:00Z", "source": "s", "dedupe_key": "d", '
        '"evidence": {"k\\ud800": {"x": "\\u0000"}, "ok": "a\\u0000"}}]}'
    )
    before = Signal.objects.count()
    response = api.client.post(
        f"{API}/signals", raw, content_type="application/json", headers=api.headers
    )
    body = problem(response, 422)
    assert sorted((e["pointer"], e["code"]) for e in body["errors"]) == [
        ("/signals/0/evidence", "unstorable_text"),
        ("/signals/0/evidence/ok", "unstorable_text"),
    ]
    assert "\\ud800" not in response.content.decode()
    assert Signal.objects.count() == before


def test_paired_surrogates_are_fine(api: ApiCaller, account: Any) -> None:
    raw = (
        '{"signals": [{"account": "acme-ai", "kind": "k", "severity": "low", '
        '"occurred_at": "2026-11-25T10:00:00Z", "source": "s", "dedupe_key": "\\ud83d\\ude00"}]}'
    )
    response = api.client.post(
        f"{API}/signals", raw, content_type="application/json", headers=api.headers
    )
    assert response.status_code == 202, response.content


def test_nul_in_path_or_query_is_refused(api: ApiCaller) -> None:
    problem(api.get("/enforcement/a%00b"), 400, "bad_request")
    problem(api.get("/cases", account="a\x00b"), 400, "invalid_query")


def test_options_answers_an_authenticated_caller(api: ApiCaller, anonymous: ApiCaller) -> None:
    response = api.client.options(f"{API}/signals", headers=api.headers)
    assert response.status_code == 200
    assert "POST" in response["Allow"]
    problem(anonymous.client.options(f"{API}/signals"), 401)


def test_unknown_format_parameter_is_406(api: ApiCaller) -> None:
    problem(api.get("/accounts", format="xml"), 406, "not_acceptable")
    assert api.client.get(f"{API}/schema", {"format": "json"}).status_code == 200
