"""A rendered email made safe to show inside a Hub page (the preview).

The message is rebuilt from an allow-list: structural and text tags only,
no attributes but a link's ``http(s)``/``mailto`` address (and the
``button`` class, so the call to action still looks like one); the
contents of ``head``, ``style``, ``script`` and other active elements are
dropped, every text is escaped, and every tag opened is closed. The page's
Content Security Policy stays the second fence.
"""

from __future__ import annotations

from html.parser import HTMLParser

from markupsafe import Markup, escape

ALLOWED = frozenset(
    {
        "a", "b", "blockquote", "br", "code", "div", "em", "h1", "h2", "h3", "h4",
        "hr", "i", "li", "ol", "p", "pre", "small", "span", "strong", "table",
        "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
    }
)  # fmt: skip
VOID = frozenset({"br", "hr"})
# Dropped with everything inside them.
DROPPED = frozenset(
    {"head", "title", "style", "script", "template", "iframe", "object", "embed", "svg",
     "math", "noscript", "textarea", "select", "button"}
)  # fmt: skip
SAFE_SCHEMES = ("http://", "https://", "mailto:")


class _Cleaner(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.open: list[str] = []
        self.dropping = 0

    def handle_starttag(self, tag, attrs):
        if tag in DROPPED:
            self.dropping += 1
            return
        if self.dropping or tag not in ALLOWED:
            return
        extra = ""
        values = dict(attrs)
        if tag == "a":
            href = (values.get("href") or "").strip()
            if href.lower().startswith(SAFE_SCHEMES):
                extra += f' href="{escape(href)}" rel="noopener noreferrer"'
            if "button" in (values.get("class") or "").split():
                extra += ' class="email-button"'
        self.out.append(f"<{tag}{extra}>")
        if tag not in VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag in DROPPED:
            self.dropping = max(0, self.dropping - 1)
        elif tag in self.open and tag not in VOID and self.open[-1] == tag:
            self.handle_endtag(tag)

    def handle_endtag(self, tag):
        if tag in DROPPED:
            self.dropping = max(0, self.dropping - 1)
            return
        if self.dropping or tag not in self.open:
            return
        while self.open:
            closed = self.open.pop()
            self.out.append(f"</{closed}>")
            if closed == tag:
                break

    def handle_data(self, data):
        if not self.dropping:
            self.out.append(str(escape(data)))


def safe_html(markup: str) -> Markup:
    """``markup`` (a whole email) as an inert fragment to place in a page."""
    cleaner = _Cleaner()
    try:
        cleaner.feed(markup)
        cleaner.close()
    except AssertionError:  # html.parser gives up on some malformed markup
        return Markup("<pre>") + escape(markup) + Markup("</pre>")
    cleaner.out.extend(f"</{tag}>" for tag in reversed(cleaner.open))
    return Markup("".join(cleaner.out))  # noqa: S704  (rebuilt from the allow-list above)
