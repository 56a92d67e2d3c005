"""PDF tests that exercise every query of bridge.pdf, run on PostgreSQL
(the rest of tests/pdf runs on SQLite only; see conftest.py)."""

import pytest

from tests.pdf.test_cache import (  # noqa: F401  (collected here, on PostgreSQL)
    test_a_payment_gives_a_new_pdf,
    test_an_unchanged_invoice_is_served_from_the_cache,
)
from tests.pdf.test_invoice_pdf import (  # noqa: F401
    test_english_invoice_has_number_parties_lines_and_totals,
    test_sample_pdf_uses_the_settings_and_saves_nothing,
)


@pytest.fixture(params=[pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(postgres_database):
    postgres_database.reset()
    return postgres_database.url
