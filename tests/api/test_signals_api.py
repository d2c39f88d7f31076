"""POST /signals: all or nothing, duplicates, accounts on the fly, flag rules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from accounts.models import Account
from cases.models import Case, FlagRule, Incident, PolicyClause, Signal

from .conftest import ApiCaller, problem, signal


def test_batch_is_stored_with_a_result_per_signal(api: ApiCaller, account: Account) -> None:
    response = api.post("/signals", {"signals": [signal(1), signal(2)]})
    assert response.status_code == 202
    body = response.json()
    assert body["stored"] == 2
    assert body["duplicates"] == 0
    assert [r["status"] for r in body["results"]] == ["stored", "stored"]
    assert [r["index"] for r in body["results"]] == [0, 1]
    assert Signal.objects.count() == 2
    assert Signal.objects.get(dedupe_key="rl-1").evidence == {"rpm": 9001}


def test_reposting_the_same_batch_returns_all_duplicates_and_stores_nothing(
    api: ApiCaller, account: Account
) -> None:
    batch = {"signals": [signal(n) for n in range(12)]}
    first = api.post("/signals", batch).json()
    counts = (Signal.objects.count(), Incident.objects.count(), Case.objects.count())
    second = api.post("/signals", batch).json()
    assert second["stored"] == 0
    assert {r["status"] for r in second["results"]} == {"duplicate"}
    assert [r["signal"] for r in second["results"]] == [r["signal"] for r in first["results"]]
    assert [r["case"] for r in second["results"]] == [r["case"] for r in first["results"]]
    assert (Signal.objects.count(), Incident.objects.count(), Case.objects.count()) == counts


def test_a_repeated_signal_reports_the_incidents_and_case_it_joined(
    api: ApiCaller, account: Account
) -> None:
    batch = {"signals": [signal(1, severity="critical"), signal(2, severity="low", kind="k")]}
    first = api.post("/signals", batch).json()["results"]
    again = api.post("/signals", batch).json()["results"]
    incident = Incident.objects.get()
    assert first[0]["incidents"] == [incident.pk]
    assert first[0]["case"] == Case.objects.get().pk
    assert again == [{**result, "status": "duplicate"} for result in first]
    assert again[1]["incidents"] == []
    assert again[1]["case"] is None


def test_a_repeated_signal_reports_the_incident_this_batch_takes_it_into(
    api: ApiCaller, account: Account
) -> None:
    nine = [signal(n, occurred_at=f"2026-11-25T10:{n:02d}:00Z") for n in range(9)]
    api.post("/signals", {"signals": nine})
    tenth = signal(9, occurred_at="2026-11-25T10:30:00Z")
    results = api.post("/signals", {"signals": [tenth, nine[0]]}).json()["results"]
    incident = Incident.objects.get()
    assert [r["status"] for r in results] == ["stored", "duplicate"]
    assert [r["incidents"] for r in results] == [[incident.pk], [incident.pk]]
    assert [r["case"] for r in results] == [incident.case_id, incident.case_id]
    assert incident.case_id is not None


def test_a_batch_repeating_one_key_many_times_stores_it_once(
    api: ApiCaller, account: Account
) -> None:
    api.post("/signals", {"signals": [signal(0)]})
    batch = [signal(1), signal(0), signal(1), signal(2), signal(0)]
    results = api.post("/signals", {"signals": batch}).json()["results"]
    assert [r["status"] for r in results] == [
        "stored",
        "duplicate",
        "duplicate",
        "stored",
        "duplicate",
    ]
    ids = {key: Signal.objects.get(dedupe_key=key).pk for key in ("rl-0", "rl-1", "rl-2")}
    assert [r["signal"] for r in results] == [
        ids["rl-1"],
        ids["rl-0"],
        ids["rl-1"],
        ids["rl-2"],
        ids["rl-0"],
    ]


def test_duplicates_within_one_batch(api: ApiCaller, account: Account) -> None:
    results = api.post("/signals", {"signals": [signal(1), signal(1)]}).json()["results"]
    assert [r["status"] for r in results] == ["stored", "duplicate"]
    assert results[0]["signal"] == results[1]["signal"]


def test_same_dedupe_key_from_another_source_is_a_new_signal(
    api: ApiCaller, account: Account
) -> None:
    results = api.post("/signals", {"signals": [signal(1), signal(1, source="other")]}).json()[
        "results"
    ]
    assert [r["status"] for r in results] == ["stored", "stored"]


def test_one_bad_item_stores_nothing_and_names_the_item(api: ApiCaller, account: Account) -> None:
    batch = [signal(n) for n in range(5)]
    batch[3]["severity"] = "apocalyptic"
    del batch[4]["occurred_at"]
    body = problem(api.post("/signals", {"signals": batch}), 422, "invalid_signals")
    assert {(e["index"], e["field"]) for e in body["errors"]} == {
        (3, "severity"),
        (4, "occurred_at"),
    }
    assert {e["pointer"] for e in body["errors"]} == {
        "/signals/3/severity",
        "/signals/4/occurred_at",
    }
    assert Signal.objects.exists() is False


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"occurred_at": "2026-11-25T10:00:00"}, "occurred_at"),
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"account": ""}, "account"),
        ({"account": 7}, "account"),
        ({"account": ["acme-ai"]}, "account"),
        ({"dedupe_key": "k" * 201}, "dedupe_key"),
        ({"evidence": [1, 2]}, "evidence"),
        ({"evidence": 0}, "evidence"),
        ({"summary": 0}, "summary"),
        ({"severity": ["high"]}, "severity"),
        ({"policy": ""}, "policy"),
        ({"policy": "no-such-policy"}, "policy"),
        ({"surprise": True}, "surprise"),
    ],
)
def test_invalid_fields_are_named(
    api: ApiCaller, account: Account, change: dict[str, Any], field: str
) -> None:
    body = problem(api.post("/signals", {"signals": [signal(1, **change)]}), 422)
    assert [(e["index"], e["field"]) for e in body["errors"]] == [(0, field)]
    assert Signal.objects.exists() is False


def test_1001_signals_is_422(api: ApiCaller, account: Account) -> None:
    body = problem(api.post("/signals", {"signals": [signal(n) for n in range(1001)]}), 422)
    assert body["errors"][0]["pointer"] == "/signals"
    assert Signal.objects.exists() is False


def test_1000_signals_are_accepted(api: ApiCaller, account: Account) -> None:
    response = api.post("/signals", {"signals": [signal(n) for n in range(1000)]})
    assert response.status_code == 202
    assert Signal.objects.count() == 1000


@pytest.mark.parametrize("body", [{"signals": []}, {"signals": "x"}, {}, [], 5])
def test_batch_shape_errors(api: ApiCaller, db: None, body: Any) -> None:
    problem(api.post("/signals", body), 422, "invalid_signals")


def test_unknown_account_is_created_on_the_fly(api: ApiCaller, db: None) -> None:
    api.post("/signals", {"signals": [signal(1, account="newco")]})
    assert Account.objects.get(external_id="newco").enforcement_status == "active"


def test_ten_rate_limit_signals_in_an_hour_open_a_case(api: ApiCaller, account: Account) -> None:
    nine = [signal(n, occurred_at=f"2026-11-25T10:{n:02d}:00Z") for n in range(9)]
    results = api.post("/signals", {"signals": nine}).json()["results"]
    assert {r["case"] for r in results} == {None}
    results = api.post(
        "/signals", {"signals": [signal(9, occurred_at="2026-11-25T10:30:00Z")]}
    ).json()["results"]
    case = Case.objects.get()
    assert results[0]["case"] == case.pk
    incident = Incident.objects.get()
    assert incident.signal_count == 10
    assert incident.case_id == case.pk
    # A later one within the window joins the same incident.
    api.post("/signals", {"signals": [signal(10, occurred_at="2026-11-25T11:00:00Z")]})
    incident.refresh_from_db()
    assert incident.signal_count == 11
    assert Incident.objects.count() == 1


def test_signals_spread_beyond_the_window_do_not_fire(api: ApiCaller, account: Account) -> None:
    spread = [signal(n, occurred_at=f"2026-11-{10 + n:02d}T10:00:00Z") for n in range(12)]
    api.post("/signals", {"signals": spread})
    assert Incident.objects.exists() is False


def test_critical_signal_opens_a_critical_case(
    api: ApiCaller, account: Account, policies: dict[str, PolicyClause]
) -> None:
    results = api.post(
        "/signals",
        {"signals": [signal(1, severity="critical", policy="competing-model-development")]},
    ).json()["results"]
    case = Case.objects.get()
    assert results[0]["case"] == case.pk
    assert case.priority == "critical"
    assert list(case.policies.values_list("code", flat=True)) == ["competing-model-development"]


def test_policy_rule_fires_for_a_cited_policy(
    api: ApiCaller, account: Account, policies: dict[str, PolicyClause]
) -> None:
    FlagRule.objects.create(
        name="Evasion", kind="policy_cited", policy=policies["rate-limit-evasion"], priority="high"
    )
    api.post("/signals", {"signals": [signal(1, severity="low", policy="rate-limit-evasion")]})
    assert Case.objects.get().priority == "high"


def test_signals_of_many_accounts_in_one_batch(api: ApiCaller, db: None) -> None:
    batch = [signal(n, account=f"acct-{n % 3}", severity="critical") for n in range(9)]
    api.post("/signals", {"signals": batch})
    assert Case.objects.count() == 3
    assert Incident.objects.count() == 3


def test_signals_write_scope_is_required(
    make_caller: Callable[..., ApiCaller], account: Account
) -> None:
    problem(make_caller("cases:write").post("/signals", {"signals": [signal(1)]}), 403)
    assert Signal.objects.exists() is False


@pytest.mark.parametrize(("role", "status"), [("auditor", 403), ("analyst", 202)])
def test_staff_roles_for_signals(
    staff: Callable[[str], ApiCaller], account: Account, role: str, status: int
) -> None:
    response = staff(role).post("/signals", {"signals": [signal(1)]})
    assert response.status_code == status
    if status == 202:
        assert Signal.objects.get().automated is False


# Each API client de-duplicates in a key space of its own: another pipeline that uses the same
# `source` and `dedupe_key` neither reads the first one's signals nor suppresses them.


def test_another_client_replaying_a_key_stores_its_own_signal_and_learns_nothing(
    make_caller: Callable[..., ApiCaller], account: Account
) -> None:
    # Given the first pipeline's critical signal, which opened a case
    first = make_caller("signals:write", name="pipeline")
    mine = first.post("/signals", {"signals": [signal(1, severity="critical")]}).json()
    (stored,) = mine["results"]
    assert stored["case"] == Case.objects.get().pk

    # When a second pipeline posts the same source and dedupe key (about another account)
    second = make_caller("signals:write", name="intruder")
    replay = second.post("/signals", {"signals": [signal(1, account="elsewhere")]}).json()

    # Then it is a new signal of the second pipeline's, with none of the first one's ids
    (result,) = replay["results"]
    assert (replay["stored"], replay["duplicates"]) == (1, 0)
    assert result["status"] == "stored"
    assert result["signal"] != stored["signal"]
    assert (result["incidents"], result["case"]) == ([], None)
    ours = Signal.objects.get(pk=result["signal"])
    assert (ours.client.name, ours.account.external_id) == ("intruder", "elsewhere")
    assert Signal.objects.get(pk=stored["signal"]).client.name == "pipeline"
    assert Incident.objects.count() == Case.objects.count() == 1


def test_a_key_posted_first_by_another_client_does_not_drop_the_real_signal(
    make_caller: Callable[..., ApiCaller], account: Account
) -> None:
    # Given another client that posted, ahead of time, a key the pipeline uses later
    intruder = make_caller("signals:write", name="intruder")
    planted = signal(1, severity="low", account="decoy")
    assert intruder.post("/signals", {"signals": [planted]}).json()["stored"] == 1

    # When the pipeline posts its real critical signal under that key
    pipeline = make_caller("signals:write", name="pipeline")
    body = pipeline.post("/signals", {"signals": [signal(1, severity="critical")]}).json()

    # Then it is stored and acted on: an incident and a critical case on the account
    (result,) = body["results"]
    assert result["status"] == "stored"
    case = Case.objects.get()
    assert (case.account_id, case.priority) == (account.pk, "critical")
    assert result["case"] == case.pk
    assert result["incidents"] == [Incident.objects.get().pk]
    assert Signal.objects.get(pk=result["signal"]).client.name == "pipeline"

    # And the pipeline's own retry is still a duplicate of its own signal
    again = pipeline.post("/signals", {"signals": [signal(1, severity="critical")]}).json()
    assert again["results"] == [{**result, "status": "duplicate"}]
    assert Signal.objects.count() == 2


def test_staff_share_one_key_space_apart_from_every_client(
    make_caller: Callable[..., ApiCaller], staff: Callable[[str], ApiCaller], account: Account
) -> None:
    pipeline = make_caller("signals:write", name="pipeline")
    theirs = pipeline.post("/signals", {"signals": [signal(1)]}).json()["results"][0]
    analyst, lead = staff("analyst"), staff("lead")
    first = analyst.post("/signals", {"signals": [signal(1)]}).json()["results"][0]
    again = lead.post("/signals", {"signals": [signal(1)]}).json()["results"][0]
    assert first["status"] == "stored"
    assert first["signal"] != theirs["signal"]
    assert again == {**first, "status": "duplicate"}
    assert Signal.objects.get(pk=first["signal"]).client is None


def test_a_signal_stored_without_a_client_is_no_duplicate_for_a_client(
    make_caller: Callable[..., ApiCaller], staff: Callable[[str], ApiCaller], account: Account
) -> None:
    # Given a signal that records no client (posted by staff, or stored before signals recorded
    # their client)
    old = Signal.objects.create(
        account=account,
        kind="rate_limit_exceeded",
        severity="medium",
        occurred_at="2026-11-25T10:00:00Z",
        source="ratelimiter",
        dedupe_key="rl-1",
    )
    # Then a client posting its key stores a signal of its own; staff find the old one
    pipeline = make_caller("signals:write", name="pipeline")
    result = pipeline.post("/signals", {"signals": [signal(1)]}).json()["results"][0]
    assert result["status"] == "stored"
    assert result["signal"] != old.pk
    by_staff = staff("analyst").post("/signals", {"signals": [signal(1)]}).json()["results"][0]
    assert (by_staff["status"], by_staff["signal"]) == ("duplicate", old.pk)
