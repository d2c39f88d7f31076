"""Property tests: random sequences of actions by random roles never leave the table, and the
account's enforcement status always equals the most severe status its cases impose."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group, User
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from accounts.models import Account
from cases.choices import OPEN_STATES, CaseState
from cases.errors import CaseAlreadyOpen
from cases.models import Case, CaseEvent, EnforcementChange, PolicyClause, PolicyVersion
from cases.services import case_open, case_transition
from cases.workflow import ACTIONS, TABLE
from core.actors import Actor
from core.errors import DomainError
from core.roles import role_allows

from .services.helpers import VALID_INPUT

ROLES = ("analyst", "investigator", "lead", "auditor")
IMPOSES = {
    CaseState.SUSPENDED: 1,
    CaseState.INVESTIGATED: 1,
    CaseState.TERMINATED: 2,
}
STATUS = {0: "active", 1: "suspended", 2: "terminated"}

step = st.one_of(
    st.tuples(st.just("open"), st.sampled_from(ROLES), st.just(0)),
    st.tuples(st.sampled_from(ACTIONS), st.sampled_from(ROLES), st.integers(0, 3)),
)


class WorkflowProperties(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        clause = PolicyClause.objects.create(
            code="rate-limit-evasion", title="RLE", current_version=1
        )
        PolicyVersion.objects.create(policy=clause, version=1, title="RLE", text="No evasion.")
        cls.users = {}
        for role in ROLES:
            user = User.objects.create_user(username=role, password=None, is_staff=True)
            user.groups.add(Group.objects.get(name=role))
            cls.users[role] = user

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(steps=st.lists(step, min_size=1, max_size=25))
    def test_random_actions_respect_the_table_and_enforcement(self, steps: list[Any]) -> None:
        account = Account.objects.create(external_id="prop")
        actors = {role: Actor.for_user(user) for role, user in self.users.items()}
        for action, role, pick in steps:
            actor = actors[role]
            cases = list(Case.objects.filter(account=account).order_by("pk"))
            events_before = CaseEvent.objects.count()
            if action == "open":
                try:
                    case_open(account=account, summary="s", actor=actor)
                except CaseAlreadyOpen:
                    assert any(c.state in OPEN_STATES for c in cases)
                except DomainError:
                    assert not role_allows(role, "analyst")
                continue
            if not cases:
                continue
            case = cases[pick % len(cases)]
            before = case.state
            try:
                moved = case_transition(case=case, command=VALID_INPUT[action], actor=actor)
            except DomainError:
                case.refresh_from_db()
                assert case.state == before
                assert CaseEvent.objects.count() == events_before
                transition = TABLE[before].get(action)
                assert transition is None or not role_allows(role, transition.min_role)
            else:
                transition = TABLE[before][action]
                assert role_allows(role, transition.min_role)
                assert moved.state == transition.target
                assert CaseEvent.objects.count() == events_before + 1
            self._check_invariants(account)

    def _check_invariants(self, account: Account) -> None:
        account.refresh_from_db()
        states = list(Case.objects.filter(account=account).values_list("state", flat=True))
        assert sum(s in OPEN_STATES for s in states) <= 1
        worst = max((IMPOSES.get(CaseState(s), 0) for s in states), default=0)
        assert account.enforcement_status == STATUS[worst]
        changes = list(
            EnforcementChange.objects.filter(account=account)
            .order_by("seq")
            .values_list("previous_status", "status")
        )
        # The feed replays to the current status, and every change is a real change.
        replayed = "active"
        for previous, status in changes:
            assert previous == replayed and status != previous
            replayed = status
        assert replayed == account.enforcement_status
