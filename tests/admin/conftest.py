"""Cases for admin tests, built through the services exactly as staff would build them."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from accounts.models import Account
from cases.actions import Command, Dismiss, Investigate, Remediate, Suspend, Terminate
from cases.models import Case, PolicyClause
from cases.services import case_open, case_transition
from core.actors import Actor

POLICY = "competing-model-development"

# The path from flagged to each state: (action, role that takes it, input).
SUSPEND = Suspend(reason="abuse", policies=[POLICY])
INVESTIGATE = Investigate(findings="it happened", violation_confirmed=True)
PATHS: dict[str, list[tuple[Command, str]]] = {
    "flagged": [],
    "suspended": [(SUSPEND, "analyst")],
    "investigated": [(SUSPEND, "analyst"), (INVESTIGATE, "investigator")],
    "remediated": [
        (SUSPEND, "analyst"),
        (INVESTIGATE, "investigator"),
        (Remediate(verification_note="checked"), "investigator"),
    ],
    "terminated": [
        (SUSPEND, "analyst"),
        (INVESTIGATE, "investigator"),
        (Terminate(rationale="repeated"), "lead"),
    ],
    "dismissed": [(Dismiss(reason="false alarm"), "analyst")],
}

MakeCase = Callable[..., Case]


@pytest.fixture(autouse=True)
def fast_passwords(settings: Any) -> None:
    """The personas' passwords need no slow hashing in tests."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def make_case(db: Any, actors: dict[str, Actor], policies: dict[str, PolicyClause]) -> MakeCase:
    counter = itertools.count(1)

    def make(
        state: str = "flagged",
        *,
        priority: str = "medium",
        external_id: str | None = None,
        overdue: bool = False,
    ) -> Case:
        n = next(counter)
        account = Account.objects.create(
            external_id=external_id or f"acct-{n:04d}",
            name=f"Account {n}",
            contacts=[f"ops{n}@example.test"],
        )
        case = case_open(
            account=account, summary=f"report {n}", actor=actors["analyst"], priority=priority
        )
        for command, role in PATHS[state]:
            case = case_transition(case=case, command=command, actor=actors[role])
        if overdue:
            # Only a test may move a deadline into the past; nothing else writes a case.
            Case.objects.filter(pk=case.pk).update(
                review_deadline=timezone.now() - timedelta(hours=3)
            )
            case.refresh_from_db()
        return case

    return make


@pytest.fixture
def login(client: Client, users: dict[str, User]) -> Callable[[str], Client]:
    def as_role(role: str) -> Client:
        client.force_login(users[role])
        return client

    return as_role


def change_url(case: Case) -> str:
    return f"/admin/cases/case/{case.pk}/change/"


def transition_url(case: Case, action: str) -> str:
    return f"/admin/cases/case/{case.pk}/transition/{action}/"


def messages_of(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []
