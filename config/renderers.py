"""The API's JSON renderer: DRF's, with times written by ``config.times.iso`` and the document
written by orjson (docs/adr/0008).

orjson writes the plain types itself (dicts, lists, tuples, strings, integers, floats, booleans,
``None``, and subclasses of them such as DRF's ``ReturnDict`` and ``ErrorDetail``); every other
value (times, decimals, lazy strings, dataclasses) goes through ``ContractJSONEncoder``, so it is
written as before. What orjson cannot write (an integer beyond 64 bits, nesting past its limit)
and indented output (``Accept: application/json; indent=4``) are rendered by the ``json`` module
as before. The text differs only in how some floats are spelt (``1e16``, not ``1e+16``: the same
number), and a float that is not finite, which ``json`` refuses with an error, is written as
``null``; the service writes no such float.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from rest_framework.renderers import JSONRenderer

from .times import ContractJSONEncoder

# Types orjson would write in a form of its own are handed to the encoder instead.
_OPTIONS = (
    orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_NON_STR_KEYS
)
_ENCODER = ContractJSONEncoder()


def _js_safe(text: bytes) -> bytes:
    """As DRF does: the line and paragraph separators escaped, so the document is also valid
    JavaScript."""
    if b"\xe2\x80" in text:
        text = text.replace(b"\xe2\x80\xa8", b"\\u2028")
        text = text.replace(b"\xe2\x80\xa9", b"\\u2029")
    return text


def json_plain(data: Any) -> bytes:
    """A document of plain JSON values (no times, no other types) as the renderer writes it:
    for the hot paths that build their answer by hand."""
    return _js_safe(orjson.dumps(data))


class ContractJSONRenderer(JSONRenderer):
    encoder_class = ContractJSONEncoder

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        if data is None:
            return b""
        plain = self.compact and not self.ensure_ascii and self.strict
        if plain and self.get_indent(accepted_media_type or "", renderer_context or {}) is None:
            try:
                text = orjson.dumps(data, default=_ENCODER.default, option=_OPTIONS)
            except orjson.JSONEncodeError:
                pass
            else:
                return _js_safe(text)
        return super().render(data, accepted_media_type, renderer_context)
