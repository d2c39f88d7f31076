"""Matching costs the same number of queries at 1,000 and at 100,000 accounts (PostgreSQL)."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.identifiers import identifier_digest
from accounts.models import Account, AccountIdentifier
from cases.evasion import SIGNAL_KIND, account_put
from cases.models import Signal
from tests.cases.services.helpers import case_in_state

pytestmark = [pytest.mark.postgres, pytest.mark.usefixtures("require_postgres", "policies")]

CARD = "fp_shared_card_1"


def accounts_add(count: int, start: int) -> None:
    """``count`` more accounts, each with an identifier of its own."""
    now = timezone.now()
    accounts = Account.objects.bulk_create(
        [
            Account(external_id=f"bg-{start + i}", created_at=now, enforcement_since=now)
            for i in range(count)
        ],
        batch_size=5000,
    )
    AccountIdentifier.objects.bulk_create(
        [
            AccountIdentifier(account=a, kind=kind, digest=secrets.token_hex(32), created_at=now)
            for a in accounts
            for kind in ("payment_fingerprint",)
        ],
        batch_size=10000,
    )


def seven(n: int) -> list[dict[str, str]]:
    return [
        {"kind": "payment_fingerprint", "value": CARD},
        {"kind": "email_domain", "value": f"ops@probe{n}.test"},
        {"kind": "org_domain", "value": f"probe{n}.test"},
        {"kind": "org_registration", "value": f"GB{n:08d}"},
        {"kind": "ip_prefix", "value": f"203.0.{n}.9"},
        {"kind": "billing_address", "value": f"{n} Probe Street, Springfield"},
        {"kind": "api_key_fingerprint", "value": f"abcdef{n:06d}"},
    ]


def put_counted(n: int) -> int:
    with CaptureQueriesContext(connection) as queries:
        account_put(external_id=f"probe-{n}", name=f"Probe {n}", identifiers=seven(n))
    return len(queries)


def test_matching_an_account_with_seven_identifiers_costs_the_same_at_1000_and_100000(
    db: Any,
) -> None:
    globex, _ = account_put(
        external_id="globex", identifiers=[{"kind": "payment_fingerprint", "value": CARD}]
    )
    case_in_state(globex, "terminated")
    accounts_add(998, 0)
    assert Account.objects.count() == 999
    put_counted(1)  # a warm connection and caches, as in the other query-count tests

    at_1000 = put_counted(2)
    accounts_add(99_000, 1000)
    assert Account.objects.count() == 100_001
    at_100000 = put_counted(3)

    assert at_1000 == at_100000
    assert Signal.objects.filter(kind=SIGNAL_KIND, account__external_id="probe-3").count() == 1


def test_the_lookup_of_other_holders_reads_the_digest_index(db: Any) -> None:
    accounts_add(2000, 0)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE accounts_accountidentifier")
        digest = identifier_digest("payment_fingerprint", CARD)
        cursor.execute(
            "EXPLAIN SELECT account_id FROM accounts_accountidentifier WHERE digest = ANY(%s)",
            [[digest]],
        )
        plan = " ".join(row[0] for row in cursor.fetchall())
    assert "identifier_digest_idx" in plan or "account_identifier_unique" in plan, plan
