from django.urls import path

from . import appeals, approvals, decisions, evidence, views

urlpatterns = [
    path("signals", views.SignalBatchApi.as_view(), name="signals"),
    path("cases", views.CaseListApi.as_view(), name="cases-list"),
    path("cases/<id:case_id>", views.CaseDetailApi.as_view(), name="cases-detail"),
    path(
        "cases/<id:case_id>/transitions",
        views.CaseTransitionApi.as_view(),
        name="cases-transitions",
    ),
    path("cases/<id:case_id>/events", views.CaseEventsApi.as_view(), name="cases-events"),
    path(
        "cases/<id:case_id>/plan/items/<id:item_id>/verify",
        views.PlanItemVerifyApi.as_view(),
        name="cases-plan-item-verify",
    ),
    path(
        "cases/<id:case_id>/decisions",
        decisions.CaseDecisionsApi.as_view(),
        name="cases-decisions",
    ),
    path("decisions/<str:reference>", decisions.DecisionDetailApi.as_view(), name="decisions"),
    path("approvals", approvals.ApprovalListApi.as_view(), name="approvals-list"),
    path(
        "approvals/<id:approval_id>", approvals.ApprovalDetailApi.as_view(), name="approvals-detail"
    ),
    path(
        "approvals/<id:approval_id>/approve",
        approvals.ApprovalApproveApi.as_view(),
        name="approvals-approve",
    ),
    path(
        "approvals/<id:approval_id>/reject",
        approvals.ApprovalRejectApi.as_view(),
        name="approvals-reject",
    ),
    path(
        "decisions/<str:reference>/appeals",
        appeals.DecisionAppealsApi.as_view(),
        name="decisions-appeals",
    ),
    path("appeals", appeals.AppealListApi.as_view(), name="appeals-list"),
    path("appeals/<id:appeal_id>", appeals.AppealDetailApi.as_view(), name="appeals-detail"),
    path("appeals/<id:appeal_id>/review", appeals.AppealReviewApi.as_view(), name="appeals-review"),
    path("appeals/<id:appeal_id>/decide", appeals.AppealDecideApi.as_view(), name="appeals-decide"),
    path(
        "appeals/<id:appeal_id>/withdraw",
        appeals.AppealWithdrawApi.as_view(),
        name="appeals-withdraw",
    ),
    path("cases/<id:case_id>/export", views.CaseExportApi.as_view(), name="cases-export"),
    path("cases/<id:case_id>/evidence", evidence.CaseEvidenceApi.as_view(), name="cases-evidence"),
    path("evidence/<id:item_id>", evidence.EvidenceDownloadApi.as_view(), name="evidence"),
    path(
        "evidence/<id:item_id>/record",
        evidence.EvidenceRecordApi.as_view(),
        name="evidence-record",
    ),
]
