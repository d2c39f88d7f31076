"""The transparency report's admin page: the figures of a period with charts drawn on the server,
the same figures as CSV, every staff role may read it, and a bad period is an error on the page
(400), never a 500."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from accounts.models import Account
from cases.actions import RestrictionSpec, Suspend
from cases.models import Decision, StatementSubmission
from cases.services import case_open, case_transition
from cases.transparency_report import transparency_report
from core.actors import Actor

URL = "/admin/cases/decision/transparency-report/"


@pytest.fixture
def restricted(policies: object) -> None:
    for name, spec in (
        ("a-co", RestrictionSpec()),
        ("b-co", RestrictionSpec(kind="rate_limit", requests_per_minute=3)),
    ):
        account = Account.objects.create(external_id=name, name=name, contacts=[])
        case = case_open(account=account, summary="s", actor=Actor.system())
        case_transition(
            case=case,
            command=Suspend(reason="r", policies=["rate-limit-evasion"], restriction=spec),
            actor=Actor.system(),
        )


def period() -> dict[str, str]:
    today = datetime.now(UTC).date()
    return {"start": f"{today - timedelta(days=1)}", "end": f"{today + timedelta(days=1)}"}


@pytest.mark.parametrize("role", ["auditor", "analyst", "investigator", "lead"])
def test_every_staff_role_reads_the_report_with_its_charts(
    login: Callable[[str], Client], restricted: None, role: str
) -> None:
    response = login(role).get(URL, period())
    assert response.status_code == 200
    page = response.content.decode()
    assert page.count('<svg role="img"') == 4
    assert "Restrictions imposed, by kind" in page
    # Bars: the suspension and the rate limit, one each, drawn at full width.
    assert page.count('width="320"') >= 2
    assert "decisions restrictive" in page


def test_the_csv_holds_the_reports_figures(
    login: Callable[[str], Client], restricted: None
) -> None:
    response = login("auditor").get(URL, {**period(), "format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    by_key = {(r["metric"], r["breakdown"]): r["value"] for r in rows}
    assert by_key[("decisions_restrictive", "")] == "2"
    assert by_key[("restrictions_by_kind", "rate_limit")] == "1"
    start = datetime.fromisoformat(period()["start"]).replace(tzinfo=UTC)
    end = datetime.fromisoformat(period()["end"]).replace(tzinfo=UTC)
    assert len(rows) == len(transparency_report(start=start, end=end).rows)


@pytest.mark.parametrize(
    "query",
    [
        {"start": "yesterday", "end": "2026-01-01"},
        {"start": "2026-02-01", "end": "2026-01-01"},
        {"start": "2026-01-01"},
        {"start": "2026-13-45", "end": "2026-01-01", "format": "csv"},
    ],
)
def test_a_bad_period_is_an_error_on_the_page(
    login: Callable[[str], Client], query: dict[str, str]
) -> None:
    response = login("lead").get(URL, query)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    assert "errorlist" in response.content.decode()


def test_without_a_staff_session_the_report_is_not_shown(db: None) -> None:
    response = Client().get(URL)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_the_submissions_are_listed_read_only(
    login: Callable[[str], Client], restricted: None
) -> None:
    decision = Decision.objects.first()
    assert decision is not None
    StatementSubmission.objects.create(
        endpoint="http://127.0.0.1:18420/api/v1/statements",
        puid=decision.reference,
        decision=decision,
        outcome="created",
        batch=uuid.uuid4(),
    )
    client = login("auditor")
    response = client.get("/admin/cases/statementsubmission/")
    assert response.status_code == 200
    assert decision.reference in response.content.decode()
    assert client.get("/admin/cases/statementsubmission/add/").status_code == 403
    submission = StatementSubmission.objects.get()
    change = client.post(
        f"/admin/cases/statementsubmission/{submission.pk}/change/", {"outcome": "already_present"}
    )
    assert change.status_code == 403
    assert StatementSubmission.objects.get().outcome == "created"


def test_the_report_is_a_page_to_read_a_post_is_refused(login: Callable[[str], Client]) -> None:
    response = login("lead").post(URL, {"start": "2026-01-01", "end": "2026-07-01"})

    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"
