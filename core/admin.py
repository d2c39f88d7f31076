"""Pieces shared by the admins of every app: role checks, read-only admins, admins that write
through services, and cheap paging. ``core`` registers no model of its own."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.db import connections, models
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.utils.functional import cached_property

from .actors import user_role
from .errors import DomainError, MissingInput
from .roles import Role, role_allows

# Above this many rows (by the planner's estimate) an unfiltered list shows the estimate
# instead of counting every row.
ESTIMATE_ABOVE = 50_000


def request_role(request: HttpRequest) -> str | None:
    return user_role(getattr(request, "user", None))


def reads_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A page that only shows something: GET and HEAD, any other method a 405 that changes
    nothing (a form that would write posts to a URL of its own)."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> HttpResponse:
        request = next(a for a in args if isinstance(a, HttpRequest))
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET", "HEAD"])
        return view(*args, **kwargs)

    return wrapper


def is_lead(request: HttpRequest) -> bool:
    return role_allows(request_role(request), Role.LEAD)


def may_act(request: HttpRequest) -> bool:
    """Analysts and up act on cases; auditors (and staff without a role) only look."""
    return role_allows(request_role(request), Role.ANALYST)


# Input names that several services use, in the words staff read.
INPUT_WORDS = {"ends_at": "the end of the restriction"}


def input_in_words(name: str, words: Mapping[str, str] | None = None) -> str:
    """A service's input name (``remediation.deadline``) as staff read it: the admin's own
    word for it when it has one, else the name spelled out ("the remediation deadline")."""
    if words and name in words:
        return words[name]
    if name in INPUT_WORDS:
        return INPUT_WORDS[name]
    return "the " + name.replace(".", " ").replace("_", " ")


def refusal_in_words(exc: DomainError, words: Mapping[str, str] | None = None) -> str:
    """A service's refusal as staff read it: the inputs it names (``'ends_at'``, written for
    API callers) in words, values it quotes left as they are."""
    if isinstance(exc, MissingInput):
        missing = [input_in_words(name, words) for name in exc.fields.get("missing", [])]
        return f"Give {' and '.join(missing)}."
    names = {str(exc.fields["field"])} if exc.fields.get("field") else set()
    names |= set(words or ())
    detail = re.sub(
        r"'([\w.]+)'",
        lambda m: input_in_words(m[1], words) if m[1] in names else m[0],
        exc.detail,
    )
    return detail[:1].upper() + detail[1:]


class EstimatedCountPaginator(Paginator):
    """A paginator that does not count a huge table row by row.

    A filtered list (a queue) is counted exactly: the queue filters are indexed. An unfiltered
    list of a large PostgreSQL table uses the planner's row estimate (``pg_class.reltuples``),
    which costs one catalogue read instead of a scan.
    """

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if isinstance(queryset, QuerySet) and not queryset.query.where:
            connection = connections[queryset.db]
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)",
                        [queryset.model._meta.db_table],
                    )
                    row = cursor.fetchone()
                if row is not None and row[0] is not None and row[0] > ESTIMATE_ABOVE:
                    return int(row[0])
        return int(super().count)


def choices_filter(
    field: str, title: str, choices: Sequence[tuple[str, str]]
) -> type[admin.SimpleListFilter]:
    """A list filter over known values.

    Django's default filter for a plain text field lists the values by ``SELECT DISTINCT``
    over the whole table, which is a full scan of a big one; this one lists fixed choices.
    """

    def lookups(self: Any, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return list(choices)

    def queryset(self: Any, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset.filter(**{field: value}) if value else queryset

    return type(
        f"{field.title()}Filter",
        (admin.SimpleListFilter,),
        {"title": title, "parameter_name": field, "lookups": lookups, "queryset": queryset},
    )


class FastAdmin(admin.ModelAdmin):
    """List pages that stay quick on big tables: no second full count, cheap paging."""

    show_full_result_count = False
    paginator = EstimatedCountPaginator
    show_facets = admin.ShowFacets.NEVER


class ServiceWritesAdmin(FastAdmin):
    """An admin whose every write is a service call.

    A subclass that may add or change rows defines ``save_model`` as a call to its service
    (and copies the saved row back with :meth:`adopt`); one that may delete defines
    ``delete_model``, which the bulk delete uses too. ``save_related`` saves nothing: the
    service wrote the row and its relations, and inlines are read-only. A refusal the form
    could not foresee (a URL that stopped resolving, a role taken away) becomes an error
    message and nothing is saved.
    """

    @staticmethod
    def adopt(obj: models.Model, saved: models.Model) -> None:
        """Give the admin's unsaved object the saved row's values (for its log and redirect)."""
        for field in saved._meta.concrete_fields:
            setattr(obj, field.attname, getattr(saved, field.attname))
        obj._state.adding = False
        obj._state.db = saved._state.db

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        for formset in formsets:  # read-only inlines: nothing to save, nothing to report
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for obj in queryset:
            self.delete_model(request, obj)

    def _refused(self, request: HttpRequest, exc: DomainError) -> HttpResponse:
        self.message_user(request, f"Nothing was saved: {refusal_in_words(exc)}", messages.ERROR)
        return HttpResponseRedirect(request.get_full_path())

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        try:  # the admin's transaction is rolled back before this handler runs
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as exc:
            return self._refused(request, exc)

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        try:
            return super().delete_view(request, object_id, extra_context)
        except DomainError as exc:
            return self._refused(request, exc)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        try:
            return super().changelist_view(request, extra_context)
        except DomainError as exc:
            return self._refused(request, exc)


class ReadOnlyAdmin(FastAdmin):
    """Everyone with view permission reads; nobody adds, changes or deletes here."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class LeadEditsAdmin(FastAdmin):
    """Editable by leads only, on top of the model permissions their group holds."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return is_lead(request) and super().has_add_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_lead(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_lead(request) and super().has_delete_permission(request, obj)


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
