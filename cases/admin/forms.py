"""Forms of the case admin. They parse what a person typed into a service's input; they never
write anything themselves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any, ClassVar

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.forms.utils import pretty_name
from django.http import QueryDict
from django.utils import timezone
from django.utils.dateparse import parse_duration

from accounts.models import Account
from cases.actions import (
    SUBMITTED_BY_MAX,
    AppealDecide,
    AppealFile,
    Command,
    Dismiss,
    Evidence,
    Investigate,
    Remediate,
    RemediationPlan,
    RestrictionSpec,
    Suspend,
    Terminate,
    input_names,
)
from cases.choices import AppealOutcome, Priority, RestrictionKind
from cases.models import CannedReason, Case, LegalHold, PolicyClause
from cases.selectors import canned_reasons_for
from core.admin import refusal_in_words
from core.errors import DomainError
from core.roles import Role

ASSIGNABLE_ROLES = (Role.ANALYST, Role.INVESTIGATOR, Role.LEAD)
TEXTAREA = forms.Textarea(attrs={"rows": 4, "cols": 80})


def _lines(value: str) -> list[str]:
    return [line.strip() for line in value.splitlines() if line.strip()]


def policy_choices_field(*, required: bool) -> forms.ModelMultipleChoiceField:
    return forms.ModelMultipleChoiceField(
        queryset=PolicyClause.objects.order_by("code"),
        to_field_name="code",
        required=required,
        widget=forms.CheckboxSelectMultiple,
        help_text="The clauses at issue; the version in force is cited.",
    )


def assignable_users() -> Any:
    return (
        get_user_model()
        .objects.filter(is_active=True, groups__name__in=ASSIGNABLE_ROLES)
        .distinct()
        .order_by("username")
    )


def errors_in_words(form: forms.Form) -> list[str]:
    """Every error of a form as people read it: a field's under its label (never its internal
    name), the form's own as they are."""
    words = [str(e) for e in form.non_field_errors()]
    for name, errors in form.errors.items():
        if name == NON_FIELD_ERRORS:
            continue
        label = form[name].label if name in form.fields else name.replace("_", " ")
        words += [f"{label}: {e}" for e in errors]
    return words


def add_refusal(form: forms.Form, exc: DomainError, *, prefix: str = "") -> None:
    """Put a service's refusal on the form as people read it: under the field it is about when
    the form has that field (the service's input name, e.g. ``remediation.deadline``, mapped
    through the form's ``service_inputs``), else at the top; either way with no internal name.
    """
    field = str(exc.fields.get("field") or "")
    inputs: Mapping[str, str] = getattr(form, "service_inputs", {})
    name = inputs.get(field) or (field if field in form.fields else "")
    if name:
        label = str(form.fields[name].label or pretty_name(name))
        subject = f"'{field}' "
        detail = exc.detail
        # On the field, its label is already beside the error: say the rest.
        text = detail[len(subject) :] if detail.startswith(subject) else None
        if text:
            form.add_error(name, prefix + text[:1].upper() + text[1:])
            return
        form.add_error(name, prefix + refusal_in_words(exc, {field: label.lower()}))
        return
    form.add_error(None, prefix + refusal_in_words(exc))


# Between a canned reason's text and what the person typed to go with it.
CANNED_SEPARATOR = "\n\n"


