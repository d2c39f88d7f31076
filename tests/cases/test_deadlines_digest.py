"""The daily digest: each staff member with open cases gets one, overdue first; nobody else."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth.models import User
from django.core.management import call_command

from cases.actions import Dismiss
from cases.deadlines import digests_send
from cases.models import Case
from cases.services import case_assign, case_transition
from notifications.models import Notice
from tests.cases.deadline_helpers import T0, frozen, open_case
from tests.conftest import make_user


def assign(case: Case, user: User, actors: dict[str, Any]) -> Case:
    return case_assign(case=case, assignee=user, actor=actors["lead"])


def digests() -> dict[str, Notice]:
    return {n.recipient: n for n in Notice.objects.filter(event="digest")}


def test_the_digest_goes_to_each_staff_member_with_open_cases_and_nobody_else(
    actors: dict[str, Any], users: dict[str, User]
) -> None:
    other = make_user("investigator", "idle")  # has never had a case
    with frozen(T0):
        late = assign(open_case(actors["analyst"], priority="critical"), users["analyst"], actors)
        soon = assign(open_case(actors["analyst"], priority="low"), users["analyst"], actors)
        mid = assign(open_case(actors["analyst"], priority="high"), users["analyst"], actors)
        lead_case = assign(open_case(actors["analyst"], priority="medium"), users["lead"], actors)
        closed = assign(open_case(actors["analyst"]), users["investigator"], actors)
        case_transition(case=closed, command=Dismiss(reason="Duplicate"), actor=actors["analyst"])
        open_case(actors["analyst"])  # unassigned: in nobody's digest
    now = T0 + timedelta(hours=5)  # the critical case (4 h) is overdue

    assert digests_send(now=now) == 2

    sent = digests()
    assert set(sent) == {users["analyst"].email, users["lead"].email}
    assert other.email not in sent
    analyst = sent[users["analyst"].email]
    assert analyst.channel == "staff"
    assert analyst.case is None
    assert analyst.payload == {
        "day": "2026-11-25",
        "overdue": [str(late.pk)],
        "upcoming": [str(mid.pk), str(soon.pk)],
        "unsent": [],
    }
    body = analyst.body_text
    assert body.index("Overdue (1)") < body.index(f"Case {late.pk},") < body.index("Coming up (2)")
    assert body.index(f"Case {mid.pk},") < body.index(f"Case {soon.pk},")
    assert "3 open, 1 overdue" in analyst.subject
    assert sent[users["lead"].email].payload["upcoming"] == [str(lead_case.pk)]
    assert sent[users["lead"].email].payload["overdue"] == []


def test_nobody_gets_a_digest_when_no_case_is_open_and_assigned(
    actors: dict[str, Any], users: dict[str, User]
) -> None:
    with frozen(T0):
        open_case(actors["analyst"])

    assert digests_send(now=T0 + timedelta(hours=1)) == 0
    assert Notice.objects.filter(event="digest").exists() is False


def test_the_digest_is_sent_once_a_day(actors: dict[str, Any], users: dict[str, User]) -> None:
    with frozen(T0):
        assign(open_case(actors["analyst"]), users["analyst"], actors)

    assert digests_send(now=T0) == 1
    assert digests_send(now=T0 + timedelta(hours=6)) == 0
    assert digests_send(now=T0 + timedelta(days=1)) == 1

    assert Notice.objects.filter(event="digest").count() == 2


def test_an_inactive_staff_member_gets_no_digest(
    actors: dict[str, Any], users: dict[str, User]
) -> None:
    with frozen(T0):
        assign(open_case(actors["analyst"]), users["analyst"], actors)
    User.objects.filter(pk=users["analyst"].pk).update(is_active=False)

    assert digests_send(now=T0) == 0


def test_the_digest_command_sends_as_of_the_given_time(
    actors: dict[str, Any], users: dict[str, User], capsys: Any
) -> None:
    with frozen(T0):
        assign(open_case(actors["analyst"]), users["analyst"], actors)

    call_command("send_digests", "--now", "2026-11-26T07:00:00Z")

    assert capsys.readouterr().out.strip().endswith(": 1 digest(s)")
    assert digests()[users["analyst"].email].payload["day"] == "2026-11-26"
