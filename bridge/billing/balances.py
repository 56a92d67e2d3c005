"""A client's account credit, the way Stripe's customer balance works.

The balance is a ledger (``ClientBalanceEntry``): signed amounts in minor
units per client and currency, positive when credit is granted, negative
when it is used; the balance is their sum and never goes below zero.
Entries are only ever added.

Where credit comes from:

- **A change invoice with a negative total** (a downgrade now,
  ``bridge.billing.plan_changes``). It is finalized like any invoice
  (numbered: it is the legal document of the credit and charge lines, taxes
  per rate negative where the credit is larger), it is paid at once with
  nothing due (never charged, never emailed with a pay link, never dunned),
  and its ``|total|`` is credited to the balance: one entry, keyed on the
  invoice, so exactly once. Why an invoice and not a credit note: a credit
  note here is money given back on what an invoice collected (it is capped
  by what was paid and not yet refunded, and net billing subtracts it); the
  downgrade's credit is for service not yet delivered on an invoice that
  may be unpaid or paid by card, and it comes with a charge for the new
  plan. One invoice carries both lines and their taxes exactly; net billing
  counts its negative total once, as it counts the positive ones; credit
  notes keep meaning "given back on this invoice" and stay exact.
- **Staff**, by hand (``grant``): a positive amount, or a negative one to
  take back what is unused (never below zero).
- **Giving back what was paid from it**: voiding an open invoice that
  account credit partly paid returns that part; a credit note not refunded
  to a card on an invoice paid from account credit returns, first, what
  account credit paid and was not yet returned. Never to Stripe: a card
  refund only ever refunds card payments.

Where credit goes: when an invoice is finalized (renewals, change invoices,
bills made by staff), the balance in its currency pays as much of it as it
can (``usable``, ``payment_from_balance``), recorded as a succeeded ``Payment`` of method
``account_credit`` (gateway ``balance``); only the rest is charged to the
saved card or emailed. Such a payment moves no money: it is not cash in.

Concurrency: every entry that uses or re-reads the balance is made under
the client's row lock (``SELECT ... FOR UPDATE``), so two finalizations for
one client run one after the other and cannot both spend the same credit.
Lock order: the invoice, the number series, then the client.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from bridge.billing.business import require_currency
from bridge.core import clock
from bridge.core.errors import Conflict, Invalid
from bridge.core.money import MAX_AMOUNT
from bridge.models import BalanceEntryKind, Client, ClientBalanceEntry
from bridge.models.invoices import (
    CreditNote,
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentMethod,
    PaymentStatus,
)

GATEWAY = "balance"
"""``Payment.gateway`` of a payment made from account credit."""

MAX_REASON = 500


@dataclass(frozen=True)
class Balance:
    """What a client holds, per currency (only those not zero)."""

    amounts: dict[str, int]

    def of(self, currency: str) -> int:
        return self.amounts.get(currency, 0)


# Reading ---------------------------------------------------------------------


def balance_of(session: Session, client_id: int, currency: str) -> int:
    """The client's account credit in ``currency`` (0 when none)."""
    total = session.scalar(
        select(func.coalesce(func.sum(ClientBalanceEntry.amount), 0)).where(
            ClientBalanceEntry.client_id == client_id, ClientBalanceEntry.currency == currency
        )
    )
    return int(total)  # PostgreSQL sums bigints as numeric


def balances(session: Session, client_ids: list[int]) -> dict[int, Balance]:
    """The balances of several clients in one query (lists)."""
    rows = session.execute(
        select(
            ClientBalanceEntry.client_id,
            ClientBalanceEntry.currency,
            func.sum(ClientBalanceEntry.amount),
        )
        .where(ClientBalanceEntry.client_id.in_(client_ids))
        .group_by(ClientBalanceEntry.client_id, ClientBalanceEntry.currency)
    )
    result: dict[int, dict[str, int]] = {client_id: {} for client_id in client_ids}
    for client_id, currency, amount in rows:
        if int(amount):
            result[client_id][currency] = int(amount)
    return {client_id: Balance(amounts) for client_id, amounts in result.items()}