class CannedReasonSelect(forms.Select):
    """A select of canned reasons; each option's tooltip is the reason's text."""

    texts: dict[str, str]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.texts = {}

    def create_option(self, name: str, value: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        option: dict[str, Any] = super().create_option(name, value, *args, **kwargs)
        text = self.texts.get(str(value))
        if text:
            option["attrs"]["title"] = text
        return option


class CannedReasonField(forms.ChoiceField):
    """The canned reasons offered for one action, by title.

    What was posted is looked up again when the form is submitted, not only among the options
    the page showed: a reason deactivated since, or no longer offered for this action, is
    refused with an error that says so (and nothing is applied), instead of Django's "not one
    of the available choices"."""

    widget = CannedReasonSelect

    def __init__(self, *, action: str, label_of_action: str, offered: list[CannedReason]) -> None:
        super().__init__(
            label="Canned reason",
            required=False,
            choices=[("", "— none —"), *((str(r.pk), r.title) for r in offered)],
            help_text="Its text becomes the reason (point at one to read it); leads keep these "
            "under Settings.",
        )
        self.action = action
        self.label_of_action = label_of_action
        assert isinstance(self.widget, CannedReasonSelect)  # noqa: S101  # the class's widget
        self.widget.texts = {str(r.pk): r.text for r in offered}

    def valid_value(self, value: Any) -> bool:
        return True  # any posted value is looked up, and refused in words, by ``clean``

    def clean(self, value: Any) -> CannedReason | None:
        value = super().clean(value)
        if not value:
            return None
        plain_id = value.isascii() and value.isdigit() and len(value) <= 18  # an id, no more
        reason = CannedReason.objects.filter(pk=int(value)).first() if plain_id else None
        again = "choose another, or write the reason yourself."
        if reason is None:
            raise ValidationError(f"The chosen canned reason no longer exists: {again}")
        if not reason.active:
            raise ValidationError(
                f"“{reason.title}” was deactivated after this page was loaded: {again}"
            )
        if not reason.applies_to(self.action):
            raise ValidationError(
                f"“{reason.title}” is no longer offered for “{self.label_of_action}”: {again}"
            )
        return reason


class CannedReasonForm(forms.Form):
    """A form whose reason may start from a canned reason (``cases.canned_models``).

    When the action has active canned reasons, a *Canned reason* select comes just before the
    reason's text box (``reason_field``), which then may stay empty. The reason the form
    produces, and the case records, is then:

    - the canned text alone, when nothing was typed;
    - the canned text, a blank line, then what was typed, when both were given;
    - what was typed, when no canned reason was chosen.

    No JavaScript is involved: the text is put together when the form is cleaned, and the
    page shows the select and the box again as they were posted.
    """

    label: ClassVar[str] = ""
    # The action whose canned reasons are offered, and the field the reason goes into.
    canned_action: ClassVar[str] = ""
    reason_field: ClassVar[str] = "reason"

    def __init__(
        self, *args: Any, canned: Sequence[CannedReason] | None = None, **kwargs: Any
    ) -> None:
        """``canned``: the active canned reasons of every action, when a page with several
        forms read them once (``cases.selectors.canned_reasons_active``); else read here."""
        super().__init__(*args, **kwargs)
        self._offer_canned_reasons(canned)

    def canned_reasons_action(self) -> str:
        return self.canned_action

    def _offer_canned_reasons(self, canned: Sequence[CannedReason] | None) -> None:
        action = self.canned_reasons_action()
        if not action or self.reason_field not in self.fields:
            return
        offered = canned_reasons_for(action=action, active=canned)
        posted = self.is_bound and bool(self.data.get(self.add_prefix("canned_reason")))
        if not offered and not posted:
            return  # nothing to offer (and nothing chosen on an older page): the plain form
        self.fields["canned_reason"] = CannedReasonField(
            action=action, label_of_action=self.label or action, offered=offered
        )
        reason = self.fields[self.reason_field]
        reason.required = False  # a canned reason may stand alone (``clean`` checks)
        reason.help_text = " ".join(
            part
            for part in (
                str(reason.help_text or ""),
                "With a canned reason chosen, leave this empty to use its text as it is, or "
                "write what to add after it.",
            )
            if part
        )
        names = [n for n in self.fields if n != "canned_reason"]
        at = names.index(self.reason_field)
        self.order_fields([*names[:at], "canned_reason", *names[at:]])

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if "canned_reason" in self.fields:
            self._compose_reason(cleaned)
        return cleaned

    def _compose_reason(self, cleaned: dict[str, Any]) -> None:
        if "canned_reason" in self.errors or self.reason_field in self.errors:
            return  # the error says why; nothing is put together
        canned: CannedReason | None = cleaned.get("canned_reason")
        typed = (cleaned.get(self.reason_field) or "").strip()
        if canned is None:
            if not typed:
                label = str(self[self.reason_field].label).lower()
                self.add_error(self.reason_field, f"Write the {label}, or choose a canned reason.")
            return
        cleaned[self.reason_field] = (
            f"{canned.text}{CANNED_SEPARATOR}{typed}" if typed else canned.text
        )


class TransitionForm(CannedReasonForm):
    """The inputs of one workflow action, plus the state the person saw when they chose it.

    Each subclass names its input type (``command``), the label staff see, the field its reason
    is written in (``reason_field``, which a canned reason fills: ``CannedReasonForm``), and
    ends in ``to_command``: the same value the API's body becomes.
    """

    command: ClassVar[type[Command]]
    label: ClassVar[str]
    # The service's names of inputs whose form field is named otherwise (for its refusals).
    service_inputs: ClassVar[Mapping[str, str]] = {}
    expected_state = forms.CharField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, role: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.role = role

    def canned_reasons_action(self) -> str:
        return self.command.action

    def to_command(self) -> Command:
        """The action's input: each of its fields the form has, as cleaned. Forms whose fields
        need translating (policies to codes, lines to lists) say so themselves."""
        names = set(input_names(self.command))
        return self.command(
            **{
                name: value
                for name, value in self.cleaned_data.items()
                if name in names and value is not None
            }
        )


DURATIONS = [
    ("", "until a decision lifts it"),
    ("PT1H", "1 hour"),
    ("P1D", "1 day"),
    ("P7D", "7 days"),
    ("P14D", "14 days"),
    ("P30D", "30 days"),
    ("P90D", "90 days"),
]


class RestrictionFields(forms.Form):
    """What to restrict and for how long: the kind, the names or the limit it needs, and a
    duration or an end. Ends in a ``RestrictionSpec`` and its end, as the API's body does."""

    kind_choices: ClassVar[list[tuple[str, str]]] = [
        (k.value, k.label) for k in RestrictionKind if k != RestrictionKind.TERMINATION
    ]
    service_inputs: ClassVar[Mapping[str, str]] = {
        "restriction": "restriction_kind",
        "restriction.kind": "restriction_kind",
        "restriction.models": "models",
        "restriction.features": "features",
        "restriction.requests_per_minute": "requests_per_minute",
        "restriction.tokens_per_minute": "tokens_per_minute",
    }
    restriction_kind = forms.ChoiceField(label="Restriction", choices=(), required=False)
    models = forms.CharField(
        required=False,
        help_text="Model block: the models refused, one per line or comma-separated.",
        widget=forms.Textarea(attrs={"rows": 2, "cols": 40}),
    )
    features = forms.CharField(
        required=False,
        help_text="Feature block: e.g. fine_tuning, batch, assistants.",
        widget=forms.Textarea(attrs={"rows": 2, "cols": 40}),
    )
    requests_per_minute = forms.IntegerField(
        required=False, min_value=1, max_value=10**9, help_text="Rate limit: requests a minute."
    )
    tokens_per_minute = forms.IntegerField(
        required=False, min_value=1, max_value=10**9, help_text="Rate limit: tokens a minute."
    )
    duration = forms.ChoiceField(label="For", choices=DURATIONS, required=False)
    ends_at = forms.DateTimeField(
        label="Or until",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"],
        help_text="UTC; instead of a duration.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["restriction_kind"].choices = self.kind_choices  # type: ignore[attr-defined]  # a ChoiceField

    @staticmethod
    def _names(text: str) -> list[str]:
        return [n.strip() for n in text.replace(",", "\n").splitlines() if n.strip()]

    def restriction(self) -> RestrictionSpec:
        data = self.cleaned_data
        kind = data.get("restriction_kind") or RestrictionKind.SUSPENSION
        return RestrictionSpec(
            kind=kind,
            models=self._names(data.get("models") or "") if kind == "model_block" else (),
            features=self._names(data.get("features") or "") if kind == "feature_block" else (),
            requests_per_minute=data.get("requests_per_minute") if kind == "rate_limit" else None,
            tokens_per_minute=data.get("tokens_per_minute") if kind == "rate_limit" else None,
        )

    def end(self) -> dict[str, Any]:
        duration = self.cleaned_data.get("duration") or ""
        return {
            "duration": parse_duration(duration) if duration else None,
            "ends_at": self.cleaned_data.get("ends_at"),
        }


class SuspendForm(RestrictionFields, TransitionForm):
    command = Suspend
    label = "Suspend"
    reason = forms.CharField(
        widget=TEXTAREA, help_text="Why access is suspended; sent to the account."
    )
    policies = policy_choices_field(required=True)
    field_order = ["expected_state", "reason", "policies", "restriction_kind"]

    def to_command(self) -> Suspend:
        return Suspend(
            reason=self.cleaned_data["reason"],
            policies=[p.code for p in self.cleaned_data["policies"]],
            restriction=self.restriction(),
            **self.end(),
        )


class InvestigateForm(TransitionForm):
    command = Investigate
    label = "Record investigation"
    reason_field = "findings"
    service_inputs = {
        "remediation": "plan_items",
        "remediation.items": "plan_items",
        "remediation.deadline": "plan_deadline",
    }
    findings = forms.CharField(widget=TEXTAREA)
    violation_confirmed = forms.TypedChoiceField(
        choices=[("yes", "Yes: a violation is confirmed"), ("no", "No violation found")],
        coerce=lambda value: value == "yes",
        widget=forms.RadioSelect,
    )
    evidence = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
        required=False,
        help_text="Evidence references, one per line (log queries, tickets, storage objects).",
    )
    plan_items = forms.CharField(
        label="Remediation plan: required changes",
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
        required=False,
        help_text="One required change per line; leave empty if no remediation is required.",
    )
    plan_deadline = forms.DateTimeField(
        label="Remediation deadline",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"],
        help_text="UTC.",
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        items = _lines(cleaned.get("plan_items") or "")
        if items and not cleaned.get("plan_deadline"):
            self.add_error("plan_deadline", "A remediation plan needs a deadline.")
        if cleaned.get("plan_deadline") and not items:
            self.add_error("plan_items", "A deadline needs at least one required change.")
        return cleaned

    def to_command(self) -> Investigate:
        items = _lines(self.cleaned_data.get("plan_items") or "")
        return Investigate(
            findings=self.cleaned_data["findings"],
            violation_confirmed=self.cleaned_data["violation_confirmed"],
            evidence=[
                Evidence(reference=line) for line in _lines(self.cleaned_data.get("evidence") or "")
            ],
            remediation=(
                RemediationPlan(items=items, deadline=self.cleaned_data["plan_deadline"])
                if items
                else None
            ),
        )


class RemediateForm(RestrictionFields, TransitionForm):
    command = Remediate
    label = "Remediated: reinstate"
    reason_field = "verification_note"
    kind_choices = [("", "none: full access again"), *RestrictionFields.kind_choices[1:]]
    verification_note = forms.CharField(widget=TEXTAREA, help_text="What was checked.")
    override_reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2, "cols": 80}),
        required=False,
        help_text="Leads only: why the case may close with unverified plan items.",
    )
    field_order = ["expected_state", "verification_note", "override_reason", "restriction_kind"]

    def __init__(self, *args: Any, role: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, role=role, **kwargs)
        self.fields["restriction_kind"].label = "Probation"
        self.fields[
            "restriction_kind"
        ].help_text = "Optionally keep a partial restriction for a while (it needs an end)."
        if role != Role.LEAD:
            del self.fields["override_reason"]

    def to_command(self) -> Remediate:
        probation = self.restriction() if self.cleaned_data.get("restriction_kind") else None
        end = self.end() if probation is not None else {}
        return Remediate(
            verification_note=self.cleaned_data["verification_note"],
            override_reason=self.cleaned_data.get("override_reason") or "",
            restriction=probation,
            **end,
        )


