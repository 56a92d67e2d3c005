"""[[placeholder]] parsing, checking and filling, and the default templates."""

from __future__ import annotations

import html
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.core.errors import Invalid
from bridge.mail import placeholders
from bridge.mail.catalog import KINDS, PLACEHOLDERS, sample_values
from bridge.mail.render import html_to_text


def test_names_in_order_without_repeats():
    text = "[[a]] [[ b ]] [[a]] [[c_1]] [x] [[Not]] [[]]"
    assert placeholders.names(text) == ["a", "b", "c_1"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hi [[client_name]]", []),
        ("Hi [[ client_name ]]", []),
        ("Hi [[clientname]]", [("unknown", "[[clientname]]")]),
        ("Hi [[client_name]", [("unbalanced", "[[client_name]")]),
        ("Hi [[client name]]", [("unbalanced", "[[client name]]")]),
        ("[[ [[client_name]]", [("unbalanced", "[[ [[client_name]]")]),
        ("Hi [[Client_Name]]", [("unbalanced", "[[Client_Name]]")]),
        ("a ]] b [ [c]]", []),  # only "[[" opens
        ("[[x]] [[x]]", [("unknown", "[[x]]")]),  # each problem once
    ],
)
def test_problems(text, expected):
    found = placeholders.problems(text, ["client_name"])
    assert [(p.kind, p.text) for p in found] == expected


def test_check_names_every_unknown_placeholder_under_its_field():
    with pytest.raises(Invalid) as caught:
        placeholders.check(
            {"subject": "[[a]] [[zz]]", "body_html": "<p>[[yy]]</p>", "body_text": "[[a]]"},
            ["a"],
        )
    error = caught.value
    assert error.code == "unknown_placeholder"
    assert error.fields == {
        "subject": ["Unknown placeholder [[zz]]."],
        "body_html": ["Unknown placeholder [[yy]]."],
    }
    assert "[[zz]], [[yy]]" in error.message and "[[a]]" in error.message


def test_check_refuses_an_open_bracket():
    with pytest.raises(Invalid) as caught:
        placeholders.check({"body_text": "Pay by [[due_date"}, ["due_date"])
    assert caught.value.code == "unbalanced_placeholder"
    assert "body_text" in caught.value.fields


def test_fill():
    values = {"name": '<b>Ann & "Bob"</b>', "n": 3}
    assert placeholders.fill_text("Hi [[name]] x[[ n ]]", values) == 'Hi <b>Ann & "Bob"</b> x3'
    assert placeholders.fill_html("<a title='[[name]]'>", values) == (
        "<a title='&lt;b&gt;Ann &amp; &#34;Bob&#34;&lt;/b&gt;'>"
    )
    assert placeholders.fill_text("[[missing]]!", values) == "!"
    # A value that looks like a placeholder is not filled again.
    assert placeholders.fill_text("[[a]]", {"a": "[[b]]", "b": "no"}) == "[[b]]"


def test_subjects_never_carry_line_breaks():
    subject = placeholders.fill_subject("Re: [[x]]", {"x": "a\r\nBcc: evil@example.com\n"})
    assert subject == "Re: a Bcc: evil@example.com"


values_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60)


@given(value=values_text)
def test_any_value_is_escaped_in_html_and_kept_in_text(value):
    filled = placeholders.fill_html('<p title="[[v]]">[[v]]</p>', {"v": value})
    # Nothing the value holds can open a tag, close the attribute or start an entity.
    inner = filled[len('<p title="') : -len("</p>")]
    attribute, _, body = inner.partition('">')
    for part in (attribute, body):
        assert "<" not in part and ">" not in part and '"' not in part and "'" not in part
        assert html.unescape(part) == value
        assert not re.search(r"&(?!(amp|lt|gt|#34|#39);)", part)
    assert placeholders.fill_text("[[v]]", {"v": value}) == value


@given(value=values_text)
def test_any_value_in_a_subject_is_one_line(value):
    subject = placeholders.fill_subject("[[v]]", {"v": value})
    assert "\n" not in subject and "\r" not in subject


@pytest.mark.parametrize("language", ["en", "fr", "de"])
@pytest.mark.parametrize("key", list(KINDS))
def test_every_default_template_uses_only_its_placeholders(key, language):
    kind = KINDS[key]
    assert set(kind.placeholders) <= set(PLACEHOLDERS)
    subject, body_html, body_text = kind.defaults(language)
    texts = {"subject": subject, "body_html": body_html, "body_text": body_text}
    placeholders.check(texts, kind.placeholders)
    for text in texts.values():
        assert placeholders.names(text), key
    assert set(sample_values(kind)) == set(kind.placeholders)


def test_text_derived_from_html():
    markup = (
        "<p>Hello <b>Ann</b>,</p><p>Pay <a href='https://x.example/i/1'>here</a> or "
        "<a href='https://x.example'>https://x.example</a>.</p>"
        "<table><tr><td>Total</td><td>€1</td></tr></table><ul><li>one</li><li>two</li></ul>"
        "<style>p {color: red}</style>a&amp;b"
    )
    assert html_to_text(markup) == (
        "Hello Ann,\n\nPay here (https://x.example/i/1) or https://x.example.\n\n"
        "Total €1\n\n- one\n- two\n\na&b"
    )


@pytest.mark.parametrize("markup", ["<![ x ]>", "<![if x]>", "<a href=", "&#0;", "</"])
def test_text_from_malformed_html_never_fails(markup):
    assert isinstance(html_to_text(markup), str)
