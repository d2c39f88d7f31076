"""Acceptance 2: the seed story over HTTP alone."""

from __future__ import annotations

from typing import Any

from cases.models import Case, PolicyClause

from .conftest import ApiCaller, signal


def test_seed_story_runs_over_http_alone(api: ApiCaller, policies: dict[str, PolicyClause]) -> None:
    # Billing registers the partner and the account that reaches the API through it.
    response = api.put("/partners/cloudco", {"name": "CloudCo", "kind": "cloud"})
    assert response.status_code == 201, response.content
    response = api.put(
        "/accounts/acme-ai",
        {"name": "Acme AI", "contacts": ["legal@acme.test"], "channels": ["cloudco"]},
    )
    assert response.status_code == 201, response.content
    assert response.json()["channels"] == ["cloudco"]

    # The pipeline posts 20 rate_limit_exceeded signals and a critical one.
    batch: list[dict[str, Any]] = [
        signal(n, occurred_at=f"2026-11-25T10:{n:02d}:00Z") for n in range(20)
    ]
    batch.append(
        signal(
            99,
            kind="competing_model_development",
            severity="critical",
            source="classifier",
            dedupe_key="cmd-1",
            policy="competing-model-development",
        )
    )
    response = api.post("/signals", {"signals": batch})
    assert response.status_code == 202, response.content
    results = response.json()["results"]
    assert {r["status"] for r in results} == {"stored"}
    cases = {r["case"] for r in results if r["case"]}
    assert len(cases) == 1
    (case_id,) = cases
    assert Case.objects.count() == 1

    response = api.get(f"/cases/{case_id}")
    body = response.json()
    assert body["state"] == "flagged"
    assert body["priority"] == "critical"
    assert body["signal_count"] == 21
    assert "suspend" in body["allowed_actions"]

    # Staff suspend it with a policy.
    response = api.post(
        f"/cases/{case_id}/transitions",
        {
            "action": "suspend",
            "expected_state": "flagged",
            "reason": "Distilling outputs",
            "policies": ["competing-model-development"],
        },
    )
    assert response.status_code == 200, response.content
    enforcement = api.get("/enforcement/acme-ai").json()
    assert enforcement["status"] == "suspended"
    assert enforcement["case"] == case_id
    assert enforcement["policies"] == ["competing-model-development"]
    feed = api.get("/enforcement/changes", after="0").json()
    assert [(c["account"], c["status"]) for c in feed["results"]] == [("acme-ai", "suspended")]

    # Investigate with findings and a plan, verify... remediate.
    response = api.post(
        f"/cases/{case_id}/transitions",
        {
            "action": "investigate",
            "expected_state": "suspended",
            "findings": "Confirmed from request logs",
            "violation_confirmed": True,
            "evidence": ["logs://query/1"],
            "remediation": {"items": ["Delete the distilled model"], "deadline_days": 14},
        },
    )
    assert response.status_code == 200, response.content
    assert response.json()["remediation_plan"]["items"][0]["description"]
    response = api.post(
        f"/cases/{case_id}/transitions",
        {
            "action": "remediate",
            "expected_state": "investigated",
            "verification_note": "Checked deletion certificate",
            "override_reason": "Certificate covers every item",
        },
    )
    assert response.status_code == 200, response.content
    assert api.get("/enforcement/acme-ai").json()["status"] == "active"
    feed = api.get("/enforcement/changes", after=feed["next"]).json()
    assert [(c["account"], c["status"]) for c in feed["results"]] == [("acme-ai", "active")]
    events = api.get(f"/cases/{case_id}/events").json()["results"]
    actions = [e["action"] for e in events]
    assert actions[0] == "open"
    assert actions[-3:] == ["suspend", "investigate", "remediate"]
