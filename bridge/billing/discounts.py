"""How a coupon's discount falls on an invoice's lines: pure arithmetic on
integers in minor units, no database.

One rounding rule per step, each documented where it happens:

1. A line's amount is unit x quantity rounded half-up once
   (``money.line_amount``); the discount starts from it.
2. *Percent off* (``percent_e2``: hundredths of a percent, 12.5 % is 1250)
   is computed per eligible line: ``amount x percent_e2 / 10 000`` rounded
   half-up once, on that line alone (a line never changes with its
   neighbours, as taxes).
3. *Amount off* on an invoice is spread over its eligible lines pro rata
   to their amounts with the largest-remainder method: each line takes the
   floor of its exact share, and the minor units left over go one each to
   the lines with the largest remainders (ties: the earlier line), so the
   shares sum exactly to the amount off (or to the eligible lines' total,
   when the amount off is larger: every eligible line then goes to 0).
4. A line's discount is never more than its amount: no line goes below 0.
5. Taxes are then computed on the discounted amount, per line
   (``taxes.line_totals`` with ``discount``), and the invoice's totals are
   the sums of its lines as always.
"""

from __future__ import annotations

from collections.abc import Sequence

from bridge.core.money import round_half_up

HUNDRED_PERCENT_E2 = 10_000
"""100 % in hundredths of a percent."""


def percent_discount(amount: int, percent_e2: int) -> int:
    """Rule 2: ``percent_e2`` hundredths of a percent of ``amount``, rounded
    half-up once (never more than the amount)."""
    if amount < 0 or not 0 <= percent_e2 <= HUNDRED_PERCENT_E2:
        raise ValueError("amount must be >= 0 and percent between 0 and 100")
    return round_half_up(amount * percent_e2, HUNDRED_PERCENT_E2)


def spread(amount_off: int, amounts: Sequence[int]) -> list[int]:
    """Rule 3: ``amount_off`` shared over ``amounts`` pro rata (largest
    remainder). The shares sum to ``min(amount_off, sum(amounts))`` and no
    share exceeds its amount."""
    if amount_off < 0 or any(a < 0 for a in amounts):
        raise ValueError("amounts must be >= 0")
    total = sum(amounts)
    if total == 0 or amount_off == 0:
        return [0] * len(amounts)
    if amount_off >= total:
        return list(amounts)
    shares = [amount_off * a // total for a in amounts]
    remainders = [amount_off * a % total for a in amounts]
    left = amount_off - sum(shares)
    # The largest remainders first; among equals, the earlier line.
    order = sorted(range(len(amounts)), key=lambda i: (-remainders[i], i))
    for i in order[:left]:
        shares[i] += 1
    return shares


def line_discounts(
    amounts: Sequence[int],
    eligible: Sequence[bool],
    *,
    percent_e2: int | None = None,
    amount_off: int | None = None,
) -> list[int]:
    """The discount of each line (same order as ``amounts``): percent off
    per eligible line, or an amount off spread over the eligible lines;
    ineligible lines get 0. Exactly one of ``percent_e2``/``amount_off``."""
    if (percent_e2 is None) == (amount_off is None):
        raise ValueError("give either percent_e2 or amount_off")
    if percent_e2 is not None:
        return [
            percent_discount(a, percent_e2) if ok else 0
            for a, ok in zip(amounts, eligible, strict=True)
        ]
    picked = [i for i, ok in enumerate(eligible) if ok]
    shares = spread(amount_off, [amounts[i] for i in picked])
    result = [0] * len(amounts)
    for i, share in zip(picked, shares, strict=True):
        result[i] = share
    return result
