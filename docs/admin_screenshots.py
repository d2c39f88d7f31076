"""Seed a small demo and photograph the admin's queue and case page in headless Chromium.

    .venv/bin/python docs/admin_screenshots.py

Runs against its own SQLite database in a temporary directory (never your data), builds the
project's demo (``manage.py seed_demo``, or a small one of its own where that command is
missing) through the case services, serves it with ``runserver`` on a loopback port and writes
``docs/img/admin-queue.png`` and ``docs/img/admin-case.png``. Needs Debian's ``chromium`` and
``chromedriver``; nothing is downloaded.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from docs/: the project's packages

from cases.actions import Dismiss, Evidence, Investigate, RemediationPlan, Suspend  # noqa: E402

OUT = ROOT / "docs" / "img"
PORT = int(os.environ.get("SCREENSHOT_PORT", "8771"))
PASSWORD = "demo-password-1"  # noqa: S105  # a throwaway demo database


def seed_project_demo() -> tuple[str, str, int] | None:
    """The project's demo, if it has one: (queue user, case user, case id)."""
    from django.contrib.auth.models import User
    from django.core.management import call_command, get_commands

    from cases.models import Case

    if "seed_demo" not in get_commands():
        return None
    call_command("seed_demo", stdout=io.StringIO())
    for name in ("analyst", "lead", "auditor"):
        user = User.objects.filter(username=name).first()
        if user is None:
            continue
        user.set_password(PASSWORD)  # a throwaway database: the printed passwords are unknown
        user.save()
    case = (
        Case.objects.filter(state="investigated", remediation_plan__isnull=False).first()
        or Case.objects.filter(state="investigated").first()
        or Case.objects.order_by("review_deadline").first()
    )
    assert case is not None  # noqa: S101  # the demo has cases
    from cases.services.saved_views import saved_view_create

    analyst = User.objects.get(username="analyst")
    for name, query in (("Overdue, critical first", "queue=overdue&o=-3"), ("Mine", "queue=mine")):
        saved_view_create(user=analyst, name=name, query=query)
    return "analyst", "lead", case.pk


