"""The PDF cache: a re-download of an unchanged invoice is the same bytes
without rendering; any change to what the PDF shows gives a new PDF."""

from __future__ import annotations

from bridge.billing import business, clients, schedule
from bridge.models import Invoice
from bridge.pdf import PdfCache, cache_key, invoice_pdf
from bridge.pdf import cache as pdf_cache
from tests.pdf.conftest import pdf_text


def download(db, invoice_id, cache, language=None) -> bytes:
    with db.session() as s:
        return invoice_pdf(s, s.get(Invoice, invoice_id), language, cache=cache)


def test_an_unchanged_invoice_is_served_from_the_cache(db, shop, no_render):
    cache = PdfCache()
    invoice_id = shop.invoice()
    first = download(db, invoice_id, cache)
    no_render()
    assert download(db, invoice_id, cache) == first
    assert cache.hits == 1 and cache.misses == 1


def test_languages_are_cached_apart(db, shop):
    cache = PdfCache()
    invoice_id = shop.invoice()
    english, french = download(db, invoice_id, cache), download(db, invoice_id, cache, "fr")
    assert english != french and "Reste à payer" in pdf_text(french)


def test_a_payment_gives_a_new_pdf(db, shop):
    cache = PdfCache()
    invoice_id = shop.invoice()
    before = download(db, invoice_id, cache)
    shop.pay(invoice_id, amount=20_000)
    after = download(db, invoice_id, cache)
    assert after != before
    assert "€200.00" in pdf_text(after) and "€200.00" not in pdf_text(before)


def test_settings_and_client_changes_give_a_new_pdf(db, shop):
    cache = PdfCache()
    invoice_id = shop.invoice()
    download(db, invoice_id, cache)
    with db.session() as s:
        business.update_settings(s, {"invoice_footer": "New footer line"})
    assert "New footer line" in pdf_text(download(db, invoice_id, cache))
    with db.session() as s:
        clients.update_client(s, clients.get_client(s, shop.client), {"company": "Renamed SA"})
    assert "Renamed SA" in pdf_text(download(db, invoice_id, cache))


def test_a_new_time_zone_gives_a_new_pdf_with_the_same_issue_date(db, shop):
    """Issued 31 January 10:00 UTC, due 14 days later: on the wall clock of
    Kiritimati (UTC+14) that is due 15 February. The issue date was fixed at
    finalization and stays."""
    cache = PdfCache()
    invoice_id = shop.invoice()
    before = pdf_text(download(db, invoice_id, cache))
    with db.session() as s:
        schedule.update_schedule(s, {"timezone": "Pacific/Kiritimati"})
    after = pdf_text(download(db, invoice_id, cache))
    assert "DUE DATE\nFebruary 14, 2026\n" in before
    assert "DUE DATE\nFebruary 15, 2026\n" in after
    assert "ISSUE DATE\nJanuary 31, 2026\n" in before and "ISSUE DATE\nJanuary 31, 2026\n" in after


def test_the_key_changes_with_the_template_version(db, shop, monkeypatch):
    invoice_id = shop.invoice()
    with db.session() as s:
        invoice = s.get(Invoice, invoice_id)
        key = cache_key(s, invoice)
        assert cache_key(s, invoice) == key
        monkeypatch.setattr(pdf_cache, "template_version", lambda: "another")
        assert cache_key(s, invoice) != key


def test_drafts_are_always_rendered(db, shop):
    cache = PdfCache()
    draft = shop.invoice(finalize=False)
    assert "DRAFT" in pdf_text(download(db, draft, cache))
    assert len(cache) == 0


def test_the_disk_cache_outlives_the_process_and_keeps_one_file_per_invoice(
    db, shop, tmp_path, no_render
):
    directory = tmp_path / "pdf-cache"
    invoice_id = shop.invoice()
    first = download(db, invoice_id, PdfCache(directory))
    assert len(list(directory.glob("*.pdf"))) == 1
    shop.pay(invoice_id, amount=10_000)
    download(db, invoice_id, PdfCache(directory))
    assert len(list(directory.glob(f"{invoice_id}-*.pdf"))) == 1  # the stale one is gone
    no_render()
    again = download(db, invoice_id, PdfCache(directory))  # a new process: from disk
    assert again != first and "€100.00" in pdf_text(again)


def test_memory_cache_is_bounded():
    cache = PdfCache(max_items=2, max_bytes=10)
    cache.put("1-a", b"12345")
    cache.put("2-b", b"12345")
    cache.put("3-c", b"1")
    assert cache.get("1-a") is None and cache.get("3-c") == b"1"
    cache.put("4-d", b"x" * 11)  # larger than the whole cache: not kept
    assert cache.get("4-d") is None


def test_inside_the_app_the_cache_lives_in_the_instance_folder(app, db, shop, tmp_path):
    invoice_id = shop.invoice()
    with app.app_context():
        download(db, invoice_id, None)
    cached = list((tmp_path / "instance" / "pdf-cache").glob(f"{invoice_id}-*.pdf"))
    assert len(cached) == 1
