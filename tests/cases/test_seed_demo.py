"""The demo's data: the command runs on an empty database, and what it makes is what a newcomer
is told to look at (a restricted account, a warning, decisions behind every enforcement)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command

from accounts.models import Account
from cases.models import ApprovalRequest, Decision
from cases.selectors import enforcement_get


@pytest.mark.django_db
def test_the_demo_shows_each_kind_of_enforcement(settings: Any, tmp_path: Any) -> None:
    settings.EMAIL_FILE_PATH = str(tmp_path)
    call_command("seed_demo")

    restricted = enforcement_get(external_id="soylent-ai")
    assert restricted is not None
    assert restricted["status"] == "restricted"
    assert restricted["restrictions"][0]["requests_per_minute"] == 10
    assert restricted["until"] is not None
    assert Decision.objects.filter(account__external_id="hooli", kind="warn").exists()
    pending = ApprovalRequest.objects.get(state="pending")
    assert pending.case.account.external_id == "massive-dynamic"
    assert pending.case.state == "investigated" and pending.proposed_by_label == "lead2"
    terminated = Decision.objects.get(account__external_id="vandelay", kind="terminate")
    assert terminated.approvals.get().decided_by_label == "lead2"
    for account in Account.objects.exclude(enforcement_status="active"):
        assert Decision.objects.filter(account=account).exists(), account.external_id
