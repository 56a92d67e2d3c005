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


class Quantity(fields.Field):
    """A quantity with at most three decimals, more than 0 and at most
    ``maximum``: a JSON number (2, 1.5) or a decimal string ("0.25").
    Loaded as an exact Decimal; dumped as a JSON number (1.5)."""

    def __init__(self, *, maximum: int, **kwargs):
        self.maximum = maximum
        kwargs.setdefault("metadata", {})
        kwargs["metadata"].setdefault(
            "description", f"More than 0, at most {maximum}, up to 3 decimals (1.5)"
        )
        super().__init__(**kwargs)

    def _jsonschema_type_mapping(self):
        return {"oneOf": [{"type": "number"}, {"type": "string"}]}

    def _deserialize(self, value, attr, data, **kwargs):
        from decimal import Decimal

        from bridge.core.money import InvalidQuantity, quantity_decimal, quantity_e3

        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValidationError("Not a number.")
        if isinstance(value, float):
            # The shortest text of the JSON number: 0.1 is "0.1", exactly.
            value = Decimal(repr(value)) if value == value and abs(value) < 1e12 else "x"
        if isinstance(value, str):
            match = re.fullmatch(r"(-?)[0-9]{1,12}(?:\.([0-9]+))?", value)
            if match is None:
                raise ValidationError("Not a number: write it like 1.5.")
            if match[1]:
                raise ValidationError("Must be more than 0.")
            if match[2] and len(match[2]) > 3:
                raise ValidationError("At most 3 decimals.")
        try:
            result = quantity_e3(value)
        except InvalidQuantity:
            raise ValidationError(
                "At most 3 decimals." if value != "x" else "Not a number."
            ) from None
        if result < 0 or (isinstance(value, int) and value < 0):
            raise ValidationError("Must be more than 0.")
        if result == 0:
            raise ValidationError("Must be more than 0.")
        if result > self.maximum * 1000:
            raise ValidationError(f"At most {self.maximum}.")
        return quantity_decimal(result)

    def _serialize(self, value, attr, obj, **kwargs):
        """A Decimal as a JSON number: 2, or 1.5 (a float whose shortest
        text is the decimal itself, exactly)."""
        if value is None:
            return None
        return int(value) if value == value.to_integral_value() else float(value)
