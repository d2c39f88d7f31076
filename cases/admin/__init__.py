"""The Django admin of the cases app, and the branding of the admin site.

``case``: queues, the case page and every action on a case (through ``cases.services``);
``policies``: versioned policy clauses; ``records``: signals, timelines and rules;
``decisions``: decisions with their statements, read-only (and where staff record an appeal);
``approvals``: the four-eyes queue; ``appeals``: the appeals queue and the appeal page;
``schedule``: the beat schedule, which only leads change.
"""

from django.contrib import admin

from . import appeals, approvals, case, decisions, policies, records, schedule

admin.site.site_header = "Trust & Safety cases"
admin.site.site_title = "Trust & Safety cases"
admin.site.index_title = "Case management"
admin.site.site_url = None  # no public site to go back to

__all__ = ["appeals", "approvals", "case", "decisions", "policies", "records", "schedule"]
