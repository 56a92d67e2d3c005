"""How the API reads a request body: webargs' Flask parser, except that a
JSON document Python refuses to read for a reason other than its syntax (an
integer of more than 4,300 digits, ``sys.get_int_max_str_digits``) is an
unreadable body like any other: 400 ``invalid_json``, never a 500."""

from __future__ import annotations

import json

import flask_smorest
from webargs.flaskparser import FlaskParser


class JsonParser(FlaskParser):
    """webargs' parser, answering 400 for every body ``json.loads`` refuses."""

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
