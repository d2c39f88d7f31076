"""Every API operation and admin action against every principal, checked against the table in
``authorization_matrix.py``: no unexpected success, and no unexpected refusal either."""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from accounts.models import (
    Account,
    AccountLinkDismissal,
    Channel,
    CommonDomain,
    IdentifierKindSetting,
    Partner,
)
from accounts.services import api_client_create, api_client_revoke
from cases.actions import AppealFile, Investigate, RemediationPlan, Suspend, Terminate
from cases.models import (
    Appeal,
    ApprovalRequest,
    Case,
    CaseNote,
    Decision,
    EnforcementChange,
    EvidenceReference,
    RemediationItem,
    ReviewDeadlineRule,
)
from cases.services import (
    appeal_file,
    approval_propose,
    case_assign,
    case_open,
    case_transition,
)
from cases.services.evidence import EvidenceUpload, evidence_item_add
from core.actors import Actor
from notifications.models import Notice
from tests.conftest import make_user

from .authorization_matrix import ADMIN, API, PRINCIPALS, PUBLIC, SCOPES

_n = itertools.count(1)
POLICY = "competing-model-development"


# --- principals -------------------------------------------------------------------------------


def principal_client(name: str, users: dict[str, User]) -> tuple[Client, dict[str, str]]:
    client = Client(raise_request_exception=False)
    if name == "anonymous":
        return client, {}
    if name == "revoked":
        scopes = [s for s in SCOPES if not s.startswith("partner:")]
        _, key = api_client_create(name="revoked", scopes=scopes, role="lead")
        api_client_revoke(name="revoked")
        return client, {"Authorization": f"Bearer {key}"}
    if name.startswith("key:partner:"):
        Partner.objects.get_or_create(code="cloudco", defaults={"name": "CloudCo"})
        _, key = api_client_create(name=f"k-{next(_n)}", scopes=[name[4:]], partner="cloudco")
        return client, {"Authorization": f"Bearer {key}"}
    if name.startswith("key:"):
        _, key = api_client_create(name=f"k-{next(_n)}", scopes=[name[4:]], role="lead")
        return client, {"Authorization": f"Bearer {key}"}
    if name == "norole":
        user = User.objects.create_user(username="norole", password=None, is_staff=True)
    else:
        user = users[name]
    client.force_login(user)
    return client, {}


# --- API --------------------------------------------------------------------------------------


def actor() -> Actor:
    return Actor.system("matrix")


def new_case(state: str = "flagged", *, plan: bool = True) -> Case:
    account = Account.objects.create(external_id=f"m-{next(_n)}", contacts=["x@m.test"])
    case = case_open(account=account, summary="matrix", actor=actor())
    if state in ("suspended", "investigated"):
        case = case_transition(
            case=case, command=Suspend(reason="r", policies=[POLICY]), actor=actor()
        )
    if state == "investigated":
        case = case_transition(
            case=case,
            command=Investigate(
                findings="f",
                violation_confirmed=True,
                remediation=RemediationPlan(items=["fix it"], deadline_days=5) if plan else None,
            ),
            actor=actor(),
        )
    return case


def pending_approval() -> ApprovalRequest:
    """A termination proposed by a lead who is none of the principals."""
    proposer = Actor.for_user(make_user("lead", f"proposer-{next(_n)}"))
    return approval_propose(
        case=new_case("investigated"), command=Terminate(rationale="repeated"), actor=proposer
    )


def new_appeal() -> Appeal:
    """An open appeal of a suspension that a staff member outside the personas decided."""
    decider, _ = User.objects.get_or_create(username="matrix-decider", is_staff=True)
    decider.groups.add(Group.objects.get_or_create(name="lead")[0])
    account = Account.objects.create(external_id=f"m-{next(_n)}", contacts=["x@m.test"])
    case = case_open(account=account, summary="matrix", actor=actor())
    case_transition(
        case=case, command=Suspend(reason="r", policies=[POLICY]), actor=Actor.for_user(decider)
    )
    return appeal_file(
        decision=Decision.objects.get(case=case, kind="suspend"),
        command=AppealFile(reason="wrong", submitted_by="cto@m.test"),
        actor=actor(),
    )


