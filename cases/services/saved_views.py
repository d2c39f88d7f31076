"""Saved views of the case list: a staff member saves one under a name and deletes their own.

A saved view is a person's preference, not a change to any case: it touches no case, no
timeline and no outbox, so every staff role may keep some, auditors included. The admin cleans
the query string to what the case list accepts before it comes here
(``cases.admin.saved_views.saved_query_clean``); this module keeps what holds whatever the
caller: a name that is text, unique among the person's views, and bounded sizes.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from core.errors import Forbidden, InvalidInput, MissingInput

from ..errors import SavedViewNameTaken, SavedViewNotFound
from ..workbench_models import SAVED_VIEW_NAME_MAX, SAVED_VIEW_QUERY_MAX, SavedView

SAVED_VIEWS_PER_USER = 50

Person = AbstractBaseUser | AnonymousUser


def _person_id(user: Person) -> int:
    if not isinstance(user, AbstractBaseUser) or not user.is_authenticated:
        raise Forbidden(detail="Only a signed-in person keeps saved views.")
    return int(user.pk)


def saved_view_list(*, user: Person) -> QuerySet[SavedView]:
    """The person's own saved views, by name (none for someone not signed in). The one read
    of saved views: nobody lists another person's."""
    if not isinstance(user, AbstractBaseUser) or not user.is_authenticated:
        return SavedView.objects.none()
    return SavedView.objects.filter(user_id=int(user.pk)).order_by("name")


def _name_clean(name: str) -> str:
    name = " ".join(name.split())  # tabs, newlines and runs of spaces become one space
    if not name:
        raise MissingInput(detail="A saved view needs a name.", missing=["name"])
    if len(name) > SAVED_VIEW_NAME_MAX:
        raise InvalidInput(
            detail=f"A saved view's name is at most {SAVED_VIEW_NAME_MAX} characters.",
            field="name",
        )
    if not name.isprintable():
        raise InvalidInput(detail="A saved view's name cannot hold control characters.")
    return name


def saved_view_create(*, user: Person, name: str, query: str) -> SavedView:
    """Save ``query`` (a cleaned query string of the case list) as ``user``'s view ``name``.

    Refused, with nothing saved, for a blank or overlong name, a name the person uses already
    (in any letter case), an overlong query, or once they have ``SAVED_VIEWS_PER_USER`` views.
    """
    person = _person_id(user)
    name = _name_clean(name)
    if len(query) > SAVED_VIEW_QUERY_MAX:
        raise InvalidInput(
            detail=f"The view's filters and search are longer than {SAVED_VIEW_QUERY_MAX} "
            "characters.",
            field="query",
        )
    mine = SavedView.objects.filter(user_id=person)
    if mine.filter(name__iexact=name).exists():
        raise SavedViewNameTaken(name=name)
    if mine.count() >= SAVED_VIEWS_PER_USER:
        raise InvalidInput(
            detail=f"You have {SAVED_VIEWS_PER_USER} saved views, the most one person keeps: "
            "delete one first."
        )
    try:
        with transaction.atomic():
            return SavedView.objects.create(user_id=person, name=name, query=query)
    except IntegrityError as exc:  # the same name saved at the same moment
        raise SavedViewNameTaken(name=name) from exc


def saved_view_delete(*, user: Person, view_id: int) -> SavedView:
    """Delete ``user``'s saved view ``view_id`` and return it (unsaved now). Another person's
    view is refused as not found: nobody learns that it exists."""
    view = SavedView.objects.filter(user_id=_person_id(user), pk=view_id).first()
    if view is None:
        raise SavedViewNotFound(view_id=view_id)
    view.delete()
    return view
