"""The OpenAPI schema: scopes, bearer keys and problem responses on every operation."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import (
    OpenApiAuthenticationExtension,
    OpenApiSerializerExtension,
    OpenApiSerializerFieldExtension,
)
from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers

from .api import NO_NUL_PATTERN
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
    "414": "The request line (method, path and query) is longer than the server takes.",
    "415": "The body is not JSON.",
    "422": "The body (or the external id in the path) is not valid; `errors` names each field "
    "(and batch item).",
    "429": "Too many requests.",
    "431": "A request header is too large, or there are too many headers.",
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
            note = (
                f"**Scope:** `{scope}`, of a partner's API key only."
                if scope.startswith("partner:")
                else f"**Scope:** `{scope}` (API key), or a staff session with a role allowing it."
            )
            operation["description"] = f"{operation.get('description', '')}\n\n{note}".strip()
        elif operation is not None:
            operation["security"] = [{}]
        return operation

    def _problem_codes(self) -> list[str]:
        # 414 and 431 come from the HTTP server (config/gunicorn.conf.py), before any view.
        codes = ["401", "403", "406", "429"] if self._scope() else ["406"]
        codes += ["414", "431"]
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


class StrictSerializerSchema(OpenApiSerializerExtension):
    """A strict request body refuses undeclared fields: ``additionalProperties: false``."""

    target_class = "config.api.StrictSerializer"
    match_subclasses = True

    def map_serializer(self, auto_schema: Any, direction: Any) -> Any:
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        schema["additionalProperties"] = False
        # drf-spectacular leaves out the bounds of a nested list of objects.
        for name, field in self.target.fields.items():
            prop = schema.get("properties", {}).get(name)
            if isinstance(field, serializers.ListSerializer) and prop is not None:
                bounds = (("minItems", "min_length"), ("maxItems", "max_length"))
                for keyword, attribute in bounds:
                    if getattr(field, attribute, None) is not None:
                        prop[keyword] = getattr(field, attribute)
        return schema


class TextFieldSchema(OpenApiSerializerFieldExtension):
    """Text fields state what they refuse: NUL, and blank text unless it is allowed."""

    target_class = "config.api.TextField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema: Any, direction: Any) -> Any:
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        schema["pattern"] = self.target.pattern
        if not self.target.allow_blank:
            schema["minLength"] = max(1, schema.get("minLength", 0))
        return schema


def query_text_without_nul(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: a query parameter holding NUL is a 400
    (``config.problems.ApiProblemMiddleware``), so free-text query parameters say so."""
    for item in result.get("paths", {}).values():
        for operation in item.values():
            for parameter in operation.get("parameters", []) if isinstance(operation, dict) else []:
                schema = parameter.get("schema", {})
                if (
                    parameter.get("in") == "query"
                    and schema.get("type") == "string"
                    and not {"pattern", "enum", "format"} & schema.keys()
                ):
                    schema["pattern"] = NO_NUL_PATTERN
    return result