def api_request(operation: str) -> tuple[str, str, Any]:
    method, template = operation.split(" ", 1)
    case = new_case()
    planned = new_case("investigated")
    appeal = new_appeal() if "{appeal}" in template else None
    item = RemediationItem.objects.filter(plan__case=planned).first()
    assert item is not None
    cloudco, _ = Partner.objects.get_or_create(code="cloudco", defaults={"name": "CloudCo"})
    change = None
    if "{change}" in template:
        through = Account.objects.create(external_id=f"m-{next(_n)}")
        Channel.objects.create(account=through, partner=cloudco)
        suspended = case_transition(
            case=case_open(account=through, summary="matrix", actor=actor()),
            command=Suspend(reason="r", policies=[POLICY]),
            actor=actor(),
        )
        change = EnforcementChange.objects.get(case=suspended).seq
    evidence = None
    if "{evidence}" in template:
        evidence = evidence_item_add(
            case=case.pk,
            upload=EvidenceUpload(content=io.BytesIO(b"log"), name="log.txt"),
            actor=actor(),
        ).pk
    path = template.format(
        evidence=evidence,
        rest="v1/chat/completions",
        change=change,
        account=case.account.external_id,
        partner="cloudco",
        case=case.pk,
        planned=planned.pk,
        item=item.pk,
        appeal=appeal.pk if appeal is not None else 0,
        decision=Decision.objects.filter(case=planned).values_list("reference", flat=True)[0],
        approval=pending_approval().pk if "{approval}" in template else 0,
    )
    bodies: dict[str, Any] = {
        "PUT /accounts/{account}": {"name": "Renamed"},
        "PUT /partners/{partner}": {"name": "CloudCo"},
        "POST /signals": {
            "signals": [
                {
                    "account": "fresh-acct",
                    "kind": "prompt_volume",
                    "severity": "low",
                    "occurred_at": timezone.now().isoformat(),
                    "source": "matrix",
                    "dedupe_key": f"d-{next(_n)}",
                }
            ]
        },
        "POST /cases": {"account": f"open-{next(_n)}", "summary": "press report"},
        "POST /cases/{case}/transitions": {"action": "dismiss", "reason": "false alarm"},
        "POST /cases/{planned}/plan/items/{item}/verify": {"note": "checked"},
        "POST /approvals/{approval}/approve": {"comment": "agreed"},
        "POST /approvals/{approval}/reject": {"comment": "not yet"},
        "POST /enforcement/check": {"accounts": [case.account.external_id]},
        "POST /decisions/{decision}/appeals": {"reason": "wrong", "submitted_by": "cto"},
        "POST /appeals/{appeal}/review": {},
        "POST /appeals/{appeal}/decide": {"outcome": "upheld", "reason": "confirmed"},
        "POST /appeals/{appeal}/withdraw": {},
        "POST /partner/changes/{change}/acknowledge": {},
        "POST /partner/changes/{change}/report": {"outcome": "applied", "reference": "CC-1"},
    }
    if operation == "POST /cases":
        Account.objects.create(external_id=bodies["POST /cases"]["account"])
    return method, "/api/v1" + path, bodies.get(operation)


@pytest.mark.django_db
@pytest.mark.parametrize("principal", PRINCIPALS)
@pytest.mark.parametrize("operation", list(API))
def test_api_operation_allows_exactly_the_expected_principals(
    operation: str, principal: str, users: dict[str, User], policies: Any
) -> None:
    client, headers = principal_client(principal, users)
    method, path, body = api_request(operation)
    if "/gateway/authz" in operation:
        # A gateway sends its key in x-tns-key: the customer's Authorization is forwarded.
        bearer = headers.pop("Authorization", "")
        headers = {"x-account-id": "m-1", "x-tns-key": bearer.removeprefix("Bearer ")}
    if method == "GET":
        response = client.get(path, headers=headers)
    elif operation == "POST /cases/{case}/evidence":
        upload = SimpleUploadedFile("log.txt", b"request log", content_type="text/plain")
        response = client.post(path, {"file": upload}, headers=headers)
    else:
        response = getattr(client, method.lower())(
            path, body, content_type="application/json", headers=headers
        )
    assert response.status_code < 500, response.content
    allowed = response.status_code not in (401, 403)
    expected = principal in API[operation]
    assert allowed == expected, (
        f"{operation} by {principal}: {response.status_code} {response.content[:300]!r}"
    )


