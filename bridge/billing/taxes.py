"""Line and invoice totals with taxes.

Each line is ``quantity x unit amount``, rounded half-up once to a minor
unit (``money.line_amount``: quantities have up to three decimals). Each
line's own tax rates (the invoice's by default) are applied to it and
rounded half-up *once per line*; invoice totals are sums of rounded
lines (ARCHITECTURE decision 1), so a line never changes with its neighbours.

- An *exclusive* rate adds tax on top of the line's net amount.
- *Inclusive* rates are inside the price: the tax is extracted, the line's
  total stays the price. With several inclusive rates each is extracted
  from the same base: tax_i = base x p_i / (1 + sum p).
- Exclusive rates apply to the net amount (after extraction), so mixing
  both kinds taxes the same net.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bridge.core.money import line_amount, percent_of, round_half_up

# Percentages are in ten-thousandths of a percent: 100% is 1_000_000.
HUNDRED_PERCENT = 1_000_000


@dataclass(frozen=True)
class Rate:
    """A tax rate as it applies to a line (a snapshot: rates may be archived later)."""

    key: int | str
    name: str
    percentage_e4: int
    inclusive: bool
    exemption: str = ""  # a 0 % rate standing for a VAT exemption (bridge.billing.legal)


@dataclass(frozen=True)
class LineTotals:
    base: int  # quantity x unit amount, as priced, rounded once
    net: int  # before tax (after the discount)
    taxes: dict = field(default_factory=dict)  # rate key -> tax amount
    total: int = 0  # what the client pays for the line
    discount: int = 0  # taken off ``base`` before any tax (bridge.billing.discounts)


@dataclass(frozen=True)
class Totals:
    subtotal: int  # sum of net amounts (before tax)
    taxes: dict  # rate key -> sum of that rate's line taxes
    tax: int  # sum of all taxes
    total: int  # subtotal + tax


def line_totals(
    quantity_e3: int, unit_amount: int, rates: list[Rate], discount: int = 0
) -> LineTotals:
    """The totals of a line of ``quantity_e3`` thousandths (1.5 -> 1500).
    ``discount`` (minor units, at most the line's amount) comes off the
    price before the taxes: they are computed on the discounted amount (an
    inclusive tax is extracted from the discounted price)."""
    if quantity_e3 < 1 or unit_amount < 0:
        raise ValueError("quantity must be > 0 and unit amount >= 0")
    base = line_amount(unit_amount, quantity_e3)
    if not 0 <= discount <= base:
        raise ValueError("a discount is between 0 and the line's amount")
    priced = base - discount
    inclusive = [r for r in rates if r.inclusive]
    exclusive = [r for r in rates if not r.inclusive]
    inclusive_sum = sum(r.percentage_e4 for r in inclusive)
    taxes: dict = {}
    for rate in inclusive:
        taxes[rate.key] = round_half_up(
            priced * rate.percentage_e4, HUNDRED_PERCENT + inclusive_sum
        )
    net = priced - sum(taxes.values())
    for rate in exclusive:
        taxes[rate.key] = percent_of(net, rate.percentage_e4)
    total = net + sum(taxes.values())
    return LineTotals(base=base, net=net, taxes=taxes, total=total, discount=discount)


def invoice_totals(lines: list[LineTotals]) -> Totals:
    taxes: dict = {}
    for line in lines:
        for key, amount in line.taxes.items():
            taxes[key] = taxes.get(key, 0) + amount
    subtotal = sum(line.net for line in lines)
    tax = sum(taxes.values())
    return Totals(subtotal=subtotal, taxes=taxes, tax=tax, total=subtotal + tax)
