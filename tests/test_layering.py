"""The layering, as a test: ``core`` is the one foundation, and only the service modules write
domain rows.

The imports of ``core``, ``accounts`` and ``notifications`` are read: ``core`` imports no other
package of the project, and the other two take what every app shares (errors, actors, roles,
admin base classes) from ``core``, importing from ``cases`` only the domain data listed in
``CASES_IMPORTS``.

Then two checks of writes. The source of every product module is read for ORM writes (``save``,
``delete``, ``create``, ``update`` on a queryset, ``bulk_create`` ...): they may only appear in
the modules listed in ``WRITERS``, each with the reason it writes. And every admin of a domain
model that lets even a superuser add, change or delete defines the write as a call
(``save_model``, ``delete_model``) and has only read-only inlines: Django's default
``save_model`` would write the row itself.
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
PRODUCT = ("core", "accounts", "cases", "notifications", "config")
DOMAIN_APPS = {"accounts", "cases", "notifications"}

# Modules that write domain rows besides ``services`` (a module or a package), and why.
WRITERS = {
    "cases/intake/__init__.py": "signal intake: the service that stores a batch of signals",
    "cases/intake/rules.py": "signal intake: incidents made by the flag rules",
    "cases/intake/storage.py": "signal intake: the COPY and insert of a batch",
    "cases/deadlines.py": "the deadline sweep: reminders and escalations",
    "cases/evasion.py": "ban evasion: links marked false positive and their timeline events",
    "cases/partner_followup.py": "the partners' follow-up: its steps stamped on propagations",
    "cases/hold_followup.py": "legal holds' review reminders, stamped on the holds",
    "notifications/delivery.py": "the outbox sender: claims, attempts and outcomes of notices",
    "notifications/tasks.py": "the outbox's queue bookkeeping (queued_at)",
    "notifications/propagations.py": "partners follow suit: propagations, their acks and reports",
    "accounts/idempotency.py": "Idempotency-Key records of API requests",
    "cases/evidence_store.py": "evidence content, written once to its storage (no rows)",
    "cases/models.py": "the append-only guards call Model.save/delete of their base",
    "cases/management/commands/seed_demo.py": "the demo's data, for a local run only",
    "cases/management/commands/setup_periodic_tasks.py": "the beat schedule's rows",
    "core/migration_grants.py": "the role groups' permissions, given by migrations adding models",
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


def product_modules(root: Path = ROOT) -> list[Path]:
    return sorted(p for app in PRODUCT for p in (root / app).rglob("*.py"))


def write_offences(root: Path = ROOT) -> list[str]:
    """Each ORM write of the product code under ``root`` outside the modules allowed to write."""
    offences = []
    for path in product_modules(root):
        relative = path.relative_to(root).as_posix()
        if is_allowed(relative):
            continue
        for line, call in writes_in(path.read_text()):
            offences.append(f"{relative}:{line}: {call}(...)")
    return offences


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
    offences = write_offences()
    assert offences == [], "writes outside the services:\n" + "\n".join(offences)


PLANTED_VIEW = """
from rest_framework.views import APIView

from cases.models import Case


class CaseCloseView(APIView):
    def post(self, request, pk):
        Case.objects.filter(pk=pk).update(state="dismissed")
        return Response(status=204)
