"""Accounts and partners: billing keeps them in sync; tools and staff read them."""

from __future__ import annotations

from typing import Any

import django_filters
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import exceptions, generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.choices import EnforcementStatus, Scope, Tier
from accounts.models import Account, Partner
from accounts.services import partner_upsert
from cases.evasion import account_links_get, account_put
from cases.selectors import account_get, account_list, partner_list
from config.api import CursorPage, OldestFirstCursorPage

from .serializers import (
    EXTERNAL_ID_PARAMETER,
    AccountLinksSerializer,
    AccountPutSerializer,
    AccountSerializer,
    PartnerPutSerializer,
    PartnerSerializer,
    external_id_from_path,
)


class AccountFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(
        field_name="enforcement_status", choices=EnforcementStatus.choices
    )
    tier = django_filters.ChoiceFilter(choices=Tier.choices)
    partner = django_filters.CharFilter(field_name="partners__code", max_length=64)

    class Meta:
        model = Account
        fields = ["status", "tier", "partner"]


class AccountListApi(generics.ListAPIView[Account]):
    """Accounts, oldest first, with their enforcement status and open case."""

    scopes = {"GET": Scope.ACCOUNTS_READ}
    serializer_class = AccountSerializer
    pagination_class = OldestFirstCursorPage
    filterset_class = AccountFilter

    def get_queryset(self) -> Any:
        return account_list()

    @extend_schema(operation_id="accounts_list", summary="List accounts", tags=["accounts"])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


ACCOUNT_EXAMPLE = {
    "name": "Acme AI",
    "tier": "scale",
    "contacts": ["legal@acme.test"],
    "channels": ["direct", "cloudco"],
}


class AccountApi(APIView):
    scopes = {"GET": Scope.ACCOUNTS_READ, "PUT": Scope.ACCOUNTS_WRITE}

    def _found(self, external_id: str) -> Account:
        account = account_get(external_id=external_id)
        if account is None:
            raise exceptions.NotFound(f"No account '{external_id}'.")
        return account

    @extend_schema(
        operation_id="accounts_get",
        summary="One account with its enforcement status and open case",
        parameters=[EXTERNAL_ID_PARAMETER],
        responses={200: AccountSerializer},
        tags=["accounts"],
    )
    def get(self, request: Request, external_id: str) -> Response:
        return Response(AccountSerializer(self._found(external_id_from_path(external_id))).data)

    @extend_schema(
        operation_id="accounts_put",
        summary="Create or update an account",
        description=(
            "Fields left out keep their value. `channels` replaces the account's channels; "
            "a partner code that is not registered is a 422."
        ),
        request=AccountPutSerializer,
        parameters=[EXTERNAL_ID_PARAMETER],
        responses={200: AccountSerializer, 201: AccountSerializer},
        examples=[OpenApiExample("billing sync", request_only=True, value=ACCOUNT_EXAMPLE)],
        tags=["accounts"],
    )
    def put(self, request: Request, external_id: str) -> Response:
        external_id_from_path(external_id)
        serializer = AccountPutSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        _, created = account_put(external_id=external_id, **serializer.validated_data)
        return Response(
            AccountSerializer(self._found(external_id)).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class AccountLinksApi(APIView):
    """Accounts that share identifiers with this one, strongest first; links a lead marked false
    positive are left out."""

    scopes = {"GET": Scope.ACCOUNTS_READ}

    @extend_schema(
        operation_id="accounts_links",
        summary="Accounts that share identifiers with this one",
        parameters=[EXTERNAL_ID_PARAMETER],
        responses={200: AccountLinksSerializer},
        tags=["accounts"],
    )
    def get(self, request: Request, external_id: str) -> Response:
        external_id = external_id_from_path(external_id)
        links = account_links_get(external_id=external_id)
        if links is None:
            raise exceptions.NotFound(f"No account '{external_id}'.")
        return Response(AccountLinksSerializer({"account": external_id, "results": links}).data)


class PartnerPage(CursorPage):
    ordering = "code"
    position_pattern = r"[-a-zA-Z0-9_]{1,64}"


class PartnerListApi(generics.ListAPIView[Partner]):
    """The resellers and cloud platforms that accounts reach the API through."""

    scopes = {"GET": Scope.ACCOUNTS_READ}
    serializer_class = PartnerSerializer
    pagination_class = PartnerPage

    def get_queryset(self) -> Any:
        return partner_list()

    @extend_schema(operation_id="partners_list", summary="List partners", tags=["partners"])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class PartnerApi(APIView):
    scopes = {"GET": Scope.ACCOUNTS_READ, "PUT": Scope.ACCOUNTS_WRITE}

    @extend_schema(
        operation_id="partners_get",
        summary="One partner",
        responses={200: PartnerSerializer},
        tags=["partners"],
    )
    def get(self, request: Request, code: str) -> Response:
        partner = Partner.objects.filter(code=code).first()
        if partner is None:
            raise exceptions.NotFound(f"No partner '{code}'.")
        return Response(PartnerSerializer(partner).data)

    @extend_schema(
        operation_id="partners_put",
        summary="Create or update a partner",
        request=PartnerPutSerializer,
        responses={200: PartnerSerializer, 201: PartnerSerializer},
        examples=[
            OpenApiExample(
                "cloud",
                request_only=True,
                value={"name": "CloudCo", "kind": "cloud", "contact_email": "tns@cloudco.example"},
            )
        ],
        tags=["partners"],
    )
    def put(self, request: Request, code: str) -> Response:
        if len(code) > 64:
            raise exceptions.ValidationError({"code": ["At most 64 characters."]})
        serializer = PartnerPutSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        partner, created = partner_upsert(code=code, **serializer.validated_data)
        return Response(
            PartnerSerializer(partner).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )
