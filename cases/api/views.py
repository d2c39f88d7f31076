"""Signals and cases: parse, call one service or selector, serialize."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import exceptions, generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.permissions import ACTING_USER_HEADER, acting_user, request_actor
from accounts.choices import Scope
from accounts.idempotency import HEADER, KEY_PATTERN, idempotent
from accounts.models import Account, ApiClient
from cases.choices import CaseState, Priority
from cases.export import case_export
from cases.intake import signal_batch, signals_ingest
from cases.models import ApprovalRequest, Case, CaseEvent, RemediationItem
from cases.selectors import (
    case_events,
    case_filter_overdue,
    case_get,
    case_list,
    case_signal_count,
    case_signals,
)
from cases.services import case_act, case_open, plan_item_verify
from cases.workflow import allowed_actions
from config.api import CursorPage, OldestFirstCursorPage
from core.actors import user_role
from core.roles import Role, role_weaker

from .approval_serializers import ApprovalCreatedSerializer, approval_created
from .serializers import (
    CaseDetailSerializer,
    CaseEventSerializer,
    CaseOpenSerializer,
    CaseSerializer,
    PlanItemVerifySerializer,
    SignalBatchResultSerializer,
    SignalBatchSerializer,
    TransitionSerializer,
    transition_body,
)

IDEMPOTENCY_HEADER = OpenApiParameter(
    HEADER,
    {"type": "string", "pattern": KEY_PATTERN},
    OpenApiParameter.HEADER,
    required=False,
    description=(
        "Retry safely: the same key with the same body answers the first response again; "
        "with another body 422; while the first still runs 409. Kept 24 hours. 1 to 255 "
        "visible ASCII characters (spaces inside); any other key is a 400."
    ),
)

ACTING_USER_PARAMETER = OpenApiParameter(
    ACTING_USER_HEADER,
    str,
    OpenApiParameter.HEADER,
    required=False,
    description=(
        "Only with the key of a staff tool (`create_api_client --staff-tool`): the username of the "
        "staff member using the tool. They must be active staff whose role allows the operation; "
        "they are recorded as the one who acted, bounded by both roles. Without it a key acts as "
        "an automation. Any other key or a session sending it: 403 `acting_user_not_allowed`; an "
        "unknown, inactive or unentitled person: 403 `acting_user_refused`; a malformed name: 400 "
        "`invalid_acting_user`."
    ),
)

SIGNAL_EXAMPLE = {
    "signals": [
        {
            "account": "acme-ai",
            "kind": "rate_limit_exceeded",
            "severity": "medium",
            "occurred_at": "2026-11-25T10:00:00Z",
            "source": "ratelimiter",
            "dedupe_key": "rl-acme-0001",
            "evidence": {"requests_per_minute": 9000},
        }
    ]
}


class SignalBatchApi(APIView):
    scopes = {"POST": Scope.SIGNALS_WRITE}

    @extend_schema(
        operation_id="signals_post",
        summary="Post a batch of up to 1,000 signals",
        description=(
            "All or nothing: if any signal is invalid the answer is 422 with one error per bad "
            "item (`index`, `field`) and nothing is stored. Otherwise 202 with a result per "
            "signal: `stored`, or `duplicate` when the same API client posted its `source` + "
            "`dedupe_key` before, and the incidents and case it joined. Each client's keys are "
            "its own: another client's signals are never matched. Unknown accounts are created."
        ),
        request=SignalBatchSerializer,
        responses={202: SignalBatchResultSerializer},
        parameters=[IDEMPOTENCY_HEADER, ACTING_USER_PARAMETER],
        examples=[
            OpenApiExample("one signal", request_only=True, value=SIGNAL_EXAMPLE),
            OpenApiExample(
                "stored into a case",
                response_only=True,
                status_codes=["202"],
                value={
                    "stored": 1,
                    "duplicates": 0,
                    "results": [
                        {
                            "index": 0,
                            "status": "stored",
                            "signal": 981,
                            "incidents": [12],
                            "case": 42,
                        }
                    ],
                },
            ),
        ],
        tags=["signals"],
    )
    @idempotent
    def post(self, request: Request) -> Response:
        batch = signal_batch(request.data)
        results = signals_ingest(batch=batch, actor=request_actor(request))
        stored = sum(1 for r in results if r["status"] == "stored")
        return Response(
            {"stored": stored, "duplicates": len(results) - stored, "results": results},
            status=status.HTTP_202_ACCEPTED,
        )


class CaseFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(choices=CaseState.choices)
    account = django_filters.CharFilter(field_name="account__external_id", max_length=128)
    priority = django_filters.ChoiceFilter(choices=Priority.choices)
    assignee = django_filters.CharFilter(field_name="assignee__username", max_length=150)
    policy = django_filters.CharFilter(field_name="policies__code", max_length=64)
    overdue = django_filters.ChoiceFilter(
        choices=[("true", "true"), ("false", "false")], method="filter_overdue"
    )

    class Meta:
        model = Case
        fields = ["state", "account", "priority", "assignee", "policy", "overdue"]

    def filter_overdue(self, queryset: QuerySet[Case], name: str, value: str) -> QuerySet[Case]:
        return case_filter_overdue(queryset, value == "true")


def _detail(case_id: int, request: Request) -> dict[str, Any]:
    case = case_get(case_id=case_id)
    if case is None:
        raise exceptions.NotFound(f"No case {case_id}.")
    actor = request_actor(request)
    context = {
        "signals": case_signals(case=case),
        "signal_count": case_signal_count(case=case),
        "allowed_actions": allowed_actions(case.state, actor.role),
    }
    return dict(CaseDetailSerializer(case, context=context).data)


class CaseListApi(generics.ListAPIView[Case]):
    scopes = {"GET": Scope.CASES_READ, "POST": Scope.CASES_WRITE}
    serializer_class = CaseSerializer
    pagination_class = CursorPage
    filterset_class = CaseFilter

    def get_queryset(self) -> Any:
        return case_list()

    @extend_schema(
        operation_id="cases_list",
        summary="List cases, newest first",
        description="Filter by state, account, priority, assignee, policy and overdue.",
        tags=["cases"],
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="cases_open",
        summary="Open a flagged case by hand",
        description="The account must be known and have no open case (else 409).",
        request=CaseOpenSerializer,
        responses={201: CaseDetailSerializer},
        parameters=[IDEMPOTENCY_HEADER, ACTING_USER_PARAMETER],
        examples=[
            OpenApiExample(
                "report",
                request_only=True,
                value={
                    "account": "acme-ai",
                    "summary": "Press report of model distillation",
                    "priority": "high",
                    "policies": ["competing-model-development"],
                },
            )
        ],
        tags=["cases"],
    )
    @idempotent
    def post(self, request: Request) -> Response:
        serializer = CaseOpenSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        account = Account.objects.filter(external_id=data["account"]).first()
        if account is None:
            raise exceptions.ValidationError({"account": [f"No account '{data['account']}'."]})
        case = case_open(
            account=account,
            summary=data["summary"],
            actor=request_actor(request),
            priority=data["priority"],
            policies=data.get("policies", []),
            report=data.get("report", ""),
        )
        return Response(_detail(case.pk, request), status=status.HTTP_201_CREATED)


class CaseDetailApi(APIView):
    scopes = {"GET": Scope.CASES_READ}

    @extend_schema(
        operation_id="cases_get",
        summary="One case with its signals and the actions the caller may take now",
        responses={200: CaseDetailSerializer},
        parameters=[ACTING_USER_PARAMETER],
        tags=["cases"],
    )
    def get(self, request: Request, case_id: int) -> Response:
        return Response(_detail(case_id, request))


class CaseTransitionApi(APIView):
    scopes = {"POST": Scope.CASES_WRITE}

    @extend_schema(
        operation_id="cases_transition",
        summary="Move a case along the workflow",
        description=(
            "The body is the action's own, chosen by `action`: one schema per action below "
            "(workflow.md). Required input absent or blank: 422 `missing_input`; a field the "
            "action does not take: 422. Not allowed from the current state, or "
            "`expected_state` no longer true: 409.\n\n"
            "`terminate` needs four eyes: it is checked as now (a 409 "
            "`violation_not_confirmed` without an `override_reason` when no violation was "
            "confirmed) and answers 202 with a pending approval request; the case stays "
            "investigated, the suspension in force, until a different lead approves it "
            "(`POST /approvals/{id}/approve`). One request may be pending per case (else 409 "
            "`approval_pending`)."
        ),
        request=TransitionSerializer,
        responses={200: CaseDetailSerializer, 202: ApprovalCreatedSerializer},
        parameters=[IDEMPOTENCY_HEADER, ACTING_USER_PARAMETER],
        examples=[
            OpenApiExample(
                "suspend",
                request_only=True,
                value={
                    "action": "suspend",
                    "expected_state": "flagged",
                    "reason": "Distillation of model outputs at scale",
                    "policies": ["competing-model-development"],
                },
            ),
            OpenApiExample(
                "investigate with a plan",
                request_only=True,
                value={
                    "action": "investigate",
                    "expected_state": "suspended",
                    "findings": "Confirmed from logs",
                    "violation_confirmed": True,
                    "evidence": ["logs://query/123"],
                    "remediation": {"items": ["Delete the distilled model"], "deadline_days": 14},
                },
            ),
            OpenApiExample(
                "terminate (proposed for approval)",
                request_only=True,
                value={
                    "action": "terminate",
                    "expected_state": "investigated",
                    "rationale": "Deliberate, repeated distillation after a warning",
                },
            ),
            OpenApiExample(
                "terminate: pending approval",
                response_only=True,
                status_codes=["202"],
                value={
                    "approval": {
                        "id": 7,
                        "action": "terminate",
                        "state": "pending",
                        "proposed_by": {"kind": "staff", "label": "lead-ana", "acted_by": "person"},
                        "expires_at": "2026-11-28T10:00:00Z",
                    }
                },
            ),
        ],
        tags=["cases"],
    )
    @idempotent
    def post(self, request: Request, case_id: int) -> Response:
        command, expected = transition_body(request.data)
        done = case_act(
            case=case_id, command=command, actor=request_actor(request), expected_state=expected
        )
        if isinstance(done, ApprovalRequest):
            return Response(approval_created(done), status=status.HTTP_202_ACCEPTED)
        return Response(_detail(done.pk, request))


class CaseEventsApi(generics.ListAPIView[CaseEvent]):
    scopes = {"GET": Scope.CASES_READ}
    serializer_class = CaseEventSerializer
    pagination_class = OldestFirstCursorPage

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return CaseEvent.objects.none()
        case_id = self.kwargs["case_id"]
        if not Case.objects.filter(pk=case_id).exists():
            raise exceptions.NotFound(f"No case {case_id}.")
        return case_events(case_id=case_id)

    @extend_schema(
        operation_id="cases_events",
        summary="The case's timeline, oldest first",
        tags=["cases"],
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class PlanItemVerifyApi(APIView):
    """Mark one required change of the remediation plan as verified (investigators and up)."""

    scopes = {"POST": Scope.CASES_WRITE}

    @extend_schema(
        operation_id="cases_plan_item_verify",
        summary="Verify one item of the remediation plan",
        description=(
            "The case must be investigated (else 409 `plan_closed`). Needs an investigator or "
            "lead (or a client whose role is one); `remediate` is refused until every item is "
            "verified. Verifying an item twice changes nothing."
        ),
        request=PlanItemVerifySerializer,
        responses={200: CaseDetailSerializer},
        parameters=[IDEMPOTENCY_HEADER, ACTING_USER_PARAMETER],
        examples=[
            OpenApiExample(
                "verify",
                request_only=True,
                value={"note": "Deletion certificate signed by the CTO, checked against logs"},
            )
        ],
        tags=["cases"],
    )
    @idempotent
    def post(self, request: Request, case_id: int, item_id: int) -> Response:
        serializer = PlanItemVerifySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if not RemediationItem.objects.filter(pk=item_id, plan__case_id=case_id).exists():
            raise exceptions.NotFound(f"Case {case_id} has no remediation item {item_id}.")
        plan_item_verify(
            item=item_id,
            actor=request_actor(request),
            note=serializer.validated_data.get("note", ""),
        )
        return Response(_detail(case_id, request))


class CaseExportApi(APIView):
    """The whole record of a case, verifiable on its own (auditors and leads)."""

    scopes = {"GET": Scope.CASES_READ}

    @extend_schema(
        operation_id="cases_export",
        summary="Export the case record with its hash chain",
        description=(
            "Account, signals, the policy versions cited with their text, the timeline with "
            "hashes, enforcement changes and notices with deliveries, as one JSON document. "
            "Staff: auditors and leads. API clients: `cases:read` and the auditor or lead role."
        ),
        responses={200: OpenApiTypes.OBJECT},
        parameters=[ACTING_USER_PARAMETER],
        tags=["cases"],
    )
    def get(self, request: Request, case_id: int) -> Response:
        # A client's stored role counts here even without cases:write (an export only reads);
        # a staff tool's named person needs the role too.
        if isinstance(request.auth, ApiClient):
            role: str | None = request.auth.role
            person = acting_user(request)
            if person is not None:
                role = role_weaker(role, user_role(person))
        else:
            role = user_role(request.user)
        if role not in (Role.AUDITOR, Role.LEAD):
            raise exceptions.PermissionDenied(
                f"Exports are for auditors and leads; your role is {role or 'none'}."
            )
        try:
            return Response(case_export(case_id=case_id))
        except Case.DoesNotExist:
            raise exceptions.NotFound(f"No case {case_id}.") from None
