"""Decisions in the API: one by its reference, and a case's, oldest first (decisions.md)."""

from __future__ import annotations

import re
from typing import Any

from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import exceptions, generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.serializers import RestrictionSerializer
from accounts.choices import Scope
from config.api import OldestFirstCursorPage
from config.times import iso, iso_or_none

from ..choices import DecisionKind
from ..enforcement import restriction_view
from ..models import Case, Decision, Restriction

REFERENCE = re.compile(r"^sor_[0-9a-f]{32}$")
ACTOR = {
    "type": "object",
    "properties": {
        "kind": {"type": "string"},
        "label": {"type": "string"},
        "acted_by": {"type": "string"},
    },
}


class DecisionRestrictionSerializer(RestrictionSerializer):
    ended_at = serializers.DateTimeField(
        allow_null=True, help_text="When a later decision ended it, or it ran out."
    )
    ended_by = serializers.CharField(
        allow_null=True, help_text="The reference of the decision that ended it."
    )


class DecisionSerializer(serializers.ModelSerializer[Decision]):
    case = serializers.IntegerField(source="case_id")
    account = serializers.CharField(source="account.external_id")
    decided_by = serializers.SerializerMethodField()
    restrictions = serializers.SerializerMethodField()
    delivered_to = serializers.SerializerMethodField()
    approval = serializers.SerializerMethodField()

    class Meta:
        model = Decision
        fields = [
            "reference",
            "kind",
            "case",
            "account",
            "decided_at",
            "decided_by",
            "automated",
            "reason",
            "policy_versions",
            "override_reason",
            "restrictions",
            "lifted",
            "statement",
            "delivered_to",
            "approval",
        ]
        read_only_fields = fields

    @extend_schema_field(
        {
            "type": "object",
            "properties": {
                "kind": {"type": "string"},
                "label": {"type": "string"},
                "acted_by": {"type": "string"},
            },
        }
    )
    def get_decided_by(self, decision: Decision) -> dict[str, Any]:
        return {
            "kind": decision.actor_kind,
            "label": decision.actor_label,
            "acted_by": decision.acted_by,
        }

    @extend_schema_field(
        {
            "type": "object",
            "nullable": True,
            "description": "The four-eyes approval the decision was made on: who proposed and "
            "who approved, with their comments and times. Null for a decision that needs none.",
            "properties": {
                "id": {"type": "integer"},
                "proposed_by": ACTOR,
                "proposed_at": {"type": "string", "format": "date-time"},
                "comment": {"type": "string"},
                "approved_by": ACTOR,
                "approved_at": {"type": "string", "format": "date-time"},
                "approval_comment": {"type": "string"},
            },
        }
    )
    def get_approval(self, decision: Decision) -> dict[str, Any] | None:
        approvals = list(decision.approvals.all())
        if not approvals:
            return None
        approval = approvals[0]
        return {
            "id": approval.pk,
            "proposed_by": {
                "kind": approval.proposed_by_kind,
                "label": approval.proposed_by_label,
                "acted_by": approval.proposed_by_acted_by,
            },
            "proposed_at": iso(approval.proposed_at),
            "comment": approval.comment,
            "approved_by": {
                "kind": approval.decided_by_kind,
                "label": approval.decided_by_label,
                "acted_by": approval.decided_by_acted_by,
            },
            "approved_at": iso_or_none(approval.decided_at),
            "approval_comment": approval.decision_comment,
        }

    @extend_schema_field(DecisionRestrictionSerializer(many=True))
    def get_restrictions(self, decision: Decision) -> list[dict[str, Any]]:
        """The restrictions this decision imposed, with how they ended, if they did."""
        return [
            {
                **restriction_view(r, decision.reference),
                "ended_at": iso_or_none(r.ended_at),
                "ended_by": r.ended_by.reference if r.ended_by is not None else None,
            }
            for r in decision.restrictions.all()
        ]

    @extend_schema_field(
        serializers.ListField(
            child=serializers.DictField(),
            help_text="The e-mails that carried the statement: recipient and delivery status. "
            "Empty when the account has no contact (staff are warned on the case).",
        )
    )
    def get_delivered_to(self, decision: Decision) -> list[dict[str, Any]]:
        from notifications.selectors import statement_deliveries

        return statement_deliveries(reference=decision.reference)


def decisions_queryset() -> QuerySet[Decision]:
    return Decision.objects.select_related("account").prefetch_related(
        Prefetch(
            "restrictions",
            queryset=Restriction.objects.select_related("ended_by").order_by("id"),
        ),
        "approvals",
    )


class DecisionDetailApi(generics.RetrieveAPIView[Decision]):
    scopes = {"GET": Scope.CASES_READ}
    serializer_class = DecisionSerializer

    def get_object(self) -> Decision:
        reference = self.kwargs["reference"]
        found = (
            decisions_queryset().filter(reference=reference).first()
            if REFERENCE.match(reference)
            else None
        )
        if found is None:
            raise exceptions.NotFound(f"No decision '{reference}'.")
        return found

    @extend_schema(
        operation_id="decisions_get",
        summary="A decision with its statement of reasons",
        description="Kinds: " + ", ".join(DecisionKind.values) + ".",
        tags=["decisions"],
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class CaseDecisionsApi(generics.ListAPIView[Decision]):
    scopes = {"GET": Scope.CASES_READ}
    serializer_class = DecisionSerializer
    pagination_class = OldestFirstCursorPage

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return Decision.objects.none()
        case_id = self.kwargs["case_id"]
        if not Case.objects.filter(pk=case_id).exists():
            raise exceptions.NotFound(f"No case {case_id}.")
        return decisions_queryset().filter(case_id=case_id).order_by("decided_at", "id")

    @extend_schema(
        operation_id="cases_decisions",
        summary="The case's decisions, oldest first",
        tags=["decisions"],
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)