@pytest.mark.django_db
@pytest.mark.parametrize("path", [p.split(" ", 1)[1] for p in PUBLIC])
def test_public_paths_need_no_credentials(path: str) -> None:
    response = Client(raise_request_exception=False).get(path)
    assert response.status_code in (200, 503)  # readyz answers 503 when a dependency is down


def test_the_table_covers_every_operation_in_the_schema(db: Any) -> None:
    schema = Client().get("/api/v1/schema", headers={"Accept": "application/json"})
    from yaml import safe_load

    document = safe_load(schema.content)
    found = set()
    for path, item in document["paths"].items():
        if path in ("/api/v1/schema", "/api/v1/docs"):
            continue
        for method in item:
            if method in ("get", "post", "put", "patch", "delete"):
                found.add((method.upper(), path.removeprefix("/api/v1")))
    documented = {(op.split(" ", 1)[0], op.split(" ", 1)[1]) for op in API}

    def shape(path: str) -> str:
        import re

        return re.sub(r"\{[^}]+\}", "{}", path)

    assert {(m, shape(p)) for m, p in found} == {(m, shape(p)) for m, p in documented}


# --- admin ------------------------------------------------------------------------------------


def admin_case_url(case: Case, rest: str = "change/") -> str:
    return f"/admin/cases/case/{case.pk}/{rest}"


def _post_effect(
    setup: Callable[[], Any],
    url: Callable[[Any], str],
    data: Callable[[Any], dict[str, Any]],
    effect: Callable[[Any], bool],
) -> Callable[[Client], bool]:
    def run(client: Client) -> bool:
        target = setup()
        client.post(url(target), data(target))
        return effect(target)

    return run


def _get_ok(url: str, marker: bytes | None = None) -> Callable[[Client], bool]:
    def run(client: Client) -> bool:
        response = client.get(url)
        if response.status_code != 200:
            return False
        return marker is None or marker in response.content

    return run


def _state_after(case: Case) -> str:
    case.refresh_from_db()
    return case.state


def _transition(
    state: str, action: str, data: dict[str, Any], target: str
) -> Callable[[Client], bool]:
    return _post_effect(
        lambda: new_case(state, plan=False),
        lambda c: admin_case_url(c, f"transition/{action}/"),
        lambda c: {"expected_state": state, **data},
        lambda c: _state_after(c) == target,
    )


def _linked_pair() -> tuple[Account, Account]:
    low = Account.objects.create(external_id=f"low-{next(_n)}")
    high = Account.objects.create(external_id=f"high-{next(_n)}")
    return low, high


def _failed_notice() -> Notice:
    case = new_case()
    return Notice.objects.create(
        case=case,
        account=case.account,
        channel="email",
        event="suspension",
        recipient="x@m.test",
        subject="s",
        body_text="b",
        status="failed",
    )


