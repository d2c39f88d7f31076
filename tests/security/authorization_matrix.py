"""Who may do what: the one table that the authorization test checks and that documents it.

Principals: ``anonymous`` (no credentials), ``revoked`` (a key that was revoked, which held every
scope), ``key:<scope>`` (a key holding only that scope, with the lead role so that only the scope
decides; the key of a partner scope is bound to the partner ``cloudco``), and the staff personas
``analyst``, ``investigator``, ``lead``, ``auditor``, and ``norole`` (a staff account in no role
group).

Each operation maps to the set of principals that may perform it; every other principal must be
refused (401/403 in the API; 403, a login redirect, or no effect in the admin).
"""

from __future__ import annotations

STAFF = ("analyst", "investigator", "lead", "auditor", "norole")
SCOPES = (
    "enforcement:read",
    "signals:write",
    "accounts:read",
    "accounts:write",
    "cases:read",
    "cases:write",
    "appeals:write",
    "partner:read",
    "partner:report",
)
KEYS = tuple(f"key:{s}" for s in SCOPES)
PRINCIPALS = ("anonymous", "revoked", *KEYS, *STAFF)

READERS = {"analyst", "investigator", "lead", "auditor"}
WORKERS = {"analyst", "investigator", "lead"}
INVESTIGATORS = {"investigator", "lead"}
LEADS = {"lead"}

API: dict[str, set[str]] = {
    "GET /accounts": {"key:accounts:read", *READERS},
    "GET /accounts/{account}": {"key:accounts:read", *READERS},
    "PUT /accounts/{account}": {"key:accounts:write", *LEADS},
    "GET /accounts/{account}/links": {"key:accounts:read", *READERS},
    "GET /partners": {"key:accounts:read", *READERS},
    "GET /partners/{partner}": {"key:accounts:read", *READERS},
    "PUT /partners/{partner}": {"key:accounts:write", *LEADS},
    "POST /signals": {"key:signals:write", *WORKERS},
    "GET /cases": {"key:cases:read", *READERS},
    "POST /cases": {"key:cases:write", *WORKERS},
    "GET /cases/{case}": {"key:cases:read", *READERS},
    "POST /cases/{case}/transitions": {"key:cases:write", *WORKERS},  # dismiss a flagged case
    "GET /cases/{case}/events": {"key:cases:read", *READERS},
    "GET /cases/{case}/notices": {"key:cases:read", *READERS},
    "GET /cases/{planned}/decisions": {"key:cases:read", *READERS},
    "GET /decisions/{decision}": {"key:cases:read", *READERS},
    "POST /cases/{planned}/plan/items/{item}/verify": {"key:cases:write", *INVESTIGATORS},
    "GET /cases/{case}/export": {"key:cases:read", "auditor", "lead"},
    "GET /cases/{case}/evidence": {"key:cases:read", *READERS},
    "POST /cases/{case}/evidence": {"key:cases:write", *WORKERS},  # multipart
    "GET /evidence/{evidence}": {"key:cases:read", *READERS},  # a download: on its custody log
    "GET /evidence/{evidence}/record": {"key:cases:read", *READERS},
    "GET /approvals": {"key:cases:read", *READERS},
    "GET /approvals/{approval}": {"key:cases:read", *READERS},
    # A lead other than the proposer (a key with the lead role counts as one).
    "POST /approvals/{approval}/approve": {"key:cases:write", *LEADS},
    "POST /approvals/{approval}/reject": {"key:cases:write", *LEADS},
    "POST /decisions/{decision}/appeals": {"key:appeals:write", *WORKERS},
    "GET /appeals": {"key:cases:read", *READERS},
    "GET /appeals/{appeal}": {"key:cases:read", *READERS},
    # Of a decision a staff member took: any other investigator or lead (or a client's role).
    "POST /appeals/{appeal}/review": {"key:cases:write", *INVESTIGATORS},
    "POST /appeals/{appeal}/decide": {"key:cases:write", *INVESTIGATORS},
    "POST /appeals/{appeal}/withdraw": {"key:appeals:write", *WORKERS},
    "GET /enforcement/{account}": {"key:enforcement:read", *READERS},
    "POST /enforcement/check": {"key:enforcement:read", *READERS},
    "GET /enforcement/changes": {"key:enforcement:read", *READERS},
    "GET /enforcement/snapshot": {"key:enforcement:read", *READERS},
    # The gateway's key in x-tns-key (the test puts a principal's key there); no session.
    "GET /gateway/authz": {"key:enforcement:read"},
    "GET /gateway/authz/{rest}": {"key:enforcement:read"},
    # A partner's own key only; no staff session (partners.md). That a partner sees nothing of
    # another partner's accounts is tested in tests/notifications/test_partner_api.py.
    "GET /partner/changes": {"key:partner:read"},
    "POST /partner/changes/{change}/acknowledge": {"key:partner:report"},
    "POST /partner/changes/{change}/report": {"key:partner:report"},
}

# Open to everyone, by design: liveness, readiness and the API's description.
PUBLIC = ("GET /healthz", "GET /readyz", "GET /api/v1/schema", "GET /api/v1/docs")

ADMIN: dict[str, set[str]] = {
    "view the case queue": READERS,
    "view a case": READERS,
    "view the timeline": READERS,
    "view notices": READERS,
    "suspend a flagged case": WORKERS,
    "dismiss a flagged case": WORKERS,
    "investigate a suspended case": INVESTIGATORS,
    "remediate an investigated case": INVESTIGATORS,
    "propose a termination": LEADS,
    "view the approvals queue": READERS,
    "view an approval request": READERS,
    "approve a termination": LEADS,  # a lead other than the proposer
    "reject a termination": LEADS,
    "dismiss an investigated case": INVESTIGATORS,
    "bulk suspend": WORKERS,
    "take an unassigned case": WORKERS,
    "reassign a case": LEADS,
    "set priority": LEADS,
    "add a note": WORKERS,
    "add evidence": WORKERS,
    "verify a plan item": INVESTIGATORS,
    "open a case": WORKERS,
    "add a flag rule": LEADS,
    "add a policy": LEADS,
    "edit review deadlines": LEADS,
    "add a webhook endpoint": LEADS,
    "add a partner": LEADS,
    "change the beat schedule": LEADS,
    "redeliver a notice": INVESTIGATORS,
    "view the appeals queue": READERS,
    "view an appeal": READERS,
    "record an appeal": WORKERS,
    # Of a decision someone else took; the one who took it is refused (conflict of interest).
    "start an appeal's review": INVESTIGATORS,
    "decide an appeal": INVESTIGATORS,
    "withdraw an appeal": WORKERS,
    "edit an account": set(),  # derived from billing over the API; superusers only
    "view the ban evasion queue": READERS,
    "mark a link false positive": LEADS,
    "add a common domain": LEADS,
    "tune an identifier kind": LEADS,
}