def seed() -> tuple[str, str, int]:
    """Build a small demo through the services: (queue user, case user, case id).

    Maria (analyst) is photographed on the queue, Lena (lead) on an investigated case.
    """
    from django.contrib.auth.models import Group, User
    from django.utils import timezone

    from accounts.models import Account, Channel, Partner
    from cases.models import Case, Incident, IncidentSignal, PolicyClause, PolicyVersion, Signal
    from cases.services import (
        case_assign,
        case_evidence_add,
        case_note_add,
        case_transition,
        incident_route,
    )
    from core.actors import Actor
    from notifications.models import DeliveryAttempt, Notice, WebhookEndpoint

    people = {}
    for name, role in [
        ("maria", "analyst"),
        ("tomas", "investigator"),
        ("lena", "lead"),
        ("audrey", "auditor"),
    ]:
        user = User.objects.create_user(name, f"{name}@tns.example", PASSWORD, is_staff=True)
        user.groups.add(Group.objects.get(name=role))
        people[role] = Actor.for_user(user)
    texts = {
        "competing-model-development": "Customers must not use outputs to build competing models.",
        "rate-limit-evasion": "Customers must not circumvent rate limits, e.g. by rotating keys.",
        "credential-sharing": "API keys must not be shared with or resold to third parties.",
    }
    for code, text in texts.items():
        clause = PolicyClause.objects.create(
            code=code, title=code.replace("-", " ").capitalize(), current_version=1
        )
        PolicyVersion.objects.create(policy=clause, version=1, title=clause.title, text=text)
    cloud = Partner.objects.create(code="cloudco", name="CloudCo")
    reseller = Partner.objects.create(code="resellerx", name="Reseller X", kind="reseller")
    WebhookEndpoint.objects.create(
        partner=cloud,
        url="https://hooks.cloudco.example/enforcement",
        event_types=["enforcement.suspended", "enforcement.reinstated", "case.transitioned"],
        secret="whsec_ZGVtby1zZWNyZXQtZGVtby1zZWNyZXQ=",  # noqa: S106  # demo only
    )
    now = timezone.now()
    orgs = [
        ("acme-ai", "Acme AI", "critical", "competing-model-development"),
        ("northwind-labs", "Northwind Labs", "high", "rate-limit-evasion"),
        ("globex", "Globex Research", "medium", "credential-sharing"),
        ("initech", "Initech", "low", "rate-limit-evasion"),
        ("umbrella-ml", "Umbrella ML", "high", "competing-model-development"),
        ("hooli", "Hooli", "medium", "rate-limit-evasion"),
        ("stark-data", "Stark Data", "critical", "credential-sharing"),
        ("wayne-analytics", "Wayne Analytics", "low", "credential-sharing"),
    ]
    cases = {}
    for n, (ext, name, severity, policy) in enumerate(orgs):
        account = Account.objects.create(
            external_id=ext,
            name=name,
            tier=["scale", "enterprise", "build"][n % 3],
            contacts=[f"legal@{ext}.example"],
        )
        Channel.objects.create(account=account, partner=cloud if n % 2 == 0 else reseller)
        incident = Incident.objects.create(
            account=account,
            kind="classifier_hit" if n % 2 == 0 else "rate_limit_exceeded",
            policy=PolicyClause.objects.get(code=policy),
            severity=severity,
            summary=f"{name}: {policy.replace('-', ' ')} suspected",
            first_seen=now - timedelta(hours=6),
            last_seen=now - timedelta(minutes=20 * n),
            signal_count=3,
        )
        for i in range(3):
            signal = Signal.objects.create(
                account=account,
                kind=incident.kind,
                severity=severity,
                occurred_at=now - timedelta(hours=5 - i),
                source="abuse-classifier",
                dedupe_key=f"{ext}-{i}",
                policy=incident.policy,
                summary=f"{incident.kind} #{i + 1}",
                evidence={"requests": 12000 + 900 * i, "model": "large", "window": "1h"},
            )
            IncidentSignal.objects.create(incident=incident, signal=signal)
        cases[ext] = incident_route(incident=incident)
    analyst, investigator, lead = people["analyst"], people["investigator"], people["lead"]
    case_assign(case=cases["acme-ai"], assignee=analyst.user, actor=analyst)
    case_assign(case=cases["globex"], assignee=investigator.user, actor=lead)
    case_note_add(
        case=cases["acme-ai"], body="Output volume matches a distillation run.", actor=analyst
    )
    case_evidence_add(
        case=cases["acme-ai"],
        reference="logs://requests?org=acme-ai&day=today",
        description="request log export",
        actor=analyst,
    )
    suspended = case_transition(
        case=cases["northwind-labs"],
        command=Suspend(reason="Key rotation to evade limits", policies=["rate-limit-evasion"]),
        actor=analyst,
    )
    investigated = case_transition(
        case=case_transition(
            case=cases["umbrella-ml"],
            command=Suspend(
                reason="Training data harvesting", policies=["competing-model-development"]
            ),
            actor=analyst,
        ),
        command=Investigate(
            findings="Outputs used to fine-tune a competing model.",
            violation_confirmed=True,
            evidence=[Evidence(reference="ticket://TS-4411")],
            remediation=RemediationPlan(
                items=["Delete the derived dataset", "Name a compliance contact"],
                deadline_days=14,
            ),
        ),
        actor=investigator,
    )
    case_transition(
        case=cases["wayne-analytics"],
        command=Dismiss(reason="Shared office network, not key resale."),
        actor=analyst,
    )
    for notice in Notice.objects.filter(channel="webhook"):
        DeliveryAttempt.objects.create(notice=notice, status_code=503, error="upstream timeout")
    # The demo needs late cases; only this script moves a deadline by hand.
    Case.objects.filter(pk__in=[cases["acme-ai"].pk, cases["hooli"].pk]).update(
        review_deadline=now - timedelta(hours=3)
    )
    Case.objects.filter(pk=cases["initech"].pk).update(review_deadline=now + timedelta(hours=5))
    assert suspended.state == "suspended" and investigated.state == "investigated"  # noqa: S101
    return "maria", "lena", cases["umbrella-ml"].pk


