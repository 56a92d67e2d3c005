"""Marshmallow fields that refuse what the database or the domain cannot hold.

Every string and integer of the API goes through these, so a NUL byte, a lone
surrogate or a 30-digit number is a 422 naming the field, never a 500 from
the database driver.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata

from marshmallow import ValidationError, fields, validate

INT32_MAX = 2**31 - 1
# Control characters other than tab and newlines, and lone surrogates.
_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


class Text(fields.String):
    """A string of at most ``max_length`` characters without control characters.

    ``multiline`` allows line breaks (descriptions, footers)."""

    def __init__(self, *, max_length: int, multiline: bool = False, **kwargs):
        self.max_length = max_length
        self.multiline = multiline
        validators = [validate.Length(max=max_length), *kwargs.pop("validate", [])]
        kwargs.setdefault("metadata", {})
        super().__init__(validate=validators, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if _FORBIDDEN.search(text) or (not self.multiline and ("\n" in text or "\r" in text)):
            raise ValidationError("Contains control characters.")
        return unicodedata.normalize("NFC", text)


class Integer(fields.Integer):
    """A JSON integer (not a string, not a float, not a boolean) within bounds."""

    def __init__(self, *, minimum: int = 0, maximum: int = INT32_MAX, **kwargs):
        super().__init__(strict=True, validate=validate.Range(min=minimum, max=maximum), **kwargs)

    def _validated(self, value):
        if isinstance(value, bool):
            raise self.make_error("invalid")
        return super()._validated(value)


class QueryInteger(fields.Integer):
    """An integer from a query string ("2"), within bounds."""

    def __init__(self, *, minimum: int = 0, maximum: int = INT32_MAX, **kwargs):
        super().__init__(validate=validate.Range(min=minimum, max=maximum), **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str) and not re.fullmatch(r"-?\d{1,12}", value):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class Base64Bytes(fields.String):
    """Binary content sent as standard base64 text (logos, product images)."""

    def __init__(self, *, max_bytes: int, **kwargs):
        self.max_bytes = max_bytes
        kwargs.setdefault("metadata", {})
        kwargs["metadata"].setdefault("contentEncoding", "base64")
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if len(text) > (self.max_bytes * 4) // 3 + 8:
            raise ValidationError(f"Larger than {self.max_bytes} bytes.")
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValidationError("Not valid base64.") from exc

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        return base64.b64encode(value).decode()


class Boolean(fields.Boolean):
    """A JSON ``true`` or ``false``; not 1, "yes" or "true"."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value
