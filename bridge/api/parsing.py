"""How the API reads a request body: webargs' Flask parser, except that a
JSON document Python refuses to read for a reason other than its syntax (an
integer of more than 4,300 digits, ``sys.get_int_max_str_digits``) is an
unreadable body like any other: 400 ``invalid_json``, never a 500; and that
each argument schema is made once, not on every request."""

from __future__ import annotations

import json

import flask_smorest
import marshmallow
from webargs.flaskparser import FlaskParser


class JsonParser(FlaskParser):
    """webargs' parser, answering 400 for every body ``json.loads`` refuses,
    and reusing one instance of each schema class it is given."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._schemas: dict[type[marshmallow.Schema], marshmallow.Schema] = {}

    def _get_schema(self, argmap, req):
        # webargs makes a new instance of a schema class on every request
        # (about 4 % of the client list's CPU). A schema keeps no state between
        # loads, so one instance serves every request and thread; two threads
        # making the first one at once is harmless.
        if isinstance(argmap, type) and issubclass(argmap, marshmallow.Schema):
            schema = self._schemas.get(argmap)
            if schema is None:
                schema = self._schemas[argmap] = argmap()
            return schema
        return super()._get_schema(argmap, req)

    def _raw_load_json(self, req):
        try:
            return super()._raw_load_json(req)
        except json.JSONDecodeError:
            raise
        except ValueError as exc:
            # webargs turns only a JSONDecodeError into its 400 (a document
            # that is not empty, or it would read as "no body").
            raise json.JSONDecodeError(str(exc), "<body>", 0) from exc


PARSER = JsonParser()


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's Blueprint with the parser above: every API resource's."""

    ARGUMENTS_PARSER = PARSER