class TerminateForm(TransitionForm):
    command = Terminate
    label = "Terminate account"
    reason_field = "rationale"
    rationale = forms.CharField(widget=TEXTAREA, help_text="The decision's rationale.")
    override_reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2, "cols": 80}),
        required=False,
        help_text="Only when the investigation found no violation: why terminate anyway. It "
        "goes on the record.",
    )


class DismissForm(TransitionForm):
    command = Dismiss
    label = "Dismiss"
    reason = forms.CharField(widget=TEXTAREA)
    warning = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2, "cols": 80}),
        required=False,
        help_text="Optional: close with a warning to the account (a notice with a statement "
        "of reasons; nothing is restricted).",
    )


TRANSITION_FORMS: dict[str, type[TransitionForm]] = {
    form.command.action: form
    for form in (SuspendForm, InvestigateForm, RemediateForm, TerminateForm, DismissForm)
}


class NoteForm(forms.Form):
    body = forms.CharField(label="Note", widget=forms.Textarea(attrs={"rows": 3, "cols": 60}))


class EvidenceForm(forms.Form):
    reference = forms.CharField(max_length=500)
    description = forms.CharField(required=False, max_length=2000)


class NoteCorrectForm(NoteForm):
    reason = forms.CharField(max_length=2000, help_text="What was wrong with the note.")


