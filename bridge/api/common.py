"""Pieces shared by the API resources: paging arguments and page envelopes."""

from __future__ import annotations

from flask import current_app
from marshmallow import Schema, fields

from bridge.api.fields import QueryInteger


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
