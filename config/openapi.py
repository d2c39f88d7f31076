"""The OpenAPI schema: scopes, bearer keys and problem responses on every operation."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers

from .problems import PROBLEM_CONTENT_TYPE


class FieldErrorSerializer(serializers.Serializer[Any]):
    pointer = serializers.CharField(help_text="JSON Pointer into the body, or a query parameter.")
    field = serializers.CharField()
    detail = serializers.CharField()
    code = serializers.CharField()
    index = serializers.IntegerField(required=False, help_text="Position in a batch.")


class ProblemSerializer(serializers.Serializer[Any]):
    """RFC 9457 problem details."""

    type = serializers.CharField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    code = serializers.CharField(help_text="Stable machine-readable error code.")
    instance = serializers.CharField(required=False)
    errors = FieldErrorSerializer(many=True, required=False)  # type: ignore[assignment]  # a field
    current_state = serializers.CharField(required=False, help_text="For `stale_state`.")


PROBLEM_DESCRIPTIONS = {
    "400": "Malformed JSON, or an invalid query parameter or header.",
    "401": "Missing, unknown or revoked API key.",
    "403": "The key lacks the scope, or the staff role lacks the right.",
    "404": "No such resource.",
    "406": "The Accept header names no JSON type.",
    "409": "Conflict: the state changed, the action is not allowed now, or the "
    "Idempotency-Key is in use.",
    "413": "The request body is too large.",
    "415": "The body is not JSON.",
    "422": "The body (or the external id in the path) is not valid; `errors` names each field "
    "(and batch item).",
    "429": "Too many requests.",
}


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.ApiKeyAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key from `manage.py create_api_client` (`tsk_...`).",
        }


class ProblemAutoSchema(AutoSchema):
    """Adds the scope and the problem responses that every operation may answer."""

    def _scope(self) -> str | None:
        scopes: dict[str, str] = getattr(self.view, "scopes", {})
        return scopes.get(self.method)

    def get_operation(self, *args: Any, **kwargs: Any) -> Any:
        operation = super().get_operation(*args, **kwargs)
        scope = self._scope()
        if operation is not None and scope:
            operation["x-scopes"] = [scope]
            note = f"**Scope:** `{scope}` (API key), or a staff session with a role allowing it."
            operation["description"] = f"{operation.get('description', '')}\n\n{note}".strip()
        elif operation is not None:
            operation["security"] = [{}]
        return operation

    def _problem_codes(self) -> list[str]:
        codes = ["401", "403", "406", "429"] if self._scope() else ["406"]
        if "{" in self.path:
            codes.append("404")
        if "{external_id}" in self.path:
            codes.append("422")  # an id that breaks the external id rule
        if self.method in ("POST", "PUT", "PATCH"):
            codes += ["400", "409", "413", "415", "422"]
        elif self.method == "GET" and self._scope():
            codes.append("400")
        return sorted(set(codes))

    def _get_response_bodies(self, direction: Any = "response") -> Any:
        responses = super()._get_response_bodies(direction)
        for code in self._problem_codes():
            if code in responses:
                continue
            response = self._get_response_for_code(
                ProblemSerializer, code, [PROBLEM_CONTENT_TYPE], direction
            )
            response["description"] = PROBLEM_DESCRIPTIONS[code]
            responses[code] = response
        return responses