def balance(session: Session, client_id: int) -> Balance:
    return balances(session, [client_id])[client_id]


def entries(session: Session, client_id: int, *, limit: int = 200) -> list[ClientBalanceEntry]:
    """The client's ledger, newest first."""
    return list(
        session.scalars(
            select(ClientBalanceEntry)
            .options(selectinload(ClientBalanceEntry.invoice))
            .where(ClientBalanceEntry.client_id == client_id)
            .order_by(ClientBalanceEntry.id.desc())
            .limit(limit)
        )
    )


def credited_to_balance(session: Session, invoice: Invoice) -> int:
    """What a negative invoice put on the client's balance (0 for others)."""
    return int(
        session.scalar(
            select(func.coalesce(func.sum(ClientBalanceEntry.amount), 0)).where(
                ClientBalanceEntry.invoice_id == invoice.id,
                ClientBalanceEntry.kind == BalanceEntryKind.INVOICE_CREDIT,
            )
        )
    )


# Writing ---------------------------------------------------------------------


def lock_client(session: Session, client_id: int) -> None:
    """Take the client's row lock, held until the transaction ends, before
    reading the balance to spend or take from it. (Its id alone: the row's
    joined role cannot be locked with it on PostgreSQL.)"""
    session.execute(select(Client.id).where(Client.id == client_id).with_for_update())


def _entry(
    session: Session,
    client_id: int,
    currency: str,
    amount: int,
    kind: BalanceEntryKind,
    *,
    key: str | None = None,
    reason: str = "",
    invoice_id: int | None = None,
    payment_id: int | None = None,
    credit_note_id: int | None = None,
    created_by: int | None = None,
) -> ClientBalanceEntry:
    entry = ClientBalanceEntry(
        client_id=client_id,
        currency=currency,
        amount=amount,
        kind=kind,
        key=key,
        reason=reason,
        invoice_id=invoice_id,
        payment_id=payment_id,
        credit_note_id=credit_note_id,
        created_at=clock.now(),
        created_by=created_by,
    )
    session.add(entry)
    session.flush()
    return entry


def grant(
    session: Session,
    client: Client,
    *,
    amount: object,
    currency: object = None,
    reason: object = "",
    user_id: int | None = None,
) -> ClientBalanceEntry:
    """Staff give the client ``amount`` of account credit (negative: take
    back unused credit). ``currency`` defaults to the business's. Raises
    ``Invalid`` naming ``amount``, ``currency`` or ``reason``; ``Conflict``
    ``insufficient_balance`` when taking back more than the client holds."""
    errors: dict[str, list[str]] = {}
    business_currency = require_currency(session)
    if currency is None:
        currency = business_currency
    if not isinstance(currency, str) or currency.upper() != business_currency:
        errors["currency"] = [f"Must be the business currency ({business_currency})."]
    if isinstance(amount, bool) or not isinstance(amount, int):
        errors["amount"] = ["Must be a whole number of minor units."]
    elif amount == 0 or abs(amount) > MAX_AMOUNT:
        errors["amount"] = [f"Must not be 0, and at most {MAX_AMOUNT} either way."]
    if not isinstance(reason, str):
        errors["reason"] = ["Must be text."]
    elif not reason.strip():
        errors["reason"] = ["Required: say why (the client may read it)."]
    elif len(reason.strip()) > MAX_REASON:
        errors["reason"] = [f"At most {MAX_REASON} characters."]
    if errors:
        raise Invalid("This credit cannot be granted.", fields=errors)
    lock_client(session, client.id)
    if amount < 0 and balance_of(session, client.id, business_currency) + amount < 0:
        raise Conflict(
            "The client holds less account credit than that: the balance never goes below zero.",
            code="insufficient_balance",
            fields={"amount": ["More than the balance."]},
        )
    return _entry(
        session,
        client.id,
        business_currency,
        amount,
        BalanceEntryKind.GRANTED,
        reason=reason.strip(),
        created_by=user_id,
    )


