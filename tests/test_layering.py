"""The layering, as a test: only the service modules write domain rows.

Two checks. The source of every product module is read for ORM writes (``save``, ``delete``,
``create``, ``update`` on a queryset, ``bulk_create`` ...): they may only appear in the modules
listed in ``WRITERS``, each with the reason it writes. And every admin of a domain model that
lets even a superuser add, change or delete defines the write as a call (``save_model``,
``delete_model``) and has only read-only inlines: Django's default ``save_model`` would write
the row itself.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.test import RequestFactory

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("accounts", "cases", "notifications", "config")
DOMAIN_APPS = {"accounts", "cases", "notifications"}

# Modules that write domain rows besides ``services`` (a module or a package), and why.
WRITERS = {
    "cases/intake/__init__.py": "signal intake: the service that stores a batch of signals",
    "cases/intake/rules.py": "signal intake: incidents made by the flag rules",
    "cases/intake/storage.py": "signal intake: the COPY and insert of a batch",
    "cases/deadlines.py": "the deadline sweep: reminders and escalations",
    "notifications/delivery.py": "the outbox sender: claims, attempts and outcomes of notices",
    "notifications/tasks.py": "the outbox's queue bookkeeping (queued_at)",
    "accounts/idempotency.py": "Idempotency-Key records of API requests",
    "cases/models.py": "the append-only guards call Model.save/delete of their base",
    "cases/management/commands/seed_demo.py": "the demo's data, for a local run only",
    "cases/management/commands/setup_periodic_tasks.py": "the beat schedule's rows",
}

# Methods that write whatever they are called on.
ALWAYS_WRITES = {
    "save",
    "delete",
    "create",
    "get_or_create",
    "update_or_create",
    "bulk_create",
    "bulk_update",
    "create_user",
    "create_superuser",
}
# Methods that write when called on a manager or a queryset (``dict.update`` does not).
QUERYSET_WRITES = {"update", "add", "remove", "set", "clear"}
# Methods of a related manager (``case.policies.add``); on a plain name they are a set's.
RELATED_WRITES = {"add", "remove", "set", "clear"}
QUERYSET_METHODS = {
    "objects",
    "all",
    "filter",
    "exclude",
    "select_for_update",
    "select_related",
    "prefetch_related",
    "order_by",
    "get_queryset",
    "using",
}


def is_allowed(relative: str) -> bool:
    parts = relative.split("/")
    return (
        "migrations" in parts
        or "services" in parts
        or parts[-1] == "services.py"
        or relative in WRITERS
    )


def queryset_like(node: ast.expr, querysets: set[str]) -> bool:
    """Whether ``node`` reads as a manager or a queryset: ``X.objects...``, ``qs.filter(...)``,
    ``account.channels.all()``, or a name annotated ``QuerySet``."""
    while True:
        if isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Attribute):
            if node.attr in QUERYSET_METHODS:
                return True
            node = node.value
        elif isinstance(node, ast.Name):
            return node.id in querysets or node.id in ("queryset", "qs")
        else:
            return False


def annotated_querysets(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.arg) and node.annotation is not None:
            if "QuerySet" in ast.unparse(node.annotation):
                names.add(node.arg)
    return names


def writes_in(source: str) -> list[tuple[int, str]]:
    tree = ast.parse(source)
    querysets = annotated_querysets(tree)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        method = node.func.attr
        receiver = node.func.value
        related = (
            method in RELATED_WRITES
            and isinstance(receiver, ast.Attribute)
            and not (isinstance(receiver.value, ast.Name) and receiver.value.id == "self")
        )
        if (
            method in ALWAYS_WRITES
            or related
            or (method in QUERYSET_WRITES and queryset_like(receiver, querysets))
        ):
            found.append((node.lineno, ast.unparse(node.func)))
    found.sort()
    return found


def product_modules() -> list[Path]:
    return sorted(p for app in PRODUCT for p in (ROOT / app).rglob("*.py"))


def test_the_check_finds_each_kind_of_write() -> None:
    source = """
def f(queryset: QuerySet[Case], case, data):
    Case.objects.create(x=1)
    Case.objects.filter(pk=1).update(state="x")
    queryset.update(state="x")
    case.save()
    case.delete()
    Signal.objects.bulk_create([])
    account.channels.all().delete()
    account.partners.set([])
    data.update(x=1)
    context.update(case=case)
    seen.add(1)
    self.pending.add(1)
"""
    assert [call for _, call in writes_in(source)] == [
        "Case.objects.create",
        "Case.objects.filter(pk=1).update",
        "queryset.update",
        "case.save",
        "case.delete",
        "Signal.objects.bulk_create",
        "account.channels.all().delete",
        "account.partners.set",
    ]


def test_only_the_service_modules_write_domain_rows() -> None:
    offences = []
    for path in product_modules():
        relative = path.relative_to(ROOT).as_posix()
        if is_allowed(relative):
            continue
        for line, call in writes_in(path.read_text()):
            offences.append(f"{relative}:{line}: {call}(...)")
    assert offences == [], "writes outside the services:\n" + "\n".join(offences)


def test_every_listed_writer_exists() -> None:
    assert [w for w in WRITERS if not (ROOT / w).is_file()] == []


def defines(model_admin: Any, name: str) -> bool:
    """Whether the project (not Django) defines this method of an admin."""
    method = getattr(type(model_admin), name)
    module = getattr(method, "__module__", "") or ""
    return not module.startswith("django.")


@pytest.fixture
def superuser_request(db: Any) -> Any:
    request = RequestFactory().get("/admin/")
    request.user = User.objects.create_superuser("root", "root@tns.example", "pw-root")
    return request


def domain_admins() -> list[Any]:
    return [
        model_admin
        for model, model_admin in admin.site._registry.items()
        if model._meta.app_label in DOMAIN_APPS
    ]


def test_the_admins_write_through_services(superuser_request: Any) -> None:
    offences = []
    for model_admin in domain_admins():
        name = type(model_admin).__name__
        if model_admin.has_add_permission(superuser_request) and not (
            defines(model_admin, "save_model") or defines(model_admin, "add_view")
        ):
            offences.append(f"{name}: adds rows with Django's save_model")
        if model_admin.has_change_permission(superuser_request) and not (
            defines(model_admin, "save_model") and defines(model_admin, "save_related")
        ):
            offences.append(f"{name}: changes rows with Django's save_model/save_related")
        if model_admin.has_delete_permission(superuser_request) and not (
            defines(model_admin, "delete_model") and defines(model_admin, "delete_queryset")
        ):
            offences.append(f"{name}: deletes rows with Django's delete_model/delete_queryset")
        for inline in model_admin.get_inline_instances(superuser_request):
            if (
                inline.has_add_permission(superuser_request, None)
                or inline.has_change_permission(superuser_request, None)
                or inline.has_delete_permission(superuser_request, None)
            ):
                offences.append(f"{name}: {type(inline).__name__} is an editable inline")
    assert offences == [], "\n".join(offences)
