"""Demo data that tells the product's story, made through the services.

Idempotent: running it again changes nothing that exists. Staff passwords are printed once,
when the users are created.

With ``PARTNER_SANDBOX_URL`` set (``make run`` sets it), the demo partners get what a partner
has: a webhook endpoint on the partner sandbox (config/partner_sandbox.py), subscribed to the
enforcement events, and a partner key; the secrets and keys go to ``var/partner_sandbox.json``
(mode 0600) for the sandbox to read. The endpoints are registered before the story, so that
the story's enforcement changes reach both partners by webhook and the sandbox carries each to
applied or declined. Run again, the endpoints are kept (moved if the sandbox's port changed,
enabled if disabled) and a key still valid is reused, else a new one replaces it.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from accounts.authentication import client_for_key
from accounts.choices import Scope
from accounts.models import Account, ApiClient, Channel, Partner
from accounts.services import api_client_create, api_client_revoke
from cases.actions import (
    Dismiss,
    Evidence,
    Investigate,
    Remediate,
    RemediationPlan,
    RestrictionSpec,
    Suspend,
    Terminate,
)
from cases.models import (
    CannedReason,
    Case,
    Incident,
    IncidentSignal,
    PolicyClause,
    PolicyVersion,
    Signal,
)
from cases.services import (
    approval_approve,
    approval_propose,
    canned_reason_save,
    case_assign,
    case_open,
    case_transition,
    incident_route,
    plan_item_verify,
)
from config.partner_sandbox import FILE_NAME as SANDBOX_FILE_NAME
from core.actors import Actor
from notifications.choices import WebhookEvent
from notifications.crypto import SecretUnreadable, secret_decrypt
from notifications.models import WebhookEndpoint
from notifications.services import endpoint_create, endpoint_disable, endpoint_update

POLICIES = [
    (
        "competing-model-development",
        "Competing model development",
        "critical",
        [
            "Customers may not use outputs of the API to develop models that compete with ours.",
            "Customers may not use outputs of the API, directly or through a third party, to "
            "train, distil or evaluate models that compete with ours.",
        ],
    ),
    (
        "rate-limit-evasion",
        "Rate limit evasion",
        "medium",
        [
            "Customers may not circumvent rate limits.",
            "Customers may not circumvent rate limits or usage quotas, including by spreading "
            "traffic over several accounts, keys or partner channels.",
        ],
    ),
    (
        "credential-sharing",
        "Credential sharing",
        "high",
        [
            "API keys may not be shared outside the customer organisation.",
            "API keys may not be shared, sold or published outside the customer organisation.",
        ],
    ),
]

# Canned reasons a lead keeps (docs/admin.md, Canned reasons): title, text, actions.
CANNED_REASONS = [
    (
        "Output scraping for a competing model",
        "Traffic from this account shows systematic extraction of model outputs at a scale and "
        "pattern consistent with training or distilling a competing model, which the policy on "
        "competing model development prohibits.",
        ["suspend", "terminate"],
    ),
    (
        "Rate limits circumvented",
        "Requests were spread over several keys or accounts to stay under the rate limits, "
        "which the policy on rate limit evasion prohibits.",
        ["suspend"],
    ),
    (
        "False alarm: declared use",
        "The signals were reviewed and match the use the account declared; no breach of the "
        "usage policy was found.",
        ["dismiss"],
    ),
    (
        "Violation confirmed by logs",
        "The request logs and the evidence attached confirm the behaviour reported in the signals.",
        ["investigate"],
    ),
    (
        "Required changes verified",
        "Each required change of the remediation plan was checked against the account's "
        "traffic since the deadline; none of the reported behaviour recurred.",
        ["remediate"],
    ),
]
PARTNERS = [("cloudco", "CloudCo Platform", "cloud"), ("resellnet", "ResellNet", "reseller")]
# Where each partner's reminders go (partners.md, follow-up), and what its sandbox reports.
PARTNER_CONTACTS = {"cloudco": "abuse@cloudco.example", "resellnet": "trust@resellnet.example"}
SANDBOX_OUTCOMES = {"cloudco": "applied", "resellnet": "declined"}
SANDBOX_DESCRIPTION = "Partner sandbox of make run (config/partner_sandbox.py)"
SANDBOX_EVENTS = [
    WebhookEvent.SUSPENDED.value,
    WebhookEvent.RESTRICTED.value,
    WebhookEvent.REINSTATED.value,
    WebhookEvent.TERMINATED.value,
]
SANDBOX_SCOPES = [Scope.PARTNER_READ.value, Scope.PARTNER_REPORT.value]

# external_id, name, tier, direct, partner codes
ACCOUNTS = [
    ("acme-ai", "Acme AI", "enterprise", True, ["cloudco"]),
    ("northwind-labs", "Northwind Labs", "scale", True, []),
    ("globex", "Globex Research", "scale", False, ["cloudco"]),
    ("initech", "Initech", "build", False, ["resellnet"]),
    ("umbrella-ml", "Umbrella ML", "enterprise", True, ["cloudco", "resellnet"]),
    ("hooli", "Hooli", "build", True, []),
    ("vandelay", "Vandelay Industries", "free", True, []),
    ("stark-analytics", "Stark Analytics", "scale", True, ["cloudco"]),
    ("soylent-ai", "Soylent AI", "build", True, ["cloudco"]),
    ("massive-dynamic", "Massive Dynamic", "enterprise", True, ["cloudco"]),
]

ROLES = ("analyst", "investigator", "lead", "auditor")
# username -> role; a termination needs two leads (four eyes), so the demo has a second.
STAFF = {**{role: role for role in ROLES}, "lead2": "lead"}


@contextmanager
def clock(at: datetime) -> Iterator[None]:
    """Let the services stamp events with a past time, so the demo has a history."""
    with mock.patch("django.utils.timezone.now", return_value=at):
        yield


class Command(BaseCommand):
    help = (
        "Load the demo: policies, canned reasons, partners, accounts, signals, staff and cases "
        "in every state."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            self._policies()
            self._canned_reasons()
            self._partners_and_accounts()
            created = self._staff()
        sandbox = settings.PARTNER_SANDBOX_URL
        had_endpoints = WebhookEndpoint.objects.filter(description=SANDBOX_DESCRIPTION).exists()
        entries = self._sandbox(sandbox) if sandbox else []
        story_before = Case.objects.exists()
        if not story_before:
            self._story()
            self.stdout.write(self.style.SUCCESS("Demo cases created."))
        else:
            self.stdout.write("Demo cases already present; nothing to add.")
        if entries:
            path = self._sandbox_file_write(entries)
            urls = ", ".join(f"{sandbox}/{e['code']} ({e['outcome']})" for e in entries)
            self.stdout.write(f"Partner sandbox: {urls}; secrets and keys in {path}.")
            if story_before and not had_endpoints:
                self.stdout.write(
                    "The demo story was loaded before the sandbox's endpoints existed, so its "
                    "changes reached no partner: `make clean && make run` to see the loop."
                )
        else:
            self.stdout.write(
                "No partner sandbox (PARTNER_SANDBOX_URL is not set; `make run` sets it): "
                "no webhook endpoint registered."
            )
        if created:
            self.stdout.write(self.style.WARNING("Demo staff logins (shown once):"))
            for username, password in created:
                self.stdout.write(f"  {username:<13} {password}")
        else:
            self.stdout.write(
                "Demo staff users exist (analyst, investigator, lead, lead2, auditor); their "
                "passwords were printed when they were created. Reset one with "
                "`manage.py changepassword NAME`."
            )

    def _policies(self) -> None:
        for code, title, severity, texts in POLICIES:
            clause, made = PolicyClause.objects.get_or_create(
                code=code, defaults={"title": title, "severity": severity}
            )
            if not made:
                continue
            start = timezone.now() - timedelta(days=400)
            for n, text in enumerate(texts, start=1):
                PolicyVersion.objects.create(
                    policy=clause,
                    version=n,
                    title=title,
                    text=text,
                    severity=severity,
                    effective_from=start + timedelta(days=200 * (n - 1)),
                )
            PolicyClause.objects.filter(pk=clause.pk).update(current_version=len(texts))

    def _canned_reasons(self) -> None:
        actor = Actor.system("seed_demo")
        for title, text, actions in CANNED_REASONS:
            if not CannedReason.objects.filter(title=title).exists():
                canned_reason_save(
                    canned_reason=None,
                    title=title,
                    text=text,
                    actions=actions,
                    active=True,
                    actor=actor,
                )

    def _partners_and_accounts(self) -> None:
        partners = {}
        for code, name, kind in PARTNERS:
            partners[code], _ = Partner.objects.get_or_create(
                code=code,
                defaults={"name": name, "kind": kind, "contact_email": PARTNER_CONTACTS[code]},
            )
            # A demo partner made before it had a contact gets one; one edited keeps its own.
            Partner.objects.filter(code=code, contact_email="").update(
                contact_email=PARTNER_CONTACTS[code]
            )
        for external_id, name, tier, direct, channels in ACCOUNTS:
            account, made = Account.objects.get_or_create(
                external_id=external_id,
                defaults={
                    "name": name,
                    "tier": tier,
                    "direct": direct,
                    "contacts": [f"trust@{external_id}.example", f"legal@{external_id}.example"],
                },
            )
            if made:
                for code in channels:
                    Channel.objects.create(account=account, partner=partners[code])

    def _sandbox(self, origin: str) -> list[dict[str, str]]:
        """Each demo partner's endpoint on the sandbox and its key, through the services."""
        system = Actor.system("seed_demo")
        previous = self._sandbox_file_read()
        entries = []
        for code, outcome in SANDBOX_OUTCOMES.items():
            partner = Partner.objects.get(code=code)
            url = f"{origin.rstrip('/')}/{code}"
            endpoint = (
                WebhookEndpoint.objects.filter(partner=partner, description=SANDBOX_DESCRIPTION)
                .order_by("-id")
                .first()
            )
            secret = None
            if endpoint is not None:
                try:
                    secret = secret_decrypt(endpoint.secret)
                except SecretUnreadable:  # SECRET_KEY changed since: a new endpoint instead
                    endpoint_disable(endpoint_id=endpoint.pk, actor=system)
                    endpoint = None
            if endpoint is None or secret is None:
                endpoint, secret = endpoint_create(
                    url=url,
                    event_types=SANDBOX_EVENTS,
                    partner=partner,
                    actor=system,
                    description=SANDBOX_DESCRIPTION,
                )
            elif (endpoint.url, endpoint.active, endpoint.event_types) != (
                url,
                True,
                SANDBOX_EVENTS,
            ):
                endpoint_update(
                    endpoint_id=endpoint.pk,
                    actor=system,
                    url=url,
                    event_types=SANDBOX_EVENTS,
                    partner=partner,
                    description=SANDBOX_DESCRIPTION,
                    active=True,
                )
            key = previous.get(code, "")
            client = client_for_key(key) if key else None
            if client is None or client.partner_id != partner.pk:
                key = self._sandbox_key(partner)
            entries.append({"code": code, "secret": secret, "key": key, "outcome": outcome})
        return entries

    def _sandbox_key(self, partner: Partner) -> str:
        """A new key for the partner's sandbox; its earlier sandbox keys are revoked."""
        prefix = f"sandbox-{partner.code}-"
        for name in ApiClient.objects.filter(
            partner=partner, name__startswith=prefix, revoked_at__isnull=True
        ).values_list("name", flat=True):
            api_client_revoke(name=name)
        _, key = api_client_create(
            name=prefix + secrets.token_hex(4), scopes=SANDBOX_SCOPES, partner=partner.code
        )
        return key

    def _sandbox_path(self) -> Path:
        return Path(settings.VAR_DIR) / SANDBOX_FILE_NAME

    def _sandbox_file_read(self) -> dict[str, str]:
        """The keys in an earlier sandbox file, by partner; nothing if there is none."""
        try:
            raw = json.loads(self._sandbox_path().read_text())
            return {p["code"]: p["key"] for p in raw["partners"]}
        except (OSError, ValueError, KeyError, TypeError):
            return {}

    def _sandbox_file_write(self, entries: list[dict[str, str]]) -> Path:
        """Written whole and then moved into place, so the sandbox never reads half of it;
        readable by this user only, as it holds secrets."""
        path = self._sandbox_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            os.fchmod(out.fileno(), 0o600)
            json.dump({"partners": entries}, out, indent=2)
        os.replace(partial, path)
        return path

    def _staff(self) -> list[tuple[str, str]]:
        created = []
        for username, role in STAFF.items():
            if User.objects.filter(username=username).exists():
                continue
            password = secrets.token_urlsafe(12)
            user = User.objects.create_user(
                username=username,
                email=f"{username}@tns.example",
                password=password,
                is_staff=True,
                first_name=username.title(),
            )
            user.groups.add(Group.objects.get(name=role))
            created.append((username, password))
        return created

    def _signals(
        self, account: Account, kind: str, severity: str, count: int, at: datetime, **extra: Any
    ) -> list[Signal]:
        signals = [
            Signal.objects.create(
                account=account,
                kind=kind,
                severity=severity,
                occurred_at=at + timedelta(minutes=2 * i),
                received_at=at + timedelta(minutes=2 * i, seconds=3),
                source=extra.get("source", "ratelimit-monitor"),
                dedupe_key=f"demo-{account.external_id}-{kind}-{i}",
                automated=extra.get("automated", True),
                policy=extra.get("policy"),
                summary=extra.get("summary", ""),
                evidence=extra.get("evidence", {}),
            )
            for i in range(count)
        ]
        return signals

    def _incident(self, account: Account, signals: list[Signal], rule_name: str) -> Incident:
        from cases.models import FlagRule

        first, last = signals[0], signals[-1]
        incident = Incident.objects.create(
            account=account,
            rule=FlagRule.objects.filter(name=rule_name).first(),
            kind=first.kind,
            policy=first.policy,
            severity=max(
                (s.severity for s in signals),
                key=["low", "medium", "high", "critical"].index,
            ),
            summary=first.summary or f"{len(signals)} {first.kind} signals",
            first_seen=first.occurred_at,
            last_seen=last.occurred_at,
            signal_count=len(signals),
        )
        IncidentSignal.objects.bulk_create(
            IncidentSignal(incident=incident, signal=s) for s in signals
        )
        return incident

    def _story(self) -> None:
        now = timezone.now()
        staff = {name: User.objects.get(username=name) for name in STAFF}
        actor = {role: Actor.for_user(user) for role, user in staff.items()}
        rules = Actor.system("flag rules")
        accounts = {a.external_id: a for a in Account.objects.all()}
        cmd = PolicyClause.objects.get(code="competing-model-development")

        # 1. A critical report of competing model development: flagged, awaiting triage.
        at = now - timedelta(hours=1)
        signals = self._signals(
            accounts["acme-ai"],
            "competing_model_development",
            "critical",
            1,
            at,
            source="abuse-classifier",
            policy=cmd,
            summary="Classifier: prompts match a distillation harness (2.1M requests in 24 h)",
            evidence={"requests": 2_100_000, "pattern": "distillation-harness-v3"},
        )
        with clock(at):
            incident_route(
                incident=self._incident(accounts["acme-ai"], signals, "Any critical signal"),
                actor=rules,
            )

        # 2. A burst of rate_limit_exceeded: flagged 3 days ago, now overdue for triage.
        at = now - timedelta(days=3, hours=6)
        signals = self._signals(accounts["northwind-labs"], "rate_limit_exceeded", "medium", 20, at)
        with clock(at):
            case = incident_route(
                incident=self._incident(
                    accounts["northwind-labs"], signals, "10 rate_limit_exceeded in an hour"
                ),
                actor=rules,
            )
            case_assign(case=case, assignee=staff["analyst"], actor=actor["analyst"])

        # 3. Suspended, being investigated.
        at = now - timedelta(days=2)
        with clock(at):
            case = case_open(
                account=accounts["globex"],
                summary="Partner CloudCo reports key resale on a public forum",
                actor=actor["analyst"],
                priority="high",
                policies=["credential-sharing"],
            )
        with clock(at + timedelta(hours=2)):
            case_transition(
                case=case,
                command=Suspend(reason="Keys offered for sale", policies=["credential-sharing"]),
                actor=actor["analyst"],
                expected_state="flagged",
            )
            case_assign(case=case, assignee=staff["investigator"], actor=actor["lead"])

        # 4. Investigated with a remediation plan pending verification.
        at = now - timedelta(days=6)
        signals = self._signals(
            accounts["umbrella-ml"],
            "competing_model_development",
            "critical",
            1,
            at,
            source="partner-report",
            automated=False,
            policy=cmd,
            summary="Partner report: outputs used to fine-tune an in-house model",
        )
        with clock(at):
            case = incident_route(
                incident=self._incident(accounts["umbrella-ml"], signals, "Any critical signal"),
                actor=rules,
            )
        with clock(at + timedelta(hours=1)):
            case = case_transition(
                case=case,
                command=Suspend(
                    reason="Training on outputs confirmed by partner logs",
                    policies=["competing-model-development"],
                ),
                actor=actor["analyst"],
            )
        with clock(at + timedelta(days=2)):
            case = case_transition(
                case=case,
                command=Investigate(
                    findings="Outputs were exported to a training bucket for 3 weeks.",
                    violation_confirmed=True,
                    evidence=[Evidence(reference="s3://evidence/umbrella-ml/export-manifest.json")],
                    remediation=RemediationPlan(
                        items=[
                            "Delete every dataset built from API outputs",
                            "Certify deletion in writing, signed by an officer",
                            "Disable the export job",
                        ],
                        deadline=now + timedelta(days=5),
                    ),
                ),
                actor=actor["investigator"],
            )
        with clock(at + timedelta(days=4)):
            first_item = case.remediation_plan.items.order_by("position").first()
            assert first_item is not None  # noqa: S101  # the plan was just created with items
            plan_item_verify(item=first_item, actor=actor["investigator"], note="Bucket deleted")

        # 5. Remediated: suspended, investigated, changes verified, reinstated.
        at = now - timedelta(days=14)
        signals = self._signals(
            accounts["initech"], "rate_limit_exceeded", "medium", 12, at, source="gateway"
        )
        with clock(at):
            case = incident_route(
                incident=self._incident(
                    accounts["initech"], signals, "10 rate_limit_exceeded in an hour"
                ),
                actor=rules,
            )
            case = case_transition(
                case=case,
                command=Suspend(
                    reason="Keys rotated across 9 accounts", policies=["rate-limit-evasion"]
                ),
                actor=actor["analyst"],
            )
        with clock(at + timedelta(days=1)):
            case = case_transition(
                case=case,
                command=Investigate(
                    findings="Traffic spread across sub-accounts to evade limits.",
                    violation_confirmed=True,
                    remediation=RemediationPlan(
                        items=["Consolidate traffic into one organisation"],
                        deadline=at + timedelta(days=8),
                    ),
                ),
                actor=actor["investigator"],
            )
        with clock(at + timedelta(days=3)):
            item = case.remediation_plan.items.get()
            plan_item_verify(item=item, actor=actor["investigator"], note="One org since Monday")
            case_transition(
                case=case,
                command=Remediate(
                    verification_note="Traffic consolidated; limits respected for 48 h"
                ),
                actor=actor["investigator"],
            )

        # 6. Terminated: proposed by one lead, approved by another (four eyes).
        at = now - timedelta(days=20)
        with clock(at):
            case = case_open(
                account=accounts["vandelay"],
                summary="Model weights distilled from outputs published on a hub",
                actor=actor["analyst"],
                priority="critical",
                policies=["competing-model-development"],
            )
            case = case_transition(
                case=case,
                command=Suspend(reason="Public release", policies=["competing-model-development"]),
                actor=actor["analyst"],
            )
        with clock(at + timedelta(days=2)):
            case = case_transition(
                case=case,
                command=Investigate(
                    findings="The release notes credit our API.", violation_confirmed=True
                ),
                actor=actor["investigator"],
            )
        with clock(at + timedelta(days=3)):
            approval = approval_propose(
                case=case,
                command=Terminate(rationale="Deliberate, public and repeated breach"),
                actor=actor["lead"],
            )
        with clock(at + timedelta(days=3, hours=4)):
            approval_approve(
                approval=approval, actor=actor["lead2"], comment="Checked the release notes."
            )

        # 7. Dismissed at triage.
        at = now - timedelta(days=5)
        signals = self._signals(
            accounts["hooli"], "rate_limit_exceeded", "medium", 10, at, source="gateway"
        )
        with clock(at):
            case = incident_route(
                incident=self._incident(
                    accounts["hooli"], signals, "10 rate_limit_exceeded in an hour"
                ),
                actor=rules,
            )
        with clock(at + timedelta(hours=3)):
            case_transition(
                case=case,
                command=Dismiss(
                    reason="Load test agreed with the account team",
                    warning="Tell us before the next load test; bursts like this one are "
                    "otherwise treated as rate limit evasion.",
                ),
                actor=actor["analyst"],
            )

        # 8. Dismissed after investigation: suspension lifted, no violation.
        at = now - timedelta(days=9)
        with clock(at):
            case = case_open(
                account=accounts["stark-analytics"],
                summary="Suspected key sharing with a contractor",
                actor=actor["analyst"],
                priority="medium",
            )
            case = case_transition(
                case=case,
                command=Suspend(
                    reason="Key seen from two networks", policies=["credential-sharing"]
                ),
                actor=actor["analyst"],
            )
        with clock(at + timedelta(days=2)):
            case = case_transition(
                case=case,
                command=Investigate(
                    findings="The contractor is covered by the MSA.", violation_confirmed=False
                ),
                actor=actor["investigator"],
            )
            case_transition(
                case=case,
                command=Dismiss(reason="No violation: contractor use is permitted"),
                actor=actor["investigator"],
            )

        # 9. Restricted, not suspended: a 10 requests/minute limit for seven days.
        at = now - timedelta(days=1)
        signals = self._signals(
            accounts["soylent-ai"], "rate_limit_exceeded", "medium", 12, at, source="gateway"
        )
        with clock(at):
            case = incident_route(
                incident=self._incident(
                    accounts["soylent-ai"], signals, "10 rate_limit_exceeded in an hour"
                ),
                actor=rules,
            )
        with clock(at + timedelta(hours=1)):
            case_transition(
                case=case,
                command=Suspend(
                    reason="Requests spread over several keys to pass the rate limit",
                    policies=["rate-limit-evasion"],
                    restriction=RestrictionSpec(kind="rate_limit", requests_per_minute=10),
                    duration=timedelta(days=7),
                ),
                actor=actor["analyst"],
            )

        # 10. Investigated, a termination proposed by lead2 and waiting for a second lead.
        at = now - timedelta(days=4)
        with clock(at):
            case = case_open(
                account=accounts["massive-dynamic"],
                summary="Outputs resold as a training set on a data marketplace",
                actor=actor["analyst"],
                priority="high",
                policies=["competing-model-development"],
            )
            case = case_transition(
                case=case,
                command=Suspend(
                    reason="Listing of our outputs found", policies=["competing-model-development"]
                ),
                actor=actor["analyst"],
            )
        with clock(at + timedelta(days=3)):
            case = case_transition(
                case=case,
                command=Investigate(
                    findings="The listing's sample matches our outputs to this account.",
                    violation_confirmed=True,
                ),
                actor=actor["investigator"],
            )
        with clock(now - timedelta(hours=6)):
            approval_propose(
                case=case,
                command=Terminate(rationale="Resale of outputs for training, after a warning"),
                actor=actor["lead2"],
            )