def credit_invoice(session: Session, invoice: Invoice) -> ClientBalanceEntry:
    """A finalized invoice with a negative total credits its ``|total|`` to
    the client (once per invoice: its key is the invoice's)."""
    assert invoice.total < 0 and invoice.status == InvoiceStatus.PAID
    lock_client(session, invoice.client_id)
    return _entry(
        session,
        invoice.client_id,
        invoice.currency,
        -invoice.total,
        BalanceEntryKind.INVOICE_CREDIT,
        key=f"invoice:{invoice.id}",
        invoice_id=invoice.id,
    )


def usable(session: Session, invoice: Invoice) -> int:
    """How much of the invoice the client's balance can pay now; takes the
    client's row lock (the caller then pays that much, in the same
    transaction)."""
    if invoice.amount_due <= 0:
        return 0
    # Most clients hold no credit: they are not locked for nothing. (Credit
    # granted meanwhile simply waits for the next invoice.)
    if balance_of(session, invoice.client_id, invoice.currency) <= 0:
        return 0
    lock_client(session, invoice.client_id)
    return min(invoice.amount_due, balance_of(session, invoice.client_id, invoice.currency))


def payment_from_balance(session: Session, invoice: Invoice, amount: int) -> Payment | None:
    """Take ``amount`` (from ``usable``) of the client's credit for the open
    invoice: a succeeded payment and the entry that uses the credit. The
    caller counts the payment (``invoices.apply_payment``, which pays the
    invoice when it covers it)."""
    if amount <= 0:
        return None
    now = clock.now()
    payment = Payment(
        invoice=invoice,
        client_id=invoice.client_id,
        amount=amount,
        currency=invoice.currency,
        method=PaymentMethod.ACCOUNT_CREDIT,
        gateway=GATEWAY,
        status=PaymentStatus.SUCCEEDED,
        received_at=now,
        created_at=now,
    )
    session.add(payment)
    session.flush()
    _entry(
        session,
        invoice.client_id,
        invoice.currency,
        -amount,
        BalanceEntryKind.APPLIED,
        key=f"payment:{payment.id}",
        invoice_id=invoice.id,
        payment_id=payment.id,
    )
    return payment


def return_on_void(session: Session, invoice: Invoice) -> ClientBalanceEntry | None:
    """An invoice being voided gives back what account credit paid of it and
    credit notes did not return already."""
    return _give_back(
        session, invoice, None, BalanceEntryKind.INVOICE_VOIDED, key=f"void:{invoice.id}"
    )


def return_on_credit_note(session: Session, note: CreditNote) -> ClientBalanceEntry | None:
    """A credit note not refunded to a card gives back to the balance first
    what account credit paid of its invoice and was not returned yet."""
    return _give_back(
        session,
        note.invoice,
        note.amount,
        BalanceEntryKind.CREDIT_NOTE,
        key=f"credit_note:{note.id}",
        credit_note_id=note.id,
        reason=note.reason,
    )


def _give_back(
    session: Session, invoice: Invoice, most: int | None, kind: BalanceEntryKind, **entry
) -> ClientBalanceEntry | None:
    """Give back what account credit paid of ``invoice`` and was not given
    back yet (``most`` at the most; None: all of it)."""
    back = invoice.paid_from_credit - _returned(session, invoice)
    if most is not None:
        back = min(back, most)
    if back <= 0:
        return None
    lock_client(session, invoice.client_id)
    return _entry(
        session, invoice.client_id, invoice.currency, back, kind, invoice_id=invoice.id, **entry
    )


def _returned(session: Session, invoice: Invoice) -> int:
    return int(
        session.scalar(
            select(func.coalesce(func.sum(ClientBalanceEntry.amount), 0)).where(
                ClientBalanceEntry.invoice_id == invoice.id,
                ClientBalanceEntry.kind.in_(
                    (BalanceEntryKind.CREDIT_NOTE, BalanceEntryKind.INVOICE_VOIDED)
                ),
            )
        )
    )
