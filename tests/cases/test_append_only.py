"""The timeline (and other append-only records) cannot be changed through the ORM."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.models import Account
from cases.models import AppendOnlyError, CaseEvent, EnforcementChange, PolicyVersion

from .services.helpers import case_in_state


@pytest.mark.django_db
def test_saving_an_existing_event_raises(account: Account, policies: Any) -> None:
    case = case_in_state(account, "suspended")
    event = CaseEvent.objects.filter(case=case).first()
    assert event is not None
    event.reason = "rewritten"
    with pytest.raises(AppendOnlyError):
        event.save()
    assert CaseEvent.objects.get(pk=event.pk).reason != "rewritten"


@pytest.mark.django_db
def test_deleting_an_event_raises(account: Account, policies: Any) -> None:
    case = case_in_state(account, "suspended")
    event = CaseEvent.objects.filter(case=case).first()
    assert event is not None
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        CaseEvent.objects.filter(case=case).delete()
    with pytest.raises(AppendOnlyError):
        CaseEvent.objects.filter(case=case).update(reason="x")
    assert CaseEvent.objects.filter(case=case).count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize("model", [EnforcementChange, PolicyVersion])
def test_other_records_of_decisions_are_append_only(
    model: Any, account: Account, policies: Any
) -> None:
    case_in_state(account, "suspended")
    row = model.objects.first()
    with pytest.raises(AppendOnlyError):
        row.save()
    with pytest.raises(AppendOnlyError):
        model.objects.all().delete()


@pytest.mark.django_db
def test_each_event_chains_the_previous_hash(account: Account, policies: Any) -> None:
    from cases.audit import EVENT_HASH_FIELDS, event_hash

    case = case_in_state(account, "remediated")
    previous = ""
    for event in CaseEvent.objects.filter(case=case).order_by("seq"):
        assert event.prev_hash == previous
        content = {name: getattr(event, name) for name in EVENT_HASH_FIELDS}
        assert event.hash == event_hash(previous, content)
        previous = event.hash


def test_an_event_written_before_acted_by_was_recorded_keeps_its_hash() -> None:
    from cases.audit import event_hash

    content = {"case_id": 1, "seq": 1, "action": "open", "data": {}}
    assert event_hash("", {**content, "acted_by": ""}) == event_hash("", content)
    assert event_hash("", {**content, "acted_by": "person"}) != event_hash("", content)
