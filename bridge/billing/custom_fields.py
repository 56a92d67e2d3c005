"""Custom fields: definitions, and validation of the values stored under them."""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bridge.core import clock
from bridge.core.errors import Conflict, Invalid, NotFound
from bridge.models import CustomField, CustomFieldEntity, CustomFieldType

KEY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_TEXT = 500
MAX_OPTIONS = 50


def slugify(label: str) -> str:
    key = re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")
    if not key or not key[0].isalpha():
        key = "field_" + key
    return key[:64].rstrip("_")


def list_fields(session: Session, entity: CustomFieldEntity | None = None) -> list[CustomField]:
    query = select(CustomField).order_by(CustomField.entity, CustomField.position, CustomField.id)
    if entity is not None:
        query = query.where(CustomField.entity == entity)
    return list(session.scalars(query))


def get_field(session: Session, field_id: int) -> CustomField:
    field = session.get(CustomField, field_id)
    if field is None:
        raise NotFound("No such custom field.")
    return field


def _check_options(field_type: CustomFieldType, options: list[str]) -> list[str]:
    if field_type != CustomFieldType.CHOICE:
        if options:
            raise Invalid(
                "Only choice fields have options.", fields={"options": ["Must be empty."]}
            )
        return []
    cleaned = [option.strip() for option in options]
    if not cleaned or any(not option for option in cleaned):
        raise Invalid(
            "A choice field needs at least one non-empty option.",
            fields={"options": ["At least one non-empty option."]},
        )
    if len(set(cleaned)) != len(cleaned):
        raise Invalid("Options must be distinct.", fields={"options": ["Duplicate option."]})
    if len(cleaned) > MAX_OPTIONS:
        raise Invalid(f"At most {MAX_OPTIONS} options.", fields={"options": ["Too many options."]})
    return cleaned


def create_field(
    session: Session,
    *,
    entity: CustomFieldEntity,
    label: str,
    field_type: CustomFieldType,
    key: str | None = None,
    options: list[str] | None = None,
    required: bool = False,
    show_on_invoice: bool = False,
    position: int = 0,
) -> CustomField:
    label = label.strip()
    if not label:
        raise Invalid("A custom field needs a label.", fields={"label": ["Required."]})
    key = key if key is not None else slugify(label)
    if not KEY.match(key):
        raise Invalid(
            "A key is lower-case letters, digits and _, starting with a letter.",
            fields={"key": ["Invalid key."]},
        )
    exists = session.scalar(
        select(func.count())
        .select_from(CustomField)
        .where(CustomField.entity == entity, CustomField.key == key)
    )
    if exists:
        raise Conflict(
            f"A {entity.value} field with the key {key!r} already exists.", code="duplicate_key"
        )
    field = CustomField(
        entity=entity,
        key=key,
        label=label,
        field_type=field_type,
        options=_check_options(field_type, options or []),
        required=required,
        show_on_invoice=show_on_invoice,
        position=position,
        created_at=clock.now(),
    )
    session.add(field)
    session.flush()
    return field


def update_field(session: Session, field: CustomField, changes: dict) -> CustomField:
    """Label, options (choice fields), required, invoice flag and position may
    change; the key and type may not (stored values depend on them)."""
    for fixed in ("key", "field_type", "entity"):
        if fixed in changes and changes[fixed] != getattr(field, fixed):
            raise Conflict(
                f"The {fixed.replace('_', ' ')} of a custom field cannot change; "
                "create a new field instead.",
                code="immutable_field",
            )
    if "label" in changes:
        if not changes["label"].strip():
            raise Invalid("A custom field needs a label.", fields={"label": ["Required."]})
        field.label = changes["label"].strip()
    if "options" in changes:
        field.options = _check_options(field.field_type, changes["options"])
    for key in ("required", "show_on_invoice", "position"):
        if key in changes:
            setattr(field, key, changes[key])
    return field


def delete_field(session: Session, field: CustomField) -> None:
    """Remove the definition; values stored under its key are no longer shown
    or validated (they stay in the rows, harmlessly, for the audit trail)."""
    session.delete(field)


def validate_values(session: Session, entity: CustomFieldEntity, values: dict) -> dict:
    """Values keyed by field key, checked against the field types; returns
    them in canonical form (numbers as decimal strings, dates ISO). Unknown
    keys and missing required fields are refused."""
    fields = {f.key: f for f in list_fields(session, entity)}
    errors: dict[str, list[str]] = {}
    result: dict[str, object] = {}
    for key, value in values.items():
        field = fields.get(key)
        if field is None:
            errors[key] = ["Unknown custom field."]
            continue
        if value is None or value == "":
            continue
        try:
            result[key] = _coerce(field, value)
        except ValueError as exc:
            errors[key] = [str(exc)]
    for key, field in fields.items():
        if field.required and key not in result and key not in errors:
            errors[key] = ["Required."]
    if errors:
        raise Invalid("Some custom field values are invalid.", fields={"custom_fields": errors})
    return result


# Control characters other than tab and line breaks, and lone surrogates:
# refused in every stored string (the API's text fields refuse them too).
FORBIDDEN_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
PLAIN_NUMBER = re.compile(r"-?[0-9]{1,15}(\.[0-9]{1,10})?")
PLAIN_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _coerce(field: CustomField, value: object) -> object:
    if field.field_type == CustomFieldType.TEXT:
        if not isinstance(value, str):
            raise ValueError("Must be text.")
        if len(value) > MAX_TEXT:
            raise ValueError(f"At most {MAX_TEXT} characters.")
        if FORBIDDEN_CHARACTERS.search(value):
            raise ValueError("Contains control characters.")
        return unicodedata.normalize("NFC", value)
    if field.field_type == CustomFieldType.NUMBER:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValueError("Must be a number.")
        text = value if isinstance(value, str) else repr(value)
        # Plain notation only: no exponents, underscores or non-ASCII digits.
        if not PLAIN_NUMBER.fullmatch(text.strip()):
            raise ValueError("Must be a number written like 1234.5.")
        return format(Decimal(text.strip()), "f")
    if field.field_type == CustomFieldType.DATE:
        if not isinstance(value, str) or not PLAIN_DATE.fullmatch(value):
            raise ValueError("Must be a date (YYYY-MM-DD).")
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError as exc:
            raise ValueError("Must be a date (YYYY-MM-DD).") from exc
    if value not in field.options:
        raise ValueError(f"Must be one of: {', '.join(field.options)}.")
    return value
