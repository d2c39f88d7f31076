from django.urls import path

from . import enforcement, views

urlpatterns = [
    path("accounts", views.AccountListApi.as_view(), name="accounts-list"),
    path("accounts/<str:external_id>", views.AccountApi.as_view(), name="accounts-detail"),
    path("partners", views.PartnerListApi.as_view(), name="partners-list"),
    path("partners/<slug:code>", views.PartnerApi.as_view(), name="partners-detail"),
    path("enforcement/check", enforcement.EnforcementCheckApi.as_view(), name="enforcement-check"),
    path(
        "enforcement/changes",
        enforcement.EnforcementChangesApi.as_view(),
        name="enforcement-changes",
    ),
    path("enforcement/<str:external_id>", enforcement.enforcement_lookup, name="enforcement-get"),
]
