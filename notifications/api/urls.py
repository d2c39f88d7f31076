from django.urls import path

from .views import CaseNoticesListApi

app_name = "notifications"

urlpatterns = [
    path("cases/<id:case_id>/notices", CaseNoticesListApi.as_view(), name="case-notices"),
]
