"""Invoice numbers stay unique and gap-free when many finalize at once."""

import threading

import pytest
from sqlalchemy import select

from bridge.billing import clients, invoices
from bridge.billing.invoices import Item
from bridge.core import clock
from bridge.models import Invoice
from tests import shop as shops

DRAFTS = 40
THREADS = 8


@pytest.fixture
def drafts(db):
    with db.session() as s:
        shops.open_business(s)
        plan = shops.add_product(s, "Build", {"site": shops.one_time("Site", 1000)})["site"]
        client = clients.get_client(s, shops.add_client(s, name="C", email="c@example.com"))
        return [invoices.bill_client(s, client, [Item(plan)]).id for _ in range(DRAFTS)]


def test_parallel_finalizations_get_numbers_1_to_n(db, drafts):
    errors = []
    chunks = [drafts[i::THREADS] for i in range(THREADS)]
    barrier = threading.Barrier(THREADS)

    def worker(ids):
        barrier.wait()
        for invoice_id in ids:
            try:
                with db.session() as s:
                    invoices.finalize(s, s.get(Invoice, invoice_id))
            except Exception as exc:  # collected and reported below
                errors.append(repr(exc))

    threads = [threading.Thread(target=worker, args=(chunk,)) for chunk in chunks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with db.session() as s:
        numbers = sorted(s.scalars(select(Invoice.number)))
    year = clock.now().year
    assert numbers == [f"INV-{year}-{i:05}" for i in range(1, DRAFTS + 1)]
    assert len(set(numbers)) == DRAFTS