"""


def test_a_write_planted_in_a_view_is_reported(tmp_path: Path) -> None:
    """The check run over a copy of the layout: the same write is fine in a service module and
    reported in a view, in an admin and in ``core``; the real tree is not needed to fail."""
    planted = {
        "cases/api/views.py": PLANTED_VIEW,
        "notifications/admin.py": PLANTED_VIEW,
        "core/admin.py": PLANTED_VIEW,
        "cases/services/transitions.py": PLANTED_VIEW,
        "accounts/services.py": PLANTED_VIEW,
        "cases/migrations/0099_data.py": PLANTED_VIEW,
    }
    for relative, source in planted.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(source)
    call = "Case.objects.filter(pk=pk).update(...)"
    assert write_offences(tmp_path) == [
        f"cases/api/views.py:9: {call}",
        f"core/admin.py:9: {call}",
        f"notifications/admin.py:9: {call}",
    ]


def test_every_listed_writer_exists() -> None:
    assert [w for w in WRITERS if not (ROOT / w).is_file()] == []


PROJECT = ("core", "accounts", "cases", "notifications", "config")

# What ``accounts`` and ``notifications`` import from ``cases``, and why; nothing else of it.
CASES_IMPORTS = {
    ("accounts", "cases.models"): "an account's admin reads its cases (Case) and legal holds",
    ("accounts", "cases.choices"): "the account admin counts open cases (OPEN_STATES)",
    ("accounts", "cases.selectors"): "the enforcement and account reads query cases",
    ("accounts", "cases.gateway_reads"): "the gateway's check, snapshot and feed polls",
    ("accounts", "cases.admin.decisions"): "the account page shows its decisions and restrictions",
    (
        "accounts",
        "cases.evasion",
    ): "PUT /accounts matches new identifiers; GET .../links reads links",
    ("notifications", "cases.models"): "notices are about cases, their events and changes",
    ("notifications", "cases.choices"): "events, states and priorities name what a notice tells",
    ("notifications", "cases.guards"): "migrations install the append-only guards of sent notices",
}


def imported_modules(path: Path, root: Path = ROOT) -> set[str]:
    """Every module ``path`` imports (at any depth, ``TYPE_CHECKING`` blocks included), as a
    dotted name; ``from cases import models`` counts as ``cases.models``."""
    package = list(path.relative_to(root).with_suffix("").parts[:-1])
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            for alias in node.names:
                sub = root.joinpath(*module.split("."), alias.name)
                is_module = sub.with_suffix(".py").is_file() or sub.is_dir()
                found.add(f"{module}.{alias.name}" if is_module else module)
    return found


def project_imports(app: str, root: Path = ROOT) -> set[tuple[str, str]]:
    """``(file, module)`` for each import by ``app`` of another package of the project."""
    return {
        (path.relative_to(root).as_posix(), module)
        for path in sorted((root / app).rglob("*.py"))
        for module in imported_modules(path, root)
        if module.split(".")[0] in PROJECT and module.split(".")[0] != app
    }


def test_core_imports_no_other_package_of_the_project() -> None:
    assert project_imports("core") == set()


@pytest.mark.parametrize("app", ["accounts", "notifications"])
def test_shared_things_come_from_core_not_cases(app: str) -> None:
    offences = sorted(
        f"{file}: {module}"
        for file, module in project_imports(app)
        if module.split(".")[0] == "cases" and (app, module) not in CASES_IMPORTS
    )
    assert offences == [], "import these from core, or list why in CASES_IMPORTS:\n" + "\n".join(
        offences
    )


def test_every_listed_cases_import_is_used() -> None:
    used = {(app, m) for app in ("accounts", "notifications") for _, m in project_imports(app)}
    assert [pair for pair in CASES_IMPORTS if pair not in used] == []


def test_the_import_check_finds_a_shared_thing_taken_from_cases(tmp_path: Path) -> None:
    (tmp_path / "notifications" / "api").mkdir(parents=True)
    (tmp_path / "cases").mkdir()
    (tmp_path / "cases" / "admin").mkdir()
    for name in ("errors.py", "models.py", "actors.py"):
        (tmp_path / "cases" / name).write_text("")
    (tmp_path / "notifications" / "api" / "views.py").write_text(
        "from cases.errors import CaseError\n"
        "from cases import models\n"
        "from ..errors import NoticeNotFound\n"
        "def f():\n"
        "    import cases.actors\n"
    )
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "roles.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from cases.admin import base\n"
    )
    assert project_imports("notifications", tmp_path) == {
        ("notifications/api/views.py", "cases.errors"),
        ("notifications/api/views.py", "cases.models"),
        ("notifications/api/views.py", "cases.actors"),
    }
    assert project_imports("core", tmp_path) == {("core/roles.py", "cases.admin")}


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
