"""Bodies of the accounts, partners and enforcement operations."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail

from accounts.choices import EnforcementStatus, PartnerKind, Tier
from accounts.external_ids import EXTERNAL_ID_PATTERN, is_external_id, validate_external_id
from accounts.external_ids import MAX_LENGTH as EXTERNAL_ID_MAX_LENGTH
from accounts.external_ids import RULE as EXTERNAL_ID_RULE
from accounts.identifiers import MAX_VALUE as MAX_IDENTIFIER_VALUE
from accounts.identifiers import IdentifierKind
from accounts.models import Account, Partner
from cases.choices import RestrictionKind
from cases.selectors import account_enforcement_now
from config.api import QueryIntegerField, SlugTextField, StrictSerializer, TextField

MAX_CONTACTS = 50
MAX_CHANNELS = 50
MAX_IDENTIFIERS = 50
MAX_CHECK = 1000


@extend_schema_field(
    {
        "type": "string",
        "minLength": 1,
        "maxLength": EXTERNAL_ID_MAX_LENGTH,
        "pattern": EXTERNAL_ID_PATTERN,
        "description": EXTERNAL_ID_RULE,
    }
)
class ExternalIdField(TextField):
    """An account's external id, refused unless it follows the rule (accounts/external_ids.py,
    one error whatever breaks it); the schema states the rule as its ``pattern``."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("help_text", EXTERNAL_ID_RULE)
        super().__init__(**kwargs)
        self.validators.append(validate_external_id)


EXTERNAL_ID_PARAMETER = OpenApiParameter(
    "external_id",
    {
        "type": "string",
        "minLength": 1,
        "maxLength": EXTERNAL_ID_MAX_LENGTH,
        "pattern": EXTERNAL_ID_PATTERN,
    },
    OpenApiParameter.PATH,
    description=f"The account's external id. {EXTERNAL_ID_RULE} Any other id: 422.",
)


def external_id_from_path(value: str) -> str:
    """The external id named in a path, or a 422 naming ``external_id``: an id that breaks the
    rule can never exist, and a 404 would tell a gateway "unknown account"."""
    if not is_external_id(value):
        raise serializers.ValidationError(
            {"external_id": [ErrorDetail(EXTERNAL_ID_RULE, code="external_id")]}
        )
    return value


class OptionalEmailField(serializers.EmailField):
    """An e-mail address that may be absent: ``null`` in a response, not ``""`` (which is no
    ``email`` by its schema)."""

    def to_representation(self, value: Any) -> Any:
        return value or None


class PartnerSerializer(serializers.ModelSerializer[Partner]):
    contact_email = OptionalEmailField(
        read_only=True,
        allow_null=True,
        help_text="Where the follow-up's reminders go; null if the partner has none.",
    )

    class Meta:
        model = Partner
        fields = ["code", "name", "kind", "contact_email", "created_at", "updated_at"]
        read_only_fields = fields


class PartnerPutSerializer(StrictSerializer):
    """``contact_email`` left out keeps the current address; ``null`` or ``""`` removes it."""

    name = TextField(max_length=200)
    kind = serializers.ChoiceField(choices=PartnerKind.choices, default=PartnerKind.CLOUD)
    contact_email = serializers.EmailField(
        max_length=254, required=False, allow_blank=True, allow_null=True
    )

    def validate_contact_email(self, value: str | None) -> str:
        return value or ""


class IdentifierInputSerializer(StrictSerializer):
    kind = serializers.ChoiceField(choices=IdentifierKind.choices)
    value = TextField(
        max_length=MAX_IDENTIFIER_VALUE,
        help_text="In the clear; normalised for its kind, then only its keyed hash is stored.",
    )


class AccountPutSerializer(StrictSerializer):
    """Fields left out keep their current value (their default for a new account)."""

    name = TextField(max_length=200, required=False, allow_blank=True)
    tier = serializers.ChoiceField(choices=Tier.choices, required=False)
    contacts = serializers.ListField(
        child=serializers.EmailField(max_length=254), required=False, max_length=MAX_CONTACTS
    )
    channels = serializers.ListField(
        child=SlugTextField(max_length=64),
        required=False,
        max_length=MAX_CHANNELS,
        help_text='Partner codes, and "direct" for direct access. Replaces the current list.',
    )
    identifiers = serializers.ListField(
        child=IdentifierInputSerializer(),
        required=False,
        max_length=MAX_IDENTIFIERS,
        help_text="Identifiers the account is known by (added to those it has; never returned). "
        "A new one is matched at once against suspended and terminated accounts.",
    )


class OpenCaseSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    state = serializers.CharField()
    priority = serializers.CharField()


class RestrictionSerializer(serializers.Serializer[Any]):
    """A restriction in force (decisions.md), as the gateway enforces it."""

    kind = serializers.ChoiceField(choices=RestrictionKind.choices)
    models = serializers.ListField(
        child=serializers.CharField(), help_text="The models refused (a model_block)."
    )
    features = serializers.ListField(
        child=serializers.CharField(), help_text="The features refused (a feature_block)."
    )
    requests_per_minute = serializers.IntegerField(
        allow_null=True, help_text="The most requests a minute (a rate_limit)."
    )
    tokens_per_minute = serializers.IntegerField(
        allow_null=True, help_text="The most tokens a minute (a rate_limit), if capped."
    )
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField(
        allow_null=True,
        help_text="When it ends by itself; null: until lifted. Past it, never in force.",
    )
    decision = serializers.CharField(help_text="The reference of the decision that imposed it.")
    case = serializers.IntegerField(help_text="The case of that decision.")


