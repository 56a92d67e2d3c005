"""Aligned columns: wrapping with the invoice font's metrics and stacking
rows into blocks whose columns line up."""

from bridge.pdf import layout
from bridge.pdf.fonts import text_width


def test_wrap_keeps_every_line_within_the_width_and_every_word():
    text = "Website maintenance including updates, backups, uptime monitoring and reports"
    lines = layout.wrap(text, 120, 9)
    assert len(lines) > 1
    assert all(text_width(line, 9) <= 120 for line in lines)
    assert " ".join(lines) == text


def test_a_word_wider_than_the_column_is_cut_inside():
    word = "x" * 80
    lines = layout.wrap(word, 50, 9)
    assert "".join(lines) == word
    assert all(text_width(line, 9) <= 50 for line in lines)


def test_no_break_spaces_hold_an_amount_together():
    # Babel's French amount: narrow no-break space and no-break space.
    amount = "1\u202f234\u202f567,50\u00a0€"
    width = layout.measure(amount, 9) + 1
    assert layout.wrap(f"Total due {amount}", width, 9) == ["Total due", amount]


def test_stack_pads_rows_so_columns_line_up_and_never_splits_a_row():
    tall = ([layout.Cell("a1"), layout.Cell("a2"), layout.Cell("a3")], [layout.Cell("1")])
    short = ([layout.Cell("b1")], [layout.Cell("2")])
    blocks = layout.stack([tall, short, short], max_lines=4)
    assert [[[c.text for c in column] for column in block] for block in blocks] == [
        [["a1", "a2", "a3", "b1"], ["1", "\u00a0", "\u00a0", "2"]],
        [["b1"], ["2"]],
    ]
    # A row taller than a block is a block of its own.
    assert len(layout.stack([tall], max_lines=2)) == 1


def test_columns_with_entities_are_not_printed_pre_line():
    assert layout.is_plain([layout.Cell("Zoë"), layout.Cell("“quoted” > x")])
    assert not layout.is_plain([layout.Cell("Zoë & Co")])
    assert not layout.is_plain([layout.Cell("a <b>")])
