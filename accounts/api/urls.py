from django.urls import path, re_path, register_converter

from . import enforcement, gateway, views


class AnyTextConverter:
    """The rest of the path, whatever it holds (``/``, newlines): the view, not the URL
    resolver, refuses an external id that breaks the rule, as a 422 problem rather than a 404
    that a gateway could read as "unknown account"."""

    regex = r"[\s\S]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(AnyTextConverter, "anytext")

urlpatterns = [
    path("accounts", views.AccountListApi.as_view(), name="accounts-list"),
    # An external id has no "/" (accounts/external_ids.py): ``{id}/links`` is never an id.
    re_path(
        r"^accounts/(?P<external_id>[^/]+)/links\Z",
        views.AccountLinksApi.as_view(),
        name="accounts-links",
    ),
    path("accounts/<anytext:external_id>", views.AccountApi.as_view(), name="accounts-detail"),
    path("partners", views.PartnerListApi.as_view(), name="partners-list"),
    path("partners/<slug:code>", views.PartnerApi.as_view(), name="partners-detail"),
    path("enforcement/check", enforcement.EnforcementCheckApi.as_view(), name="enforcement-check"),
    path("enforcement/changes", enforcement.enforcement_changes_view, name="enforcement-changes"),
    path(
        "enforcement/snapshot",
        gateway.EnforcementSnapshotApi.as_view(),
        name="enforcement-snapshot",
    ),
    path("gateway/authz", gateway.gateway_authz, name="gateway-authz"),
    path("gateway/authz/<anytext:rest>", gateway.gateway_authz_path, name="gateway-authz-rest"),
    path(
        "enforcement/<anytext:external_id>", enforcement.enforcement_lookup, name="enforcement-get"
    ),
]
