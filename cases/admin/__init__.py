"""The Django admin of the cases app (the site itself, its dashboard and branding, is
``cases.dashboard.WorkbenchSite``).

``case``: queues, the case page and every action on a case (through ``cases.services``);
``policies``: versioned policy clauses; ``records``: signals, timelines and rules;
``decisions``: decisions with their statements, read-only (and where staff record an appeal);
``approvals``: the four-eyes queue; ``appeals``: the appeals queue and the appeal page;
``holds``: legal holds, which only leads place and release;
``schedule``: the beat schedule, which only leads change;
``canned_reasons``: the reasons leads keep for the transition and bulk forms.
"""

from . import (
    appeals,
    approvals,
    canned_reasons,
    case,
    decisions,
    holds,
    policies,
    records,
    schedule,
)

__all__ = [
    "appeals",
    "approvals",
    "canned_reasons",
    "case",
    "decisions",
    "holds",
    "policies",
    "records",
    "schedule",
]
