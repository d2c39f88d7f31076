"""Appeals in the admin: recorded from a decision's page, queued by deadline, reviewed and
decided from the appeal's page by those who may; whoever took part in the decision sees why
not instead of the buttons."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.urls import reverse
from django.utils import timezone

from accounts.models import Account
from cases.actions import AppealFile, Suspend
from cases.models import Appeal, ApprovalRequest, Case, Decision
from cases.services import appeal_file, case_open, case_transition
from core.actors import Actor
from notifications.models import Notice
from tests.conftest import make_user

from .conftest import POLICY, MakeCase, change_url, messages_of


def appeal_url(appeal: Appeal, rest: str = "change/") -> str:
    return f"/admin/cases/appeal/{appeal.pk}/{rest}"


def suspended_by(actor: Actor, external_id: str) -> Decision:
    account = Account.objects.create(external_id=external_id, contacts=[f"ops@{external_id}.t"])
    case = case_open(account=account, summary="x", actor=Actor.system("t"))
    case_transition(case=case, command=Suspend(reason="r", policies=[POLICY]), actor=actor)
    return Decision.objects.get(case=case, kind="suspend")


def filed(decision: Decision) -> Appeal:
    return appeal_file(
        decision=decision,
        command=AppealFile(reason="Wrong", submitted_by="cto@x.test"),
        actor=Actor.system("portal"),
    )


def test_staff_record_an_appeal_from_the_decisions_page(login: Any, make_case: MakeCase) -> None:
    case = make_case("suspended")
    decision = Decision.objects.get(case=case, kind="suspend")
    client = login("analyst")
    url = reverse("admin:cases_decision_change", args=[decision.pk])
    page = client.get(url).content.decode()
    assert 'id="ts-appeal-record"' in page
    response = client.post(
        url.replace("change/", "appeal/"),
        {
            "reason": "Called in: it was our test harness",
            "submitted_by": "CTO by phone",
            "attachments": "ticket://4711\nhttps://x.test/a.pdf",
        },
        follow=True,
    )
    appeal = Appeal.objects.get(decision=decision)
    assert appeal.filed_by_label == "analyst" and appeal.filed_by_kind == "staff"
    assert appeal.attachments == ["ticket://4711", "https://x.test/a.pdf"]
    assert any("recorded" in m for m in messages_of(response))
    assert Notice.objects.filter(event="appeal_received", account=case.account).exists()
    # While it is open, no second one; the page says why.
    page = client.get(url).content.decode()
    assert 'id="ts-appeal-record"' not in page and f"Appeal #{appeal.pk}" in page
    # Auditors look but do not record.
    auditor = login("auditor")
    assert 'id="ts-appeal-record"' not in auditor.get(url).content.decode()
    auditor.post(url.replace("change/", "appeal/"), {"reason": "r", "submitted_by": "s"})
    assert Appeal.objects.count() == 1


def test_the_queue_shows_open_appeals_overdue_first(
    login: Any, actors: dict[str, Actor], policies: Any
) -> None:
    later = filed(suspended_by(actors["analyst"], "later"))
    overdue = filed(suspended_by(actors["analyst"], "overdue"))
    done = filed(suspended_by(actors["analyst"], "done"))
    Appeal.objects.filter(pk=overdue.pk).update(review_deadline=timezone.now() - timedelta(hours=1))
    Appeal.objects.filter(pk=done.pk).update(state="withdrawn")
    page = login("auditor").get("/admin/cases/appeal/").content.decode()
    assert page.index(f"Appeal #{overdue.pk}") < page.index(f"Appeal #{later.pk}")
    assert f"Appeal #{done.pk}<" not in page
    assert "(overdue)" in page
    overdue_only = login("auditor").get("/admin/cases/appeal/?queue=overdue").content.decode()
    assert f"Appeal #{overdue.pk}" in overdue_only and f"Appeal #{later.pk}<" not in overdue_only


def test_the_decider_sees_why_not_and_another_decides(
    login: Any, actors: dict[str, Actor], policies: Any
) -> None:
    decision = suspended_by(actors["investigator"], "acme")
    appeal = filed(decision)

    page = login("investigator").get(appeal_url(appeal)).content.decode()
    assert "ts-appeal-review" not in page and "ts-appeal-decide" not in page
    assert 'id="ts-appeal-refusal"' in page and "took no part" in page
    # Posting anyway changes nothing.
    login("investigator").post(appeal_url(appeal, "review/"), {})
    assert Appeal.objects.get(pk=appeal.pk).state == "received"
    analyst_page = login("analyst").get(appeal_url(appeal)).content.decode()
    assert "ts-appeal-decide" not in analyst_page

    lead = login("lead")
    page = lead.get(appeal_url(appeal)).content.decode()
    assert "ts-appeal-review" in page and "ts-appeal-decide" in page
    lead.post(appeal_url(appeal, "review/"), {"note": "Looking at the logs"})
    assert Appeal.objects.get(pk=appeal.pk).state == "in_review"
    response = lead.post(
        appeal_url(appeal, "decide/"),
        {"outcome": "overturned", "reason": "Harness traffic"},
        follow=True,
    )
    assert any("overturned" in m for m in messages_of(response))
    decided = Appeal.objects.get(pk=appeal.pk)
    assert decided.state == "overturned" and decided.outcome is not None
    assert Account.objects.get(external_id="acme").enforcement_status == "active"
    case_page = lead.get(change_url(Case.objects.get(pk=decision.case_id))).content.decode()
    assert 'id="ts-appeals"' in case_page and decided.outcome.reference in case_page
    assert "ts-appeal-decide" not in lead.get(appeal_url(appeal)).content.decode()


def test_a_modified_outcome_from_the_form(
    login: Any, actors: dict[str, Actor], policies: Any
) -> None:
    appeal = filed(suspended_by(actors["analyst"], "acme"))
    lead = login("lead")
    response = lead.post(
        appeal_url(appeal, "decide/"), {"outcome": "modified", "reason": "Too much"}, follow=True
    )
    assert any("restriction" in m for m in messages_of(response))
    assert Appeal.objects.get(pk=appeal.pk).state == "received"
    lead.post(
        appeal_url(appeal, "decide/"),
        {
            "outcome": "modified",
            "reason": "Too much",
            "restriction_kind": "rate_limit",
            "requests_per_minute": "10",
            "duration": "P30D",
        },
    )
    assert Appeal.objects.get(pk=appeal.pk).state == "modified"
    assert Account.objects.get(external_id="acme").enforcement_status == "restricted"


def test_withdrawn_on_the_accounts_word(
    login: Any, actors: dict[str, Actor], policies: Any
) -> None:
    appeal = filed(suspended_by(actors["analyst"], "acme"))
    login("auditor").post(appeal_url(appeal, "withdraw/"), {"reason": "r"})
    assert Appeal.objects.get(pk=appeal.pk).state == "received"
    login("analyst").post(appeal_url(appeal, "withdraw/"), {"reason": "Settled by phone"})
    assert Appeal.objects.get(pk=appeal.pk).state == "withdrawn"


def test_a_leads_overturn_of_a_termination_is_proposed_for_four_eyes(
    client: Any, make_case: MakeCase, users: dict[str, Any]
) -> None:
    case = make_case("terminated")  # terminated by the persona "lead"
    appeal = filed(Decision.objects.get(case=case, kind="terminate"))
    other = make_user("lead", "lead-b")
    client.force_login(other)
    page = client.get(appeal_url(appeal)).content.decode()
    assert "needs a second lead" in page
    response = client.post(
        appeal_url(appeal, "decide/"), {"outcome": "overturned", "reason": "r"}, follow=True
    )
    assert any("second lead" in m for m in messages_of(response))
    [request] = ApprovalRequest.objects.filter(case=case, action="lift_termination")
    assert request.state == "pending" and request.input["appeal"] == appeal.pk
    assert Account.objects.get(pk=case.account_id).enforcement_status == "terminated"
    assert (
        f"#{appeal.pk}"
        in client.get(f"/admin/cases/approvalrequest/{request.pk}/change/").content.decode()
    )
    # The lead who terminated may not approve it either, and is not offered the buttons.
    decide = f"/admin/cases/approvalrequest/{request.pk}/decide/"
    client.force_login(users["lead"])
    request_page = f"/admin/cases/approvalrequest/{request.pk}/change/"
    assert 'id="ts-decide"' not in client.get(request_page).content.decode()
    response = client.post(decide, {"decision": "approve", "comment": "ok"}, follow=True)
    assert any("took no part" in m for m in messages_of(response))
    assert ApprovalRequest.objects.get(pk=request.pk).state == "pending"
    client.force_login(make_user("lead", "lead-c"))
    assert 'id="ts-decide"' in client.get(request_page).content.decode()
    client.post(decide, {"decision": "approve", "comment": "Agreed"})
    assert ApprovalRequest.objects.get(pk=request.pk).state == "approved"
    assert Appeal.objects.get(pk=appeal.pk).state == "overturned"
    assert Account.objects.get(pk=case.account_id).enforcement_status == "active"