def admin_probe(name: str, users: dict[str, User]) -> Callable[[Client], bool]:
    probes: dict[str, Callable[[Client], bool]] = {
        "view the case queue": _get_ok("/admin/cases/case/"),
        "view a case": lambda c: _get_ok(admin_case_url(new_case()))(c),
        "view the timeline": _get_ok("/admin/cases/caseevent/"),
        "view notices": _get_ok("/admin/notifications/notice/"),
        "suspend a flagged case": _transition(
            "flagged", "suspend", {"reason": "abuse", "policies": [POLICY]}, "suspended"
        ),
        "dismiss a flagged case": _transition("flagged", "dismiss", {"reason": "no"}, "dismissed"),
        "investigate a suspended case": _transition(
            "suspended",
            "investigate",
            {"findings": "f", "violation_confirmed": "no"},
            "investigated",
        ),
        "remediate an investigated case": _transition(
            "investigated",
            "remediate",
            {"verification_note": "ok", "override_reason": "verified by phone"},
            "remediated",
        ),
        "propose a termination": _post_effect(
            lambda: new_case("investigated", plan=False),
            lambda c: admin_case_url(c, "transition/terminate/"),
            lambda c: {"expected_state": "investigated", "rationale": "repeated"},
            lambda c: ApprovalRequest.objects.filter(case=c, state="pending").exists(),
        ),
        "view the approvals queue": _get_ok("/admin/cases/approvalrequest/"),
        "view an approval request": lambda c: _get_ok(
            f"/admin/cases/approvalrequest/{pending_approval().pk}/change/", b"repeated"
        )(c),
        "approve a termination": _post_effect(
            pending_approval,
            lambda a: f"/admin/cases/approvalrequest/{a.pk}/decide/",
            lambda a: {"decision": "approve", "comment": "agreed"},
            lambda a: _state_after(a.case) == "terminated",
        ),
        "reject a termination": _post_effect(
            pending_approval,
            lambda a: f"/admin/cases/approvalrequest/{a.pk}/decide/",
            lambda a: {"decision": "reject", "comment": "not yet"},
            lambda a: ApprovalRequest.objects.get(pk=a.pk).state == "rejected",
        ),
        "dismiss an investigated case": _transition(
            "investigated", "dismiss", {"reason": "no violation"}, "dismissed"
        ),
        "bulk suspend": _post_effect(
            new_case,
            lambda c: "/admin/cases/case/",
            lambda c: {
                "action": "bulk_suspend",
                "_selected_action": [c.pk],
                "apply": "1",
                "reason": "abuse",
                "policies": [POLICY],
            },
            lambda c: _state_after(c) == "suspended",
        ),
        "take an unassigned case": lambda client: _take(client, users),
        "reassign a case": _post_effect(
            lambda: _assigned_to(users["analyst"]),
            lambda c: admin_case_url(c, "assign/"),
            lambda c: {"assignee": users["investigator"].pk, "reason": "load"},
            lambda c: Case.objects.get(pk=c.pk).assignee_id == users["investigator"].pk,
        ),
        "set priority": _post_effect(
            new_case,
            lambda c: admin_case_url(c, "priority/"),
            lambda c: {"priority": "critical", "reason": "press"},
            lambda c: Case.objects.get(pk=c.pk).priority == "critical",
        ),
        "add a note": _post_effect(
            new_case,
            lambda c: admin_case_url(c, "note/"),
            lambda c: {"body": "called the customer"},
            lambda c: CaseNote.objects.filter(case=c).exists(),
        ),
        "add evidence": _post_effect(
            new_case,
            lambda c: admin_case_url(c, "evidence/"),
            lambda c: {"reference": "logs://q/1", "description": ""},
            lambda c: EvidenceReference.objects.filter(case=c).exists(),
        ),
        "verify a plan item": _post_effect(
            lambda: RemediationItem.objects.get(plan__case=new_case("investigated")),
            lambda i: admin_case_url(i.plan.case, f"items/{i.pk}/verify/"),
            lambda i: {"note": "seen"},
            lambda i: RemediationItem.objects.get(pk=i.pk).verified_at is not None,
        ),
        "open a case": _post_effect(
            lambda: Account.objects.create(external_id=f"open-{next(_n)}"),
            lambda a: "/admin/cases/case/add/",
            lambda a: {"account": a.external_id, "priority": "high", "summary": "press"},
            lambda a: Case.objects.filter(account=a).exists(),
        ),
        "add a flag rule": _get_ok("/admin/cases/flagrule/add/"),
        "add a policy": _get_ok("/admin/cases/policyclause/add/"),
        "edit review deadlines": lambda c: _get_ok(
            f"/admin/cases/reviewdeadlinerule/{ReviewDeadlineRule.objects.first().pk}/change/",  # type: ignore[union-attr]
            b'name="_save"',
        )(c),
        "add a webhook endpoint": _get_ok("/admin/notifications/webhookendpoint/add/"),
        "add a partner": _get_ok("/admin/accounts/partner/add/"),
        "view the ban evasion queue": _get_ok(
            "/admin/accounts/account/evasion-queue/", b"Ban evasion queue"
        ),
        "mark a link false positive": _post_effect(
            _linked_pair,
            lambda pair: f"/admin/accounts/account/{pair[0].pk}/links/{pair[1].pk}/false-positive/",
            lambda pair: {"reason": "same reseller"},
            lambda pair: AccountLinkDismissal.objects.filter(high=pair[1]).exists(),
        ),
        "add a common domain": _post_effect(
            lambda: f"d{next(_n)}.test",
            lambda domain: "/admin/accounts/commondomain/add/",
            lambda domain: {"domain": domain, "note": "x"},
            lambda domain: CommonDomain.objects.filter(domain=domain).exists(),
        ),
        "tune an identifier kind": _post_effect(
            lambda: IdentifierKindSetting.objects.get(kind="ip_prefix"),
            lambda s: f"/admin/accounts/identifierkindsetting/{s.pk}/change/",
            lambda s: {"strength": "ignored"},
            lambda s: IdentifierKindSetting.objects.get(pk=s.pk).strength == "ignored",
        ),
        "change the beat schedule": _get_ok("/admin/django_celery_beat/periodictask/add/"),
        "redeliver a notice": _post_effect(
            _failed_notice,
            lambda n: "/admin/notifications/notice/",
            lambda n: {"action": "redeliver", "_selected_action": [str(n.pk)]},
            lambda n: Notice.objects.get(pk=n.pk).status != "failed",
        ),
        "view the appeals queue": _get_ok("/admin/cases/appeal/"),
        "view an appeal": lambda c: _get_ok(f"/admin/cases/appeal/{new_appeal().pk}/change/")(c),
        "record an appeal": _post_effect(
            lambda: Decision.objects.get(case=new_case("suspended"), kind="suspend"),
            lambda d: f"/admin/cases/decision/{d.pk}/appeal/",
            lambda d: {"reason": "wrong", "submitted_by": "cto by phone"},
            lambda d: Appeal.objects.filter(decision=d).exists(),
        ),
        "start an appeal's review": _post_effect(
            new_appeal,
            lambda a: f"/admin/cases/appeal/{a.pk}/review/",
            lambda a: {},
            lambda a: Appeal.objects.get(pk=a.pk).state == "in_review",
        ),
        "decide an appeal": _post_effect(
            new_appeal,
            lambda a: f"/admin/cases/appeal/{a.pk}/decide/",
            lambda a: {"outcome": "upheld", "reason": "confirmed"},
            lambda a: Appeal.objects.get(pk=a.pk).state == "upheld",
        ),
        "withdraw an appeal": _post_effect(
            new_appeal,
            lambda a: f"/admin/cases/appeal/{a.pk}/withdraw/",
            lambda a: {},
            lambda a: Appeal.objects.get(pk=a.pk).state == "withdrawn",
        ),
        "edit an account": lambda c: _get_ok(
            f"/admin/accounts/account/{new_case().account_id}/change/", b'name="_save"'
        )(c),
    }
    return probes[name]


def _assigned_to(user: User) -> Case:
    case = new_case()
    return case_assign(case=case, assignee=user, actor=Actor.for_user(user))


def _take(client: Client, users: dict[str, User]) -> bool:
    case = new_case()
    client.post(admin_case_url(case, "assign/"), {"take": "1"})
    return Case.objects.get(pk=case.pk).assignee_id is not None


ADMIN_PRINCIPALS = ("anonymous", "analyst", "investigator", "lead", "auditor", "norole")


@pytest.mark.django_db
@pytest.mark.parametrize("principal", ADMIN_PRINCIPALS)
@pytest.mark.parametrize("action", list(ADMIN))
def test_admin_action_allows_exactly_the_expected_roles(
    action: str, principal: str, users: dict[str, User], policies: Any
) -> None:
    Group.objects.get_or_create(name="lead")
    client, _ = principal_client(principal, users)
    allowed = admin_probe(action, users)(client)
    assert allowed == (principal in ADMIN[action]), f"{action} by {principal}"
