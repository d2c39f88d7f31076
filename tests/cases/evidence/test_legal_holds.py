"""Legal holds: placed and released by leads, kept on the record, reminded before review."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from accounts.models import Account
from cases.deadlines import deadlines_sweep
from cases.errors import HoldReleased
from cases.models import CaseEvent, LegalHold
from cases.services.holds import legal_hold_place, legal_hold_release
from core.actors import Actor
from core.errors import Forbidden, InvalidInput, MissingInput
from notifications.models import Notice

from ..services.helpers import case_in_state


def place(actor: Actor, **kwargs: Any) -> LegalHold:
    values: dict[str, Any] = {
        "reason": "Litigation hold: customer sued",
        "legal_reference": "Matter 2026-114",
        "review_date": timezone.localdate() + timedelta(days=90),
        **kwargs,
    }
    return legal_hold_place(actor=actor, **values)


@pytest.mark.django_db
def test_a_lead_places_a_hold_on_an_account_recorded_on_each_of_its_cases(
    account: Account, policies: Any, actors: dict[str, Actor]
) -> None:
    case = case_in_state(account, "suspended")

    hold = place(actors["lead"], account=account)

    assert (hold.account_id, hold.case_id, hold.placed_by, hold.is_active) == (
        account.pk,
        None,
        "lead",
        True,
    )
    event = CaseEvent.objects.filter(case=case).order_by("-seq").first()
    assert event is not None and event.action == "hold_placed"
    assert event.data["hold"] == hold.pk and event.data["on"] == "account"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "kwargs", "error"),
    [
        ("investigator", {}, Forbidden),
        ("lead", {"legal_reference": ""}, MissingInput),
        ("lead", {"review_date": timezone.localdate() - timedelta(days=1)}, InvalidInput),
    ],
)
def test_a_refused_hold_writes_nothing(
    role: str,
    kwargs: dict[str, Any],
    error: type[Exception],
    account: Account,
    policies: Any,
    actors: dict[str, Actor],
) -> None:
    case = case_in_state(account, "flagged")
    events = CaseEvent.objects.filter(case=case).count()

    with pytest.raises(error):
        place(actors[role], case=case, **kwargs)

    assert LegalHold.objects.exists() is False
    assert CaseEvent.objects.filter(case=case).count() == events


@pytest.mark.django_db
def test_a_hold_on_both_or_neither_is_refused(
    account: Account, policies: Any, actors: dict[str, Actor]
) -> None:
    case = case_in_state(account, "flagged")
    with pytest.raises(InvalidInput):
        place(actors["lead"], account=account, case=case)
    with pytest.raises(InvalidInput):
        place(actors["lead"])
    assert LegalHold.objects.exists() is False


@pytest.mark.django_db
def test_a_released_hold_is_kept_and_cannot_be_released_twice(
    account: Account, policies: Any, actors: dict[str, Actor]
) -> None:
    case = case_in_state(account, "flagged")
    hold = place(actors["lead"], case=case)

    released = legal_hold_release(hold=hold, reason="Matter settled", actor=actors["lead"])

    assert released.is_active is False
    assert (released.released_by, released.release_reason) == ("lead", "Matter settled")
    assert LegalHold.objects.filter(pk=hold.pk).exists()
    events = CaseEvent.objects.filter(case=case).count()
    with pytest.raises(HoldReleased):
        legal_hold_release(hold=hold, reason="again", actor=actors["lead"])
    assert CaseEvent.objects.filter(case=case).count() == events
    assert LegalHold.objects.get(pk=hold.pk).release_reason == "Matter settled"


@pytest.mark.django_db
def test_an_investigator_may_not_release_a_hold(
    account: Account, policies: Any, actors: dict[str, Actor]
) -> None:
    hold = place(actors["lead"], account=account)
    with pytest.raises(Forbidden):
        legal_hold_release(hold=hold, reason="no", actor=actors["investigator"])
    assert LegalHold.objects.get(pk=hold.pk).is_active


@pytest.mark.django_db
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE cases_legalhold SET reason = 'forged'",
        "UPDATE cases_legalhold SET review_date = '2020-01-01'",
        "DELETE FROM cases_legalhold",
    ],
)
def test_the_database_refuses_to_change_or_delete_a_hold(
    statement: str, account: Account, actors: dict[str, Actor]
) -> None:
    hold = place(actors["lead"], account=account)

    with pytest.raises(DatabaseError):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)

    assert LegalHold.objects.get(pk=hold.pk).reason == hold.reason


@pytest.mark.django_db
def test_the_database_refuses_to_change_a_release(
    account: Account, actors: dict[str, Actor]
) -> None:
    hold = place(actors["lead"], account=account)
    legal_hold_release(hold=hold, reason="settled", actor=actors["lead"])

    with pytest.raises(DatabaseError):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("UPDATE cases_legalhold SET released_at = NULL")

    assert LegalHold.objects.get(pk=hold.pk).released_at is not None


@pytest.mark.django_db
def test_leads_are_reminded_once_before_a_hold_s_review_date(
    account: Account, actors: dict[str, Actor], users: dict[str, User]
) -> None:
    hold = place(actors["lead"], account=account, review_date=timezone.localdate() + timedelta(30))
    far = deadlines_sweep(now=timezone.now())
    assert (far.hold_reminders, Notice.objects.filter(event="hold.review_reminder").count()) == (
        0,
        0,
    )

    near = timezone.now() + timedelta(days=25)
    first = deadlines_sweep(now=near)
    again = deadlines_sweep(now=near)

    notices = list(Notice.objects.filter(event="hold.review_reminder"))
    assert (first.hold_reminders, again.hold_reminders) == (1, 0)
    assert [n.recipient for n in notices] == [users["lead"].email]
    assert "Matter 2026-114" in notices[0].subject
    assert f"account {account.external_id}" in notices[0].body_text
    assert LegalHold.objects.get(pk=hold.pk).reminded_for == hold.review_date


@pytest.mark.django_db
def test_a_released_hold_is_not_reminded(account: Account, actors: dict[str, Actor]) -> None:
    hold = place(actors["lead"], account=account, review_date=timezone.localdate())
    legal_hold_release(hold=hold, reason="settled", actor=actors["lead"])

    assert deadlines_sweep(now=timezone.now()).hold_reminders == 0
    assert Notice.objects.filter(event="hold.review_reminder").exists() is False