class EvidenceCorrectForm(EvidenceForm):
    reason = forms.CharField(max_length=2000, help_text="What was wrong with the reference.")


class ReassignForm(forms.Form):
    assignee = forms.ModelChoiceField(
        queryset=get_user_model().objects.none(), required=False, empty_label="(nobody)"
    )
    reason = forms.CharField(required=False, max_length=2000)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = assignable_users()  # type: ignore[attr-defined]  # a ModelChoiceField


class PriorityForm(forms.Form):
    priority = forms.ChoiceField(choices=Priority.choices)
    reason = forms.CharField(required=False, max_length=2000)


class VerifyItemForm(forms.Form):
    note = forms.CharField(required=False, max_length=2000)


class VerifyItemsForm(forms.Form):
    """Several required changes of the plan verified at once, with one note: a checkbox per
    item of the case's plan (``items``, the plan's own items, so no other case's is taken)."""

    items = forms.TypedMultipleChoiceField(
        coerce=int,
        choices=(),
        error_messages={
            "required": "Tick at least one plan item to verify.",
            "invalid_choice": "A ticked item is not on this case's plan: read the plan again.",
        },
    )
    note = forms.CharField(
        label="Verification note",
        required=False,
        max_length=2000,
        help_text="What was checked; it goes on the timeline with each item.",
    )

    def __init__(self, *args: Any, items: Sequence[Any] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["items"].choices = [(item.pk, item.description) for item in items]  # type: ignore[attr-defined]  # a ChoiceField

    def ticked(self) -> set[int]:
        """The item ids ticked in what was posted (for showing them ticked again)."""
        if not self.data:
            return set()
        values = self.data.getlist("items") if isinstance(self.data, QueryDict) else []
        return {int(v) for v in values if str(v).isdigit()}


class CaseOpenForm(forms.Form):
    """Open a flagged case by hand (a person's report)."""

    account = forms.CharField(
        label="Account external id", max_length=128, help_text="The billing system's id."
    )
    priority = forms.ChoiceField(choices=Priority.choices, initial=Priority.MEDIUM)
    summary = forms.CharField(widget=TEXTAREA, help_text="What was reported, by whom.")
    policies = policy_choices_field(required=False)

    def clean_account(self) -> Account:
        external_id = self.cleaned_data["account"].strip()
        account = Account.objects.filter(external_id=external_id).first()
        if account is None:
            raise forms.ValidationError(f"No account with external id '{external_id}'.")
        return account


class BulkReasonForm(CannedReasonForm):
    """The one reason shared by every case of a bulk action (from a canned reason, or not)."""

    reason = forms.CharField(widget=TEXTAREA)


class BulkDismissForm(BulkReasonForm):
    label = "Dismiss"
    canned_action = "dismiss"

    def to_command(self) -> Dismiss:
        return Dismiss(reason=self.cleaned_data["reason"])


class BulkSuspendForm(BulkReasonForm):
    label = "Suspend"
    canned_action = "suspend"
    policies = policy_choices_field(required=True)

    def to_command(self) -> Suspend:
        return Suspend(
            reason=self.cleaned_data["reason"],
            policies=[p.code for p in self.cleaned_data["policies"]],
        )


class BulkAssignForm(forms.Form):
    assignee = forms.ModelChoiceField(queryset=get_user_model().objects.none())
    reason = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2, "cols": 80}))

    def __init__(self, *args: Any, user: Any = None, lead: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        users = assignable_users()
        if not lead and user is not None:
            users = users.filter(pk=user.pk)
        self.fields["assignee"].queryset = users  # type: ignore[attr-defined]  # a ModelChoiceField


# --- appeals --------------------------------------------------------------------------------


class AppealRecordForm(forms.Form):
    """An appeal that reached staff (by e-mail, by phone), recorded on the account's behalf."""

    reason = forms.CharField(
        widget=TEXTAREA, help_text="Why the account says the decision is wrong."
    )
    submitted_by = forms.CharField(
        max_length=SUBMITTED_BY_MAX, help_text="Who at the customer appeals (name or e-mail)."
    )
    attachments = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 80}),
        help_text="References or URLs of what supports it, one per line.",
    )

    def to_input(self) -> AppealFile:
        return AppealFile(
            reason=self.cleaned_data["reason"],
            submitted_by=self.cleaned_data["submitted_by"],
            attachments=_lines(self.cleaned_data.get("attachments") or ""),
        )


