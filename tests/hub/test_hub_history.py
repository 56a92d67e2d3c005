"""The invoice's history and the client's activity read as sentences in the
reader's language, and one event is one row of the audit log, however many
flushes it took (finalizing flushes twice), without losing a real event."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import select

from bridge.billing import audit, invoices
from bridge.models import Invoice, PaymentMethod
from bridge.models.audit import AuditEntry
from tests.e2e.conftest import make_invoice, make_shop
from tests.hub.test_hub_invoices import post_form, text_of


@pytest.fixture
def shop(db):
    return make_shop(db)


def actions(db, object_type: str, object_id: int) -> Counter:
    with db.session() as s:
        return Counter(
            s.scalars(
                select(AuditEntry.action).where(
                    AuditEntry.object_type == object_type, AuditEntry.object_id == object_id
                )
            )
        )


def test_finalizing_is_one_row_with_every_change_and_no_event_is_lost(db, shop):
    made = make_invoice(db, shop, "draft")
    with db.session() as s:
        invoice = s.get(Invoice, made.id)
        invoices.finalize(s, invoice)
        # Paid in the same transaction: an event of its own.
        invoices.record_offline_payment(
            s, invoice, amount=invoice.amount_due, method=PaymentMethod.CASH
        )
    assert actions(db, "invoice", made.id) == {
        "invoice.created": 1,
        "invoice.finalized": 1,
        "invoice.paid": 1,
    }
    with db.session() as s:
        finalized = s.scalar(select(AuditEntry).where(AuditEntry.action == "invoice.finalized"))
        assert {"status", "number", "issued_at", "due_at"} <= set(finalized.summary)
        assert finalized.summary["status"] == ["draft", "open"]
        created = s.scalar(select(AuditEntry).where(AuditEntry.action == "invoice.created"))
        # The draft's totals, computed in a later flush, are in its one row.
        assert created.summary["total"] == s.get(Invoice, made.id).total


def test_a_row_lost_with_a_savepoint_is_written_again(db, shop):
    made = make_invoice(db, shop, "draft")
    with db.session() as s:
        invoice = s.get(Invoice, made.id)
        invoice.note = "first"
        s.flush()
        savepoint = s.begin_nested()
        invoice.note = "second"
        s.flush()
        savepoint.rollback()
        invoice.note = "third"
    with db.session() as s:
        updated = s.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "invoice.updated", AuditEntry.object_id == made.id
            )
        ).all()
        assert [e.summary["note"] for e in updated] == [["", "third"]]


def test_every_action_has_a_sentence():
    actions = {f"{kind}.{change}" for kind in audit.AUDITED.values() for change in ("created",)}
    assert actions <= set(audit.LABELS)
    assert all(sentence.strip() for sentence in audit.LABELS.values())


def test_the_invoice_page_tells_its_history_in_words(hub, db, shop):
    made = make_invoice(db, shop, "draft")
    post_form(hub, made.id, "finalize", None, {})
    post_form(hub, made.id, "payments", "payment-form", {"amount": "12", "method": "cash"})
    page = text_of(hub.client.get(f"/invoices/{made.id}"))
    history = page[page.index('id="history"') :]
    assert "Payment of €12.00 recorded" in history
    assert history.count("Invoice finalized") == 1
    assert "owner@agency.example" in history
    assert "invoice.finalized" not in history and "payment.created" not in history
    french = text_of(hub.client.get(f"/invoices/{made.id}", headers={"Accept-Language": "fr"}))
    french = french[french.index('id="history"') :]
    assert "Facture finalisée" in french and "12,00\N{NO-BREAK SPACE}€" in french


def test_the_activity_tab_tells_what_happened_in_words(hub, db, shop):
    make_invoice(db, shop, "paid")
    page = text_of(hub.client.get(f"/clients/{shop.client_id}?tab=activity"))
    assert "Client added" in page and "Invoice finalized" in page and "Invoice paid" in page
    assert "Payment of" in page and "invoice.paid" not in page
