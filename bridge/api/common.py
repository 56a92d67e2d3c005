"""Pieces shared by the API resources: paging arguments, page envelopes, and
the fast dump of a schema for the busiest lists."""

from __future__ import annotations

import keyword
from collections.abc import Callable

from flask import current_app, g, request
from marshmallow import Schema, fields

from bridge.api.fields import QueryInteger


def carries_secret() -> None:
    """The answer being built holds a secret (a site secret, a connect
    code): ``Cache-Control: no-store``, so no cache or proxy keeps it."""
    g.answer_carries_secret = True


def api_headers(response):
    """``after_request`` of the app, for the JSON paths (API, webhooks,
    health): ``nosniff`` on every answer, so a browser never reads one as
    HTML, and ``no-store`` on those ``carries_secret`` marked."""
    if request.path.startswith(("/api/", "/webhooks/", "/healthz")):
        response.headers["X-Content-Type-Options"] = "nosniff"
        if g.get("answer_carries_secret"):
            response.headers["Cache-Control"] = "no-store"
    return response


class PageArgs(Schema):
    page = QueryInteger(minimum=1, maximum=1_000_000, load_default=1)
    per_page = QueryInteger(minimum=1, maximum=100, load_default=None)


def paging(args: dict) -> dict:
    """``page`` and ``per_page`` from parsed query arguments, with the default size."""
    per_page = args.pop("per_page", None) or current_app.config["API_DEFAULT_PAGE_SIZE"]
    return {"page": args.pop("page", 1), "per_page": per_page}


def page_schema(item_schema: type[Schema], name: str) -> type[Schema]:
    """A page envelope ``{data, page, per_page, total, pages}`` around items."""
    return Schema.from_dict(
        {
            "data": fields.List(fields.Nested(item_schema), attribute="items", required=True),
            "page": fields.Integer(required=True),
            "per_page": fields.Integer(required=True),
            "total": fields.Integer(required=True),
            "pages": fields.Integer(required=True),
        },
        name=name,
    )


def list_schema(item_schema: type[Schema], name: str) -> type[Schema]:
    """An unpaged list envelope ``{data}`` (short lists: roles, tax rates)."""
    return Schema.from_dict(
        {"data": fields.List(fields.Nested(item_schema), required=True)}, name=name
    )


def fast_dumper(schema: type[Schema]) -> Callable[[object], dict]:
    """A function giving what ``schema().dump(obj)`` gives, several times
    faster, for the busiest lists. The schema stays the one definition of the
    shape (and documents it): its fields are read once, here, and written out
    as one dict display, the code one would write by hand (dataclasses builds
    its ``__init__`` the same way). A field whose dump is more than an
    attribute read and a plain conversion raises TypeError at import, rather
    than the two drifting apart. Only a field with ``allow_none`` may find
    None to convert (it dumps null); elsewhere None fails loudly."""
    namespace: dict[str, object] = {}
    body = _dump_expression(schema, "obj", namespace)
    source = f"def dump(obj):\n    return {body}\n"
    # The source holds only identifiers checked below and repr()'d keys.
    exec(compile(source, f"<fast dump of {schema.__name__}>", "exec"), namespace)  # noqa: S102
    return namespace["dump"]  # type: ignore[return-value]


def _dump_expression(schema: type[Schema], var: str, namespace: dict, depth: int = 0) -> str:
    """A dict display dumping the object that the expression ``var`` reads,
    by ``schema``'s fields."""
    items = []
    for name, field in schema().dump_fields.items():
        attribute = field.attribute or name
        if not attribute.isidentifier() or keyword.iskeyword(attribute):
            raise TypeError(f"{name}: the attribute {attribute!r} has no fast dump")
        value = f"{var}.{attribute}"
        if isinstance(field, fields.Function):
            function = f"_function_{len(namespace)}"
            namespace[function] = field.serialize_func
            expression = f"{function}({var})"
        elif isinstance(field, fields.Nested) and not field.many:
            if field.allow_none:
                inner = f"_nested_{depth}"
                nested = _dump_expression(type(field.schema), inner, namespace, depth + 1)
                expression = f"(None if ({inner} := {value}) is None else {nested})"
            else:
                expression = _dump_expression(type(field.schema), value, namespace, depth + 1)
        elif isinstance(field, fields.Enum) and field.by_value is True:
            expression = _converted(value, ".value", field.allow_none)
        elif isinstance(field, fields.DateTime) and field.format in (None, "iso"):
            expression = _converted(value, ".isoformat()", field.allow_none)
        elif type(field) in (fields.Integer, fields.String, fields.Boolean):
            # What marshmallow would convert these to, they already are.
            expression = value
        else:
            raise TypeError(f"{name}: a {type(field).__name__} field has no fast dump")
        items.append(f"{field.data_key or name!r}: {expression}")
    return "{" + ", ".join(items) + "}"


def _converted(value: str, conversion: str, allow_none: bool) -> str:
    if allow_none:
        return f"(None if (_v := {value}) is None else _v{conversion})"
    return f"{value}{conversion}"
