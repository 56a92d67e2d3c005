"""The client list's total, kept per process while the clients' change stamp
(migration 0031) is the one read with it: right after any change, whoever
made it, and never a count that only an unfinished transaction saw."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select, text, update

from bridge.billing import clients
from bridge.billing.clients import _matching_totals
from bridge.models import CLIENTS_STAMP, ChangeStamp, Client, ClientStatus


def add(db, name: str, **values) -> int:
    with db.session() as s:
        client = clients.create_client(s, name=name, email=f"{name.lower()}@client.example")
        for key, value in values.items():
            setattr(client, key, value)
        s.flush()
        return client.id


def total(db, **filters) -> int:
    with db.session() as s:
        return clients.list_clients(s, **filters).total


def stamp(db) -> str:
    with db.session() as s:
        return s.scalar(select(ChangeStamp.stamp).where(ChangeStamp.name == CLIENTS_STAMP))


@pytest.fixture(autouse=True)
def fresh_totals():
    _matching_totals.clear()
    yield
    _matching_totals.clear()


def test_the_total_follows_clients_added_changed_and_deleted(db):
    for name in ("Anna", "Hannah", "Boris"):
        add(db, name)
    assert total(db, text="an") == 2
    assert total(db, text="an") == 2  # kept, and still right

    dana = add(db, "Dana")
    assert total(db, text="an") == 3
    zoe = add(db, "Zoe")
    with db.session() as s:
        clients.update_client(s, s.get(Client, zoe), {"name": "Zoe Anders"})
    assert total(db, text="an") == 4
    assert total(db, status=ClientStatus.ACTIVE) == 0
    with db.session() as s:
        s.get(Client, dana).status = ClientStatus.ACTIVE
    assert total(db, status=ClientStatus.ACTIVE) == 1
    with db.session() as s:
        clients.delete_client(s, s.get(Client, dana))
    assert total(db, status=ClientStatus.ACTIVE) == 0
    assert total(db) == 4


def test_sql_written_by_hand_replaces_the_stamp_too(db):
    add(db, "Anna")
    assert total(db) == 1
    before = stamp(db)
    with db.session() as s:
        s.execute(
            text(
                "INSERT INTO clients (name, email, email_key, company, search_text, address_line1,"
                " address_line2, city, postal_code, state, country, status, role_id,"
                " custom_fields, tax_id, siren, mrr, net_billing, created_at)"
                " SELECT 'Hanna', 'h@x.example', 'h@x.example', '', 'hanna h@x.example', '', '',"
                " '', '', '', '', 'inactive', role_id, custom_fields, '', '', 0, 0, created_at"
                " FROM clients"
            )
        )
    assert stamp(db) != before
    assert total(db) == 2
    assert total(db, text="hann") == 1


def test_figures_and_addresses_do_not_replace_the_stamp(db):
    anna = add(db, "Anna")
    assert total(db) == 1
    before = stamp(db)
    with db.session() as s:
        s.execute(update(Client).where(Client.id == anna).values(mrr=4900, city="Lyon"))
        # A status or search text written again unchanged changes nothing either.
        s.execute(update(Client).where(Client.id == anna).values(status=ClientStatus.INACTIVE))
    assert stamp(db) == before


def test_the_kept_total_is_served_while_the_stamp_is_the_one_read_with_it(db):
    """Pins that the count is skipped: put the old stamp back behind the
    database's back, and the list answers the total it kept."""
    add(db, "Anna")
    old = stamp(db)
    assert total(db) == 1
    add(db, "Hannah")
    with db.session() as s:
        s.execute(update(ChangeStamp).values(stamp=old))
    assert total(db) == 1  # not counted again: the stamp says nothing changed
    _matching_totals.clear()
    assert total(db) == 2


def test_a_transaction_that_wrote_neither_uses_nor_keeps_a_total(db):
    add(db, "Anna")
    assert total(db) == 1
    with db.session() as s:
        clients.create_client(s, name="Hannah", email="hannah@client.example")
        s.flush()
        assert clients.list_clients(s).total == 2  # its own client, counted
        s.rollback()
    assert total(db) == 1


def test_a_page_past_the_end_still_carries_the_kept_total(db):
    for name in ("Anna", "Hannah"):
        add(db, name)
    assert total(db, per_page=1) == 2
    with db.session() as s:
        page = clients.list_clients(s, page=5, per_page=1)
    assert (page.total, page.items) == (2, [])


def test_an_empty_stamp_table_means_counting_every_time(db):
    add(db, "Anna")
    with db.session() as s:
        s.execute(text("DELETE FROM change_stamps"))
    assert total(db) == 1
    add(db, "Hannah")
    assert total(db) == 2


# Two transactions at once (PostgreSQL: its triggers wait for the commit).


def postgres_only(database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("concurrent transactions: PostgreSQL")


def test_a_client_added_by_a_transaction_still_open_counts_once_it_commits(db, database_url):
    postgres_only(database_url)
    add(db, "Anna")
    writer = db.sessionmaker()
    try:
        clients.create_client(writer, name="Hannah", email="hannah@client.example")
        writer.flush()
        assert total(db) == 1  # counted, and kept, without the uncommitted client
        assert total(db) == 1
        writer.commit()
    finally:
        writer.close()
    assert total(db) == 2


def test_transactions_changing_different_clients_wait_on_each_other_only_to_commit(
    db, database_url
):
    postgres_only(database_url)
    anna, boris = add(db, "Anna"), add(db, "Boris")
    first = db.sessionmaker()
    try:
        first.get(Client, anna).status = ClientStatus.ACTIVE
        first.flush()
        # The stamp's row is locked at commit, not at the change: the second
        # transaction neither waits for the first nor deadlocks with it.
        with db.session() as second:
            second.execute(text("SET LOCAL lock_timeout = '2s'"))
            second.get(Client, boris).status = ClientStatus.ACTIVE
        assert total(db, status=ClientStatus.ACTIVE) == 1
        first.commit()
    finally:
        first.close()
    assert total(db, status=ClientStatus.ACTIVE) == 2


def test_commits_changing_clients_at_once_each_replace_the_stamp(db, database_url):
    postgres_only(database_url)
    ids = [add(db, name) for name in ("Anna", "Boris", "Carla", "Dana")]
    assert total(db, status=ClientStatus.ACTIVE) == 0
    failures: list[BaseException] = []
    start = threading.Barrier(len(ids))

    def activate(client_id: int) -> None:
        try:
            with db.session() as s:
                s.get(Client, client_id).status = ClientStatus.ACTIVE
                s.flush()
                start.wait(timeout=10)
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=activate, args=(i,)) for i in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert failures == []
    assert total(db, status=ClientStatus.ACTIVE) == 4


@pytest.mark.parametrize("sort", sorted(clients.SORTS))
def test_a_search_pages_in_every_sort_order_with_its_sites_and_role(db, sort):
    names = ["Anna", "Hannah", "Boris", "Joanna", "Ivan", "Dana", "Zoe", "Nancy", "Anders"]
    for index, name in enumerate(names):
        add(db, name, mrr=(index * 37) % 5 * 100, net_billing=(index * 53) % 4 * 100)
    with db.session() as s:
        every = clients.list_clients(s, sort=sort, per_page=100).items
        pages = [
            clients.list_clients(s, text="an", sort=sort, page=n, per_page=2) for n in (1, 2, 3, 4)
        ]
    expected = [row for row in every if "an" in row.name.lower()]
    assert [row for page in pages for row in page.items] == expected
    assert {page.total for page in pages} == {len(expected)} == {7}
    assert {(row.site_count, row.role.name) for row in expected} == {(0, "Billing only")}
