"""Appeals in the API (decisions.md, Appeals): filed against a decision by the customer portal
(``appeals:write``), listed and read (``cases:read``), reviewed and decided (``cases:write``),
withdrawn by whoever files them (``appeals:write``). Parse, call one service, serialize."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_field
from rest_framework import exceptions, generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.permissions import request_actor
from accounts.choices import Scope
from accounts.idempotency import idempotent
from config.api import CursorPage, IdFilter, StrictSerializer, TextField

from ..actions import (
    APPEAL_ATTACHMENTS_MAX,
    MAX_REFERENCE,
    MAX_TEXT,
    SUBMITTED_BY_MAX,
    AppealDecide,
    AppealFile,
)
from ..choices import AppealOutcome, AppealState
from ..models import Appeal, ApprovalRequest
from ..services import appeal_decide, appeal_file, appeal_review_start, appeal_withdraw
from .approval_serializers import ApprovalCreatedSerializer, approval_created
from .decisions import REFERENCE
from .serializers import RestrictionInSerializer, _duration, _ends_at
from .views import ACTING_USER_PARAMETER, IDEMPOTENCY_HEADER

ACTOR_SCHEMA = {
    "type": "object",
    "nullable": True,
    "properties": {
        "kind": {"type": "string"},
        "label": {"type": "string"},
        "acted_by": {"type": "string"},
    },
}


def _actor(kind: str, label: str, acted_by: str) -> dict[str, str] | None:
    if not label:
        return None
    return {"kind": kind, "label": label, "acted_by": acted_by}


class AppealSerializer(serializers.ModelSerializer[Appeal]):
    decision = serializers.CharField(source="decision.reference")
    decision_kind = serializers.CharField(source="decision.kind")
    case = serializers.IntegerField(source="case_id")
    account = serializers.CharField(source="account.external_id")
    filed_by = serializers.SerializerMethodField()
    reviewer = serializers.SerializerMethodField()
    outcome = serializers.SerializerMethodField()
    overdue = serializers.BooleanField(source="is_overdue")

    class Meta:
        model = Appeal
        fields = [
            "id",
            "decision",
            "decision_kind",
            "case",
            "account",
            "state",
            "reason",
            "submitted_by",
            "attachments",
            "filed_by",
            "filed_at",
            "review_deadline",
            "overdue",
            "reviewer",
            "review_started_at",
            "decided_at",
            "outcome",
            "outcome_reason",
            "withdrawn_at",
        ]
        read_only_fields = fields

    @extend_schema_field(ACTOR_SCHEMA)
    def get_filed_by(self, appeal: Appeal) -> dict[str, str] | None:
        return _actor(appeal.filed_by_kind, appeal.filed_by_label, appeal.filed_by_acted_by)

    @extend_schema_field(ACTOR_SCHEMA)
    def get_reviewer(self, appeal: Appeal) -> dict[str, str] | None:
        return _actor(appeal.reviewer_kind, appeal.reviewer_label, appeal.reviewer_acted_by)

    @extend_schema_field(
        serializers.CharField(
            allow_null=True, help_text="The reference of the decision that decided the appeal."
        )
    )
    def get_outcome(self, appeal: Appeal) -> str | None:
        return appeal.outcome.reference if appeal.outcome is not None else None


class AppealFileSerializer(StrictSerializer):
    reason = TextField(max_length=MAX_TEXT, help_text="Why the decision is wrong.")
    submitted_by = TextField(
        max_length=SUBMITTED_BY_MAX, help_text="Who at the customer appeals (name or e-mail)."
    )
    attachments = serializers.ListField(
        child=TextField(max_length=MAX_REFERENCE),
        required=False,
        max_length=APPEAL_ATTACHMENTS_MAX,
        help_text="References or URLs of what supports the appeal (kept as given).",
    )

    def to_input(self) -> AppealFile:
        return AppealFile(**self.validated_data)


class AppealDecideSerializer(StrictSerializer):
    outcome = serializers.ChoiceField(choices=AppealOutcome.choices)
    reason = TextField(max_length=MAX_TEXT, help_text="The reasons, told to the account.")
    restriction = RestrictionInSerializer(
        required=False,
        help_text="`modified` only (and required there): the restriction that replaces the "
        "decision's, as on `suspend`.",
    )
    duration = _duration()
    ends_at = _ends_at()

    def to_input(self) -> AppealDecide:
        data = dict(self.validated_data)
        if "restriction" in data:
            data["restriction"] = RestrictionInSerializer().as_input(data["restriction"])
        return AppealDecide(**data)


class AppealReviewSerializer(StrictSerializer):
    note = TextField(
        max_length=MAX_TEXT,
        required=False,
        allow_blank=True,
        help_text="Recorded with the review's start on the case's timeline.",
    )


class AppealWithdrawSerializer(StrictSerializer):
    reason = TextField(max_length=MAX_TEXT, required=False, allow_blank=True)


def appeals_queryset() -> QuerySet[Appeal]:
    return Appeal.objects.select_related("decision", "account", "outcome")


def _appeal_body(appeal_id: int) -> dict[str, Any]:
    return dict(AppealSerializer(appeals_queryset().get(pk=appeal_id)).data)


APPEAL_EXAMPLE = {
    "id": 7,
    "decision": "sor_4f9c2b0d6e8a4c1fb2d35e7a9c0b1d2e",
    "decision_kind": "suspend",
    "case": 42,
    "account": "acme-ai",
    "state": "received",
    "reason": "The traffic was our evaluation harness, not distillation.",
    "submitted_by": "cto@acme.example",
    "attachments": ["https://acme.example/evidence/eval-harness.pdf"],
    "filed_by": {"kind": "api_client", "label": "api:portal", "acted_by": "automation"},
    "filed_at": "2026-12-01T09:00:00Z",
    "review_deadline": "2026-12-15T09:00:00Z",
    "overdue": False,
    "reviewer": None,
    "review_started_at": None,
    "decided_at": None,
    "outcome": None,
    "outcome_reason": "",
    "withdrawn_at": None,
}


class DecisionAppealsApi(APIView):
    scopes = {"POST": Scope.APPEALS_WRITE}

    @extend_schema(
        operation_id="decisions_appeal",
        summary="Appeal a decision on the account's behalf",
        description=(
            "For the customer portal or support tooling (`appeals:write`). Open for "
            "`APPEAL_WINDOW_DAYS` (default 183) after the decision; afterwards 409 "
            "`appeal_window_closed`. While another appeal of the decision is open: 409 "
            "`appeal_already_open`. A `warn` or `restriction_expired` decision: 409 "
            "`not_appealable`. Nothing is stored on a refusal. The account is told of the "
            "receipt by e-mail; the appeal is due to be decided by `review_deadline`."
        ),
        request=AppealFileSerializer,
        responses={201: AppealSerializer},
        parameters=[IDEMPOTENCY_HEADER, ACTING_USER_PARAMETER],
        examples=[
            OpenApiExample(
                "appeal",
                request_only=True,
                value={
                    "reason": APPEAL_EXAMPLE["reason"],
                    "submitted_by": APPEAL_EXAMPLE["submitted_by"],
                    "attachments": APPEAL_EXAMPLE["attachments"],
                },
            ),
            OpenApiExample(
                "received", response_only=True, status_codes=["201"], value=APPEAL_EXAMPLE
            ),
        ],
        tags=["appeals"],
    )
    @idempotent
    def post(self, request: Request, reference: str) -> Response:
        if not REFERENCE.match(reference):
            raise exceptions.NotFound(f"No decision '{reference}'.")
        body = AppealFileSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        appeal = appeal_file(
            decision=reference, command=body.to_input(), actor=request_actor(request)
        )
        return Response(_appeal_body(appeal.pk), status=status.HTTP_201_CREATED)


class AppealFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(choices=AppealState.choices)
    account = django_filters.CharFilter(field_name="account__external_id", max_length=128)
    case = IdFilter(field_name="case_id")

    class Meta:
        model = Appeal
        fields = ["state", "account", "case"]


class AppealListApi(generics.ListAPIView[Appeal]):
    scopes = {"GET": Scope.CASES_READ}
    serializer_class = AppealSerializer
    pagination_class = CursorPage
    filterset_class = AppealFilter

    def get_queryset(self) -> Any:
        return appeals_queryset()

    @extend_schema(
        operation_id="appeals_list",
        summary="List appeals, newest first",
        description="Filter by `state` (e.g. `received`, `in_review`), `account` and `case`.",
        examples=[
            OpenApiExample(
                "a page",
                response_only=True,
                value={"next": None, "previous": None, "results": [APPEAL_EXAMPLE]},
            )
        ],
        tags=["appeals"],
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class AppealDetailApi(APIView):
    scopes = {"GET": Scope.CASES_READ}

    @extend_schema(
        operation_id="appeals_get",
        summary="One appeal",
        responses={200: AppealSerializer},
        examples=[OpenApiExample("received", response_only=True, value=APPEAL_EXAMPLE)],
        tags=["appeals"],
    )
    def get(self, request: Request, appeal_id: int) -> Response:
        if not Appeal.objects.filter(pk=appeal_id).exists():
            raise exceptions.NotFound(f"No appeal {appeal_id}.")
        return Response(_appeal_body(appeal_id))


REVIEWER_RULES = (
    "The reviewer must have taken no part in the appealed decision (not its decider, the same "
    "staff member or the same API client): else 403 `conflict_of_interest`. Investigators and "
    "leads review; a termination's appeal needs a lead. An automated decision's appeal is "
    "reviewed by a person (a staff member, or a staff tool naming one): an automation gets 403 "
    "`person_required`."
)


class AppealReviewApi(APIView):
    scopes = {"POST": Scope.CASES_WRITE}

    @extend_schema(
        operation_id="appeals_review",
        summary="Take a received appeal into review",
        description="The caller becomes its reviewer; the appeal must be `received` (else 409 "
        "`appeal_not_open`). " + REVIEWER_RULES,
        request=AppealReviewSerializer,
        responses={200: AppealSerializer},
        parameters=[IDEMPOTENCY_HEADER, ACTING_USER_PARAMETER],
        examples=[
            OpenApiExample(
                "take it", request_only=True, value={"note": "Checking the harness logs."}
            )
        ],
        tags=["appeals"],
    )
    @idempotent
    def post(self, request: Request, appeal_id: int) -> Response:
        body = AppealReviewSerializer(data=request.data or {})
        body.is_valid(raise_exception=True)
        appeal = appeal_review_start(
            appeal=appeal_id,
            actor=request_actor(request),
            note=body.validated_data.get("note", ""),
        )
        return Response(_appeal_body(appeal.pk))


class AppealDecideApi(APIView):
    scopes = {"POST": Scope.CASES_WRITE}

    @extend_schema(
        operation_id="appeals_decide",
        summary="Decide an appeal",
        description=(
            "The outcome is a decision of its own with a statement of reasons: `upheld` changes "
            "nothing; `overturned` lifts the appealed decision's restrictions still in force "
            "(an enforcement change, the reinstatement notice, `enforcement.reinstated`); "
            "`modified` replaces them by `restriction` (required), for `duration` or until "
            "`ends_at` if given. The account is told of the outcome with the reasons and where "
            "to take the dispute further. Overturning or modifying a termination needs a "
            "second lead: a lead's `overturned` or `modified` answers 202 with a pending "
            "`lift_termination` approval request (`POST /approvals/{id}/approve` by another lead "
            "who took no part in the termination carries it out); the termination stays in force "
            "meanwhile. An appeal no longer open: 409 "
            "`appeal_not_open`. " + REVIEWER_RULES
        ),
        request=AppealDecideSerializer,
        responses={200: AppealSerializer, 202: ApprovalCreatedSerializer},
        parameters=[IDEMPOTENCY_HEADER, ACTING_USER_PARAMETER],
        examples=[
            OpenApiExample(
                "overturn",
                request_only=True,
                value={
                    "outcome": "overturned",
                    "reason": "The requests came from the customer's own evaluation harness.",
                },
            ),
            OpenApiExample(
                "modify to a 30-day rate limit",
                request_only=True,
                value={
                    "outcome": "modified",
                    "reason": "A suspension goes further than the breach calls for.",
                    "restriction": {"kind": "rate_limit", "requests_per_minute": 10},
                    "duration": "P30D",
                },
            ),
        ],
        tags=["appeals"],
    )
    @idempotent
    def post(self, request: Request, appeal_id: int) -> Response:
        body = AppealDecideSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        done = appeal_decide(
            appeal=appeal_id, command=body.to_input(), actor=request_actor(request)
        )
        if isinstance(done, ApprovalRequest):
            return Response(approval_created(done), status=status.HTTP_202_ACCEPTED)
        return Response(_appeal_body(done.pk))


class AppealWithdrawApi(APIView):
    scopes = {"POST": Scope.APPEALS_WRITE}

    @extend_schema(
        operation_id="appeals_withdraw",
        summary="Withdraw an open appeal on the account's behalf",
        description="The appeal must be `received` or `in_review` (else 409 `appeal_not_open`).",
        request=AppealWithdrawSerializer,
        responses={200: AppealSerializer},
        parameters=[IDEMPOTENCY_HEADER, ACTING_USER_PARAMETER],
        examples=[
            OpenApiExample(
                "withdraw", request_only=True, value={"reason": "Resolved with our account team."}
            )
        ],
        tags=["appeals"],
    )
    @idempotent
    def post(self, request: Request, appeal_id: int) -> Response:
        body = AppealWithdrawSerializer(data=request.data or {})
        body.is_valid(raise_exception=True)
        appeal = appeal_withdraw(
            appeal=appeal_id,
            actor=request_actor(request),
            reason=body.validated_data.get("reason", ""),
        )
        return Response(_appeal_body(appeal.pk))