def _restrictions_field() -> Any:
    return RestrictionSerializer(
        many=True,
        help_text="The restrictions in force, most severe first. A gateway that does not know "
        "`restricted` treats it as allowed, with these restrictions.",
    )


UNTIL_HELP = "When the status ends by itself, if it does; null: until a decision ends it."


class EnforcementSummarySerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(choices=EnforcementStatus.choices)
    since = serializers.DateTimeField()
    until = serializers.DateTimeField(allow_null=True)
    case = serializers.IntegerField(allow_null=True)
    restrictions = _restrictions_field()


class AccountSerializer(serializers.ModelSerializer[Account]):
    channels = serializers.SerializerMethodField()
    enforcement = serializers.SerializerMethodField()
    open_case = serializers.SerializerMethodField()

    class Meta:
        model = Account
        fields = [
            "external_id",
            "name",
            "tier",
            "contacts",
            "channels",
            "enforcement",
            "open_case",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_channels(self, account: Account) -> list[str]:
        return account.channel_codes

    @staticmethod
    def _enforcement(account: Account) -> dict[str, Any]:
        return account_enforcement_now(account)

    @extend_schema_field(EnforcementSummarySerializer)
    def get_enforcement(self, account: Account) -> dict[str, Any]:
        return dict(EnforcementSummarySerializer(self._enforcement(account)).data)

    @extend_schema_field(OpenCaseSerializer(allow_null=True))
    def get_open_case(self, account: Account) -> dict[str, Any] | None:
        case_id = getattr(account, "open_case_id", None)
        if case_id is None:
            return None
        return {
            "id": case_id,
            "state": account.open_case_state,  # type: ignore[attr-defined]  # annotated
            "priority": account.open_case_priority,  # type: ignore[attr-defined]  # annotated
        }


class EnforcementSerializer(serializers.Serializer[Any]):
    account = serializers.CharField(help_text="The account's external id.")
    status = serializers.ChoiceField(choices=EnforcementStatus.choices)
    since = serializers.DateTimeField()
    until = serializers.DateTimeField(allow_null=True, help_text=UNTIL_HELP)
    case = serializers.IntegerField(allow_null=True, help_text="The case that holds the status.")
    policies = serializers.ListField(
        child=serializers.CharField(), help_text="Policy codes cited by the decision in force."
    )
    restrictions = _restrictions_field()


class EnforcementCheckRequestSerializer(StrictSerializer):
    accounts = serializers.ListField(child=ExternalIdField(), min_length=1, max_length=MAX_CHECK)


class EnforcementCheckItemSerializer(serializers.Serializer[Any]):
    account = serializers.CharField()
    known = serializers.BooleanField(help_text="False for an account never seen.")
    status = serializers.ChoiceField(choices=EnforcementStatus.choices, allow_null=True)
    since = serializers.DateTimeField(allow_null=True)
    until = serializers.DateTimeField(allow_null=True, help_text=UNTIL_HELP)
    case = serializers.IntegerField(allow_null=True)
    restrictions = _restrictions_field()


class EnforcementCheckSerializer(serializers.Serializer[Any]):
    results = EnforcementCheckItemSerializer(many=True)


class EnforcementChangeSerializer(serializers.Serializer[Any]):
    seq = serializers.IntegerField(help_text="Position in commit order; the cursor.")
    account = serializers.CharField()
    status = serializers.ChoiceField(choices=EnforcementStatus.choices)
    previous_status = serializers.ChoiceField(choices=EnforcementStatus.choices)
    case = serializers.IntegerField(allow_null=True)
    policies = serializers.ListField(child=serializers.CharField())
    restrictions = _restrictions_field()
    until = serializers.DateTimeField(allow_null=True, help_text=UNTIL_HELP)
    decision = serializers.CharField(
        allow_null=True, help_text="The reference of the decision behind the change."
    )
    at = serializers.DateTimeField()


class EnforcementChangesSerializer(serializers.Serializer[Any]):
    results = EnforcementChangeSerializer(many=True)
    next = serializers.CharField(help_text="Pass as `after` to read on; stays put at the end.")
    has_more = serializers.BooleanField()


class EnforcementChangesQuerySerializer(serializers.Serializer[Any]):
    after = QueryIntegerField(min_value=0, max_value=2**63 - 1, default=0, required=False)
    limit = QueryIntegerField(min_value=1, max_value=1000, default=100, required=False)


class AccountLinkSerializer(serializers.Serializer[Any]):
    """Another account that shares identifiers with this one (never the values)."""

    account = serializers.CharField(source="external_id", help_text="Its external id.")
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=EnforcementStatus.choices)
    case = serializers.IntegerField(
        source="case_id", allow_null=True, help_text="The case that holds its status."
    )
    open_case = serializers.IntegerField(source="open_case_id", allow_null=True)
    kinds = serializers.ListField(
        child=serializers.ChoiceField(choices=IdentifierKind.choices),
        help_text="The kinds of identifier the two accounts share.",
    )
    strength = serializers.ChoiceField(
        choices=["strong", "weak"],
        allow_null=True,
        help_text="strong or weak as the tuning rates the kinds; null: too weak to report.",
    )


class AccountLinksSerializer(serializers.Serializer[Any]):
    account = serializers.CharField()
    results = AccountLinkSerializer(many=True)
