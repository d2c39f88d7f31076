"""Saved views of the case list: each staff member's named filters, search and ordering.

The case list shows the person's views as links above its results, with a form that saves the
list as it is now under a name, and a button on each view that deletes it; the dashboard lists
the same links. A view is stored as a query string cleaned to what the list accepts
(``saved_query_clean``, given the list's parameters by ``cases.admin.case``): the page number,
popups and anything unknown are left out, and a value the list does not know refuses the save.
The writes are ``cases.services.saved_views``; a refusal is a message on the list, never a 500.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from cases.services.saved_views import saved_view_create, saved_view_delete, saved_view_list
from core.errors import DomainError, InvalidInput

# What a parameter of the list accepts: a check of its value.
ListParams = Mapping[str, Callable[[str], bool]]

# A posted query string longer than this is refused unread (a saved one is far shorter).
RAW_QUERY_MAX = 4000
SHOWN_KEYS = 5  # parameters named in a message, at most


@dataclass(frozen=True)
class CleanQuery:
    """A query string of the list, as a saved view keeps it."""

    query: str  # the accepted parameters, in the list's order, URL-encoded
    left_out: list[str]  # parameters a saved view does not keep (the page, popups, unknown)
    invalid: list[str]  # parameters the list accepts, with a value it does not know


@dataclass(frozen=True)
class SavedViewLink:
    name: str
    url: str
    delete_url: str
    current: bool  # the list shows this view now


def saved_query_clean(raw: str, params: ListParams) -> CleanQuery:
    """Keep the parameters of ``raw`` that the list accepts, each with its last value (the one
    the list uses), blank ones dropped, in the order of ``params``."""
    if len(raw) > RAW_QUERY_MAX:
        raise InvalidInput(
            detail=f"The list's query string is longer than {RAW_QUERY_MAX} characters."
        )
    values: dict[str, str] = {}
    left_out: list[str] = []
    for key, value in parse_qsl(raw, keep_blank_values=True):
        if key in params:
            values[key] = value.strip()
        elif key not in left_out:
            left_out.append(key)
    kept = [(key, values[key]) for key in params if values.get(key)]
    invalid = [key for key, value in kept if not params[key](value)]
    return CleanQuery(
        query=urlencode([(k, v) for k, v in kept if k not in invalid]),
        left_out=left_out,
        invalid=invalid,
    )


def _named(keys: list[str]) -> str:
    shown = ", ".join(key[:30] for key in keys[:SHOWN_KEYS])
    return shown + (f" and {len(keys) - SHOWN_KEYS} more" if len(keys) > SHOWN_KEYS else "")


def _list_url(model_admin: admin.ModelAdmin, query: str = "") -> str:
    opts = model_admin.opts
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    return f"{url}?{query}" if query else url


def _back(model_admin: admin.ModelAdmin, request: HttpRequest) -> HttpResponseRedirect:
    """Back to the list the form was posted from (its query string re-encoded, so that
    nothing posted reaches the header as it was typed)."""
    raw = request.POST.get("query", "")[:RAW_QUERY_MAX]
    return HttpResponseRedirect(_list_url(model_admin, urlencode(parse_qsl(raw))))


def _may_read(model_admin: admin.ModelAdmin, request: HttpRequest) -> None:
    if not model_admin.has_view_or_change_permission(request):
        raise PermissionDenied


def saved_views_of(
    model_admin: admin.ModelAdmin, request: HttpRequest, params: ListParams
) -> list[SavedViewLink]:
    """The person's saved views, as links (one query); the one the list shows now marked."""
    current = saved_query_clean(request.GET.urlencode()[:RAW_QUERY_MAX], params).query
    name = f"admin:{model_admin.opts.app_label}_{model_admin.opts.model_name}_saved_view_delete"
    return [
        SavedViewLink(
            name=view.name,
            url=_list_url(model_admin, view.query),
            delete_url=reverse(name, args=[view.pk]),
            current=view.query == current,
        )
        for view in saved_view_list(user=request.user).only("name", "query")
    ]


def saved_view_save(
    model_admin: admin.ModelAdmin, request: HttpRequest, params: ListParams
) -> HttpResponse:
    """Save the list's query string (posted as ``query``) under ``name``; back to the list."""
    _may_read(model_admin, request)
    if request.method != "POST":
        return HttpResponseRedirect(_list_url(model_admin))
    try:
        clean = saved_query_clean(request.POST.get("query", ""), params)
        if clean.invalid:
            raise InvalidInput(
                detail=f"The case list does not know the value of {_named(clean.invalid)}."
            )
        view = saved_view_create(
            user=request.user, name=request.POST.get("name", ""), query=clean.query
        )
    except DomainError as exc:
        messages.error(request, f"No view was saved: {exc.detail}")
        return _back(model_admin, request)
    saved = f'Saved the view "{view.name}".'
    if clean.left_out:
        saved += f" Left out, as a saved view keeps none: {_named(clean.left_out)}."
    messages.success(request, saved)
    return HttpResponseRedirect(_list_url(model_admin, view.query))


def saved_view_remove(
    model_admin: admin.ModelAdmin, request: HttpRequest, view_id: int
) -> HttpResponse:
    """Delete one of the person's saved views; back to the list they were on."""
    _may_read(model_admin, request)
    if request.method != "POST":
        return HttpResponseRedirect(_list_url(model_admin))
    try:
        view = saved_view_delete(user=request.user, view_id=view_id)
    except DomainError as exc:
        messages.error(request, f"No view was deleted: {exc.detail}")
    else:
        messages.success(request, f'Deleted the saved view "{view.name}".')
    return _back(model_admin, request)
