"""Text laid out in aligned columns, ahead of xhtml2pdf.

xhtml2pdf spends most of an invoice's time on table cells: every cell is a
paragraph with its own style cascade, measured and wrapped several times.
So a block of invoice lines is not one table row per line but one row of a
few cells, each cell holding its column's text for all the lines of the
block, one visual line per line of text. For the columns to stay level,
every line is wrapped here, with the same font metrics, into lines
narrower than the cell; a line that takes more room in one column gets
blank lines in the others. xhtml2pdf then never wraps anything itself.

A column is printed with ``white-space: pre-line`` (lines separated by
newlines, the cheapest for xhtml2pdf) when it is *plain*; see ``is_plain``
for when it is not. Blocks are kept short (``stack``) so that a page break
falls between blocks: a table row never splits across pages.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from bridge.pdf.fonts import text_width

# Only ASCII white space separates words: a no-break space (French
# thousands, "Total :") must keep its neighbours together.
_SPACES = re.compile(r"[ \t\r\n\f\v]+")


@dataclass(frozen=True)
class Cell:
    """One visual line of one column, with an optional style (a CSS class
    of the invoice template: "label", "strong", "due")."""

    text: str
    style: str = ""

    @property
    def bold(self) -> bool:
        return self.style in BOLD_STYLES


BOLD_STYLES = frozenset({"strong", "due"})
# A line that is blank in one column and not in another.
BLANK = Cell("\u00a0")

Column = list[Cell]
Row = Sequence[Column]


def measure(text: str, size: float, *, bold: bool = False) -> float:
    """The width of ``text`` as xhtml2pdf will draw it: in a pre-line cell
    it turns every run of white space, no-break ones included, into one
    space, which is never narrower than the no-break spaces Babel writes."""
    return text_width(" ".join(text.split()), size, bold=bold)


def wrap(text: str, width: float, size: float, *, bold: bool = False) -> list[str]:
    """``text`` broken into lines at most ``width`` points wide in the
    invoice font at ``size`` points: at spaces when it can, inside a word
    that is wider than a line by itself. Runs of white space become one
    space; an empty text is one empty line."""
    return list(_wrap(text, width, size, bold))


# Descriptions and amounts repeat, within an invoice and across invoices.
@lru_cache(maxsize=4096)
def _wrap(text: str, width: float, size: float, bold: bool) -> tuple[str, ...]:
    words = _SPACES.split(text.strip())
    if measure(" ".join(words), size, bold=bold) <= width:
        return (" ".join(words),)
    lines: list[str] = []
    current = ""
    for word in words:
        candidate = f"{current} {word}" if current else word
        if measure(candidate, size, bold=bold) <= width:
            current = candidate
            continue
        if current:
            lines.append(current)
        if measure(word, size, bold=bold) <= width:
            current = word
            continue
        pieces = _break_word(word, width, size, bold)
        lines.extend(pieces[:-1])
        current = pieces[-1]
    lines.append(current)
    return tuple(lines)


def _break_word(word: str, width: float, size: float, bold: bool) -> list[str]:
    pieces = []
    current = ""
    for char in word:
        if current and measure(current + char, size, bold=bold) > width:
            pieces.append(current)
            current = char
        else:
            current += char
    pieces.append(current)
    return pieces


def cells(text: str, width: float, size: float, style: str = "") -> Column:
    """``text`` wrapped to ``width``, one Cell per visual line."""
    bold = style in BOLD_STYLES
    return [Cell(line or BLANK.text, style) for line in _wrap(text, width, size, bold)]


def is_plain(column: Iterable[Cell]) -> bool:
    """Whether ``column`` can be printed white-space: pre-line. Not when a
    line holds ``&`` or ``<``: those are written as entities, the HTML
    parser splits the text around them, and xhtml2pdf's pre-line trims the
    spaces at each split ("A & B" would print "A&B"). Such a column is
    printed with <br/> between lines instead, which keeps them."""
    return not any("&" in cell.text or "<" in cell.text for cell in column)


def height(row: Row) -> int:
    return max((len(column) for column in row), default=0)


def stack(rows: Iterable[Row], max_lines: int) -> list[list[Column]]:
    """Rows (each a sequence of columns of wrapped Cells) stacked into
    blocks of at most ``max_lines`` visual lines, never splitting a row (a
    taller row is a block of its own). Each block is a list of columns
    whose cells line up: every row is padded to its tallest column."""
    blocks: list[list[Column]] = []
    current: list[Column] = []
    used = 0
    for row in rows:
        row_height = height(row)
        if current and used + row_height > max_lines:
            blocks.append(current)
            current, used = [], 0
        if not current:
            current = [[] for _ in row]
        for column, row_cells in zip(current, row, strict=True):
            column.extend(row_cells)
            column.extend([BLANK] * (row_height - len(row_cells)))
        used += row_height
    if current:
        blocks.append(current)
    return blocks
