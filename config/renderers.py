"""The API's JSON renderer: DRF's, with times written by ``config.times.iso``."""

from __future__ import annotations

from rest_framework.renderers import JSONRenderer

from .times import ContractJSONEncoder


class ContractJSONRenderer(JSONRenderer):
    encoder_class = ContractJSONEncoder
