"""``[[placeholder]]`` fields in email templates: find them, check them, fill them.

A placeholder is a name of lower-case letters, digits and underscores
between double square brackets, spaces allowed inside (``[[ client_name ]]``).
Saving a template checks that every placeholder is one the template offers
and that no ``[[`` is left open; filling replaces each by its value, escaped
for HTML in the HTML part (``markupsafe``), as is in the text and subject.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from markupsafe import escape

from bridge.core.errors import Invalid

NAME = r"[a-z][a-z0-9_]{0,49}"
PLACEHOLDER = re.compile(r"\[\[\s*(" + NAME + r")\s*\]\]")
# What follows an opening "[[" when it is not a well-formed placeholder.
_OPENING = re.compile(r"\[\[")


@dataclass(frozen=True)
class Problem:
    """Something wrong with the placeholders of one text."""

    kind: str  # "unknown" or "unbalanced"
    text: str  # the placeholder as written, or the text around the open "[["

    def message(self) -> str:
        if self.kind == "unknown":
            return f"Unknown placeholder {self.text}."
        return f"Unbalanced '[[' near {self.text!r}: write placeholders as [[name]]."


def names(text: str) -> list[str]:
    """The placeholder names used in ``text``, in order, without repeats."""
    return list(dict.fromkeys(m.group(1) for m in PLACEHOLDER.finditer(text)))


def problems(text: str, allowed: Iterable[str]) -> list[Problem]:
    """Unknown placeholders and every ``[[`` that does not open one."""
    allowed = set(allowed)
    found: list[Problem] = []
    position = 0
    while True:
        opening = _OPENING.search(text, position)
        if opening is None:
            break
        match = PLACEHOLDER.match(text, opening.start())
        if match is None:
            start = opening.start()
            found.append(Problem("unbalanced", text[start : start + 30]))
            position = opening.end()
            continue
        if match.group(1) not in allowed:
            found.append(Problem("unknown", f"[[{match.group(1)}]]"))
        position = match.end()
    return list(dict.fromkeys(found))


def check(texts: Mapping[str, str], allowed: Iterable[str]) -> None:
    """Raise ``Invalid`` (422) naming each bad placeholder under the field
    (subject, body_html, body_text) it was found in."""
    allowed = sorted(set(allowed))
    errors: dict[str, list[str]] = {}
    unknown: list[str] = []
    for field, text in texts.items():
        for problem in problems(text or "", allowed):
            errors.setdefault(field, []).append(problem.message())
            if problem.kind == "unknown" and problem.text not in unknown:
                unknown.append(problem.text)
    if errors:
        if unknown:
            message = (
                f"Unknown placeholder{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                f"this template offers {', '.join(f'[[{n}]]' for n in allowed)}."
            )
            code = "unknown_placeholder"
        else:
            message = "A '[[' is not closed: write placeholders as [[name]]."
            code = "unbalanced_placeholder"
        raise Invalid(message, code=code, fields=errors)


def fill_text(text: str, values: Mapping[str, object]) -> str:
    """``text`` with each placeholder replaced by its value as is (text part)."""
    return PLACEHOLDER.sub(lambda m: _value(values, m.group(1)), text)


def fill_subject(text: str, values: Mapping[str, object]) -> str:
    """A subject line: values as is, but never a line break (header injection)."""
    filled = PLACEHOLDER.sub(lambda m: " ".join(_value(values, m.group(1)).split()), text)
    return " ".join(filled.split())


def fill_html(html: str, values: Mapping[str, object]) -> str:
    """``html`` (the agency's own markup, trusted) with each placeholder
    replaced by its value escaped for HTML, so a client named
    ``<script>`` stays text, also inside quoted attributes."""
    return PLACEHOLDER.sub(lambda m: str(escape(_value(values, m.group(1)))), html)


def _value(values: Mapping[str, object], name: str) -> str:
    value = values.get(name)
    return "" if value is None else str(value)