def photograph(queue_user: str, case_user: str, case_id: int) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1440,1000",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    base = f"http://127.0.0.1:{PORT}"

    def login(user: str, path: str, ready: str) -> None:
        driver.delete_all_cookies()
        driver.set_window_size(1440, 1000)
        driver.get(f"{base}/admin/login/?next={path}")
        driver.find_element(By.NAME, "username").send_keys(user)
        driver.find_element(By.NAME, "password").send_keys(PASSWORD)
        driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
        driver.find_element(By.ID, ready)

    def shot(name: str, *, full: bool = False) -> None:
        if full:
            height = driver.execute_script("return document.body.scrollHeight")
            driver.set_window_size(1440, min(int(height) + 100, 3200))
        driver.save_screenshot(str(OUT / name))
        SHOTS.append(name)

    try:
        login(queue_user, "/admin/cases/case/", "changelist")
        shot("admin-queue.png")
        # The keyboard: two rows down, then the list of the page's keys.
        body = driver.find_element(By.TAG_NAME, "body")
        body.send_keys("jj?")
        driver.find_element(By.ID, "ts-keys-help")
        shot("admin-keys.png")
        login(case_user, f"/admin/cases/case/{case_id}/change/", "ts-timeline")
        shot("admin-case.png", full=True)
        for user, path, ready, name in extra_pages(case_user):
            login(user, path, ready)
            if name == "admin-evidence.png":
                driver.find_element(By.CSS_SELECTOR, "#ts-evidence-open button[name=view]").click()
                driver.find_element(By.ID, "ts-custody")
            shot(name, full=True)
    finally:
        driver.quit()


SHOTS: list[str] = []


def extra_pages(lead: str) -> list[tuple[str, str, str, str]]:
    """(user, path, element to wait for, file) of the other pages photographed: the dashboard,
    the holds and retention pages (a hold is placed first), an evidence item opened by an
    auditor (where the demo has one), and the transparency report."""
    from datetime import date

    from django.contrib.auth.models import User

    from accounts.models import Account
    from cases.models import EvidenceItem, LegalHold
    from cases.services.holds import legal_hold_place
    from core.actors import Actor

    pages = [(lead, "/admin/", "ts-tile-open", "admin-dashboard.png")]
    pages.append((lead, "/admin/cases/case/workload/", "ts-workload", "admin-workload.png"))
    pages.append((lead, "/admin/cases/cannedreason/", "changelist", "admin-canned-reasons.png"))
    account = Account.objects.filter(enforcement_status="terminated").first()
    if account is not None and not LegalHold.objects.exists():
        legal_hold_place(
            actor=Actor.for_user(User.objects.get(username=lead)),
            account=account,
            reason="The customer has filed a claim against the termination.",
            legal_reference="Claim 2026-CV-0412",
            review_date=date.today() + timedelta(days=90),
        )
    pages.append((lead, "/admin/cases/legalhold/", "changelist", "admin-holds.png"))
    pages.append(
        (lead, "/admin/cases/legalhold/retention/", "ts-retention-periods", "admin-retention.png")
    )
    item = EvidenceItem.objects.order_by("id").first()
    auditor = User.objects.filter(username="auditor").first()
    if item is not None and auditor is not None:
        path = f"/admin/cases/case/{item.case_id}/evidence-files/{item.pk}/"
        pages.append(("auditor", path, "ts-evidence-open", "admin-evidence.png"))
    pages.append(
        (
            lead,
            "/admin/cases/decision/transparency-report/",
            "content-main",
            "admin-transparency.png",
        )
    )
    return pages


def main() -> None:
    workdir = tempfile.mkdtemp(prefix="admin-demo-")
    env = {**os.environ, "VAR_DIR": workdir, "DEBUG": "1"}
    env.pop("DATABASE_URL", None)
    os.environ.update({"VAR_DIR": workdir, "DJANGO_SETTINGS_MODULE": "config.settings"})
    os.environ.pop("DATABASE_URL", None)
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True, cwd=ROOT)  # noqa: S603  # our own manage.py
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    who = seed_project_demo() or seed()
    server: Any = subprocess.Popen(  # noqa: S603  # our own manage.py, loopback only
        [*manage, "runserver", "--noreload", f"127.0.0.1:{PORT}"], env=env, cwd=ROOT
    )
    try:
        for _ in range(50):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{PORT}/admin/login/", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        OUT.mkdir(parents=True, exist_ok=True)
        photograph(*who)
    finally:
        server.terminate()
        server.wait(timeout=10)
    print("wrote " + ", ".join(str(OUT / name) for name in SHOTS))


if __name__ == "__main__":
    main()
