"""canned_reason_save and canned_reason_deactivate: what they check, stamp and refuse."""

from __future__ import annotations

from typing import Any

import pytest

from cases.models import CannedReason
from cases.services import canned_reason_deactivate, canned_reason_save
from core.actors import Actor
from core.errors import InvalidInput


def save(actor: Actor, **changes: Any) -> CannedReason:
    fields: dict[str, Any] = {
        "canned_reason": None,
        "title": "  False alarm ",
        "text": " The signals were a false alarm. ",
        "actions": ["dismiss", "suspend", "dismiss"],
        "active": True,
        **changes,
    }
    return canned_reason_save(actor=actor, **fields)


def test_saving_trims_the_text_and_orders_the_actions_as_the_workflow(
    actors: dict[str, Actor], users: dict[str, Any]
) -> None:
    saved = save(actors["lead"])

    assert (saved.title, saved.text) == ("False alarm", "The signals were a false alarm.")
    assert saved.actions == ["suspend", "dismiss"]
    assert saved.updated_by == users["lead"]


def test_a_change_stamps_who_made_it_and_keeps_the_creation_time(
    actors: dict[str, Actor], users: dict[str, Any]
) -> None:
    first = save(actors["system"])

    changed = save(actors["lead"], canned_reason=first.pk, text="New words.", active=False)

    assert first.updated_by is None
    assert changed.pk == first.pk
    assert (changed.text, changed.active) == ("New words.", False)
    assert changed.created_at == first.created_at
    assert changed.updated_at >= first.updated_at
    assert changed.updated_by == users["lead"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"title": " "}, "title"),
        ({"title": "x" * 101}, "title"),
        ({"text": ""}, "text"),
        ({"actions": []}, "actions"),
        ({"actions": ["suspend", "reinstate"]}, "actions"),
        ({"actions": "suspend,dismiss"}, "actions"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(
    actors: dict[str, Actor], changes: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        save(actors["lead"], **changes)

    assert refused.value.fields["field"] == field
    assert CannedReason.objects.exists() is False


def test_a_title_taken_by_another_reason_is_refused(actors: dict[str, Actor]) -> None:
    save(actors["lead"])
    other = save(actors["lead"], title="Scraping")

    with pytest.raises(InvalidInput, match="Another canned reason is titled 'False alarm'"):
        save(actors["lead"], canned_reason=other, title="False alarm")

    assert CannedReason.objects.get(pk=other.pk).title == "Scraping"


def test_deactivating_says_whether_it_was_active(actors: dict[str, Actor]) -> None:
    reason = save(actors["lead"])

    first = canned_reason_deactivate(canned_reason=reason, actor=actors["lead"])
    again = canned_reason_deactivate(canned_reason=reason.pk, actor=actors["lead"])

    assert (first, again) == (True, False)
    assert CannedReason.objects.get(pk=reason.pk).active is False
