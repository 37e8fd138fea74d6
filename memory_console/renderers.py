"""The API's JSON answers with every number exact (`memory_console.jsonvalues`).

django-ninja's default renderer writes through `json` and Django's encoder, which turns a
`Decimal` into a string; a trait value such as ``123456789012345678.5`` (kept as a Decimal so that
no digit is lost) must reach clients as that JSON number. Everything else renders as before:
datetimes, dates and times through Django's encoder (ISO 8601, milliseconds, ``Z`` for UTC), and
pydantic models, enums, URLs and addresses through ninja's.
"""

import orjson
from ninja.renderers import JSONRenderer

from memory_console.jsonvalues import dumps_bytes

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS


class ExactJSONRenderer(JSONRenderer):
    """orjson with exact numbers; the default renderer for what orjson refuses (a lone surrogate)."""

    def render(self, request, data, *, response_status: int):
        encoder = self.encoder_class()
        try:
            return dumps_bytes(data, option=_OPTIONS, default=encoder.default)
        except TypeError:
            return super().render(request, data, response_status=response_status)