class AppealDecideForm(RestrictionFields):
    """The outcome of an appeal; a ``modified`` one names the restriction that replaces the
    decision's, as a suspension does."""

    field_order = ["outcome", "reason", "restriction_kind"]
    outcome = forms.ChoiceField(choices=AppealOutcome.choices, widget=forms.RadioSelect)
    reason = forms.CharField(widget=TEXTAREA, help_text="The reasons, told to the account.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        kind = self.fields["restriction_kind"]
        kind.choices = [("", "—"), *self.kind_choices]  # type: ignore[attr-defined]  # a ChoiceField
        kind.help_text = "Modified only: the restriction that replaces the decision's."

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("outcome") == AppealOutcome.MODIFIED and not cleaned.get("restriction_kind"):
            self.add_error("restriction_kind", "A modified outcome names the new restriction.")
        return cleaned

    def to_input(self) -> AppealDecide:
        outcome = self.cleaned_data["outcome"]
        if outcome != AppealOutcome.MODIFIED:
            return AppealDecide(outcome=outcome, reason=self.cleaned_data["reason"])
        return AppealDecide(
            outcome=outcome,
            reason=self.cleaned_data["reason"],
            restriction=self.restriction(),
            **self.end(),
        )


# --- legal holds ----------------------------------------------------------------------------


class LegalHoldPlaceForm(forms.Form):
    """A hold on an account (by its external id) or on a case (by its number): exactly one.

    Every refusal is said in the words of the page, never a field's internal name."""

    account = forms.CharField(
        label="Account external id",
        max_length=128,
        required=False,
        help_text="The billing system's id; leave empty for a hold on a case.",
    )
    case = forms.IntegerField(
        label="Case number",
        min_value=1,
        required=False,
        help_text="The case's #; leave empty for a hold on an account (and all its cases).",
    )
    legal_reference = forms.CharField(
        max_length=LegalHold._meta.get_field("legal_reference").max_length,
        help_text="Matter, court or request id.",
        error_messages={"required": "Give the legal reference (matter, court or request id)."},
    )
    reason = forms.CharField(
        widget=TEXTAREA,
        help_text="Why the records must be kept.",
        error_messages={"required": "Give the reason for the hold."},
    )
    review_date = forms.DateField(
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text="Today or later: when a lead reviews whether the hold is still needed.",
        error_messages={
            "required": "Give the review date.",
            "invalid": "Give the review date as a date (YYYY-MM-DD).",
        },
    )

    def clean_account(self) -> Account | None:
        external_id = (self.cleaned_data.get("account") or "").strip()
        if not external_id:
            return None
        account = Account.objects.filter(external_id=external_id).first()
        if account is None:
            raise forms.ValidationError(f"No account with external id '{external_id}'.")
        return account

    def clean_case(self) -> Case | None:
        number = self.cleaned_data.get("case")
        if number is None:
            return None
        case = Case.objects.filter(pk=number).first()
        if case is None:
            raise forms.ValidationError(f"No case #{number}.")
        return case

    def clean_review_date(self) -> date:
        review_date: date = self.cleaned_data["review_date"]
        if review_date < timezone.localdate():
            raise forms.ValidationError("The review date must be today or later.")
        return review_date

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        named = [name for name in ("account", "case") if self.data.get(name, "").strip()]
        if len(named) == 2:
            raise forms.ValidationError(
                "A hold is on an account or on a case, not both: fill in only one of them."
            )
        if not named:
            raise forms.ValidationError(
                "Say what the hold is on: an account's external id or a case number."
            )
        return cleaned

    def errors_in_words(self) -> str:
        """Every error of the form in one sentence list, for the page's message."""
        return " ".join(str(error) for errors in self.errors.values() for error in errors)

    def to_input(self) -> dict[str, Any]:
        """The keyword arguments of ``legal_hold_place`` (but the actor)."""
        data = self.cleaned_data
        return {
            "account": data.get("account"),
            "case": data.get("case"),
            "legal_reference": data["legal_reference"],
            "reason": data["reason"],
            "review_date": data["review_date"],
        }


class LegalHoldReleaseForm(forms.Form):
    reason = forms.CharField(
        label="Release reason",
        widget=TEXTAREA,
        help_text="Why the records need not be kept any longer (the matter closed, ...).",
        error_messages={"required": "Give the reason the hold is released."},
    )
