from django.urls import path

from .partners import PartnerAcknowledgeApi, PartnerChangesApi, PartnerReportApi
from .views import CaseNoticesListApi

app_name = "notifications"

urlpatterns = [
    path("cases/<id:case_id>/notices", CaseNoticesListApi.as_view(), name="case-notices"),
    path("partner/changes", PartnerChangesApi.as_view(), name="partner-changes"),
    path(
        "partner/changes/<id:seq>/acknowledge",
        PartnerAcknowledgeApi.as_view(),
        name="partner-change-acknowledge",
    ),
    path(
        "partner/changes/<id:seq>/report", PartnerReportApi.as_view(), name="partner-change-report"
    ),
]
