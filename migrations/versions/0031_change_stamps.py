"""Change stamps: the client list's total kept per process while the
clients it counts are unchanged.

Table ``change_stamps`` (name, stamp) holds one row, ``clients``, whose
stamp is a random value that database triggers replace whenever a client is
added or deleted, or its status or search text changes: whatever path wrote
it (the app, a bulk import, SQL by hand). The client list reads the stamp in
the same statement as its page and counts the matching clients only when
the stamp differs from the one its process saw with its last count
(``bridge.billing.clients``).

On PostgreSQL the triggers are constraint triggers deferred to the commit,
so a transaction that changes clients locks the stamp's row only while it
commits: two transactions that change clients wait on each other only for
the length of a commit, and cannot deadlock on the stamp (it is the last
row either locks). The function replaces the stamp once per transaction.
On SQLite, where one transaction writes at a time, plain triggers replace it
at each changed row.

The stamp is random, not a counter: a counter would repeat after a restore
from a backup or a test's reset, with other rows behind the same value.

Revision ID: 0031
Revises: 0030
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0031"
down_revision: str | Sequence[str] | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POSTGRESQL = [
    """
    CREATE FUNCTION bridge_replace_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        done_by text := 'bridge.stamped_' || TG_ARGV[0];
    BEGIN
        -- Once per transaction, however many rows it changed.
        IF current_setting(done_by, true) IS DISTINCT FROM txid_current()::text THEN
            PERFORM set_config(done_by, txid_current()::text, true);
            UPDATE change_stamps SET stamp = gen_random_uuid()::text WHERE name = TG_ARGV[0];
        END IF;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE CONSTRAINT TRIGGER clients_stamp_rows
    AFTER INSERT OR DELETE ON clients
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION bridge_replace_stamp('clients')
    """,
    """
    CREATE CONSTRAINT TRIGGER clients_stamp_filters
    AFTER UPDATE OF status, search_text ON clients
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.search_text IS DISTINCT FROM NEW.search_text)
    EXECUTE FUNCTION bridge_replace_stamp('clients')
    """,
]

SQLITE_NEW_STAMP = (
    "UPDATE change_stamps SET stamp = lower(hex(randomblob(16))) WHERE name = 'clients'"
)
SQLITE = [
    f"CREATE TRIGGER clients_stamp_insert AFTER INSERT ON clients BEGIN {SQLITE_NEW_STAMP}; END",
    f"CREATE TRIGGER clients_stamp_delete AFTER DELETE ON clients BEGIN {SQLITE_NEW_STAMP}; END",
    f"""
    CREATE TRIGGER clients_stamp_update AFTER UPDATE OF status, search_text ON clients
    WHEN OLD.status IS NOT NEW.status OR OLD.search_text IS NOT NEW.search_text
    BEGIN {SQLITE_NEW_STAMP}; END
    """,
]


def upgrade() -> None:
    op.create_table(
        "change_stamps",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("stamp", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_change_stamps"),
    )
    op.execute(
        sa.text("INSERT INTO change_stamps (name, stamp) VALUES ('clients', :stamp)").bindparams(
            stamp=uuid.uuid4().hex
        )
    )
    postgresql = op.get_bind().dialect.name == "postgresql"
    for statement in POSTGRESQL if postgresql else SQLITE:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER clients_stamp_filters ON clients")
        op.execute("DROP TRIGGER clients_stamp_rows ON clients")
        op.execute("DROP FUNCTION bridge_replace_stamp()")
    else:
        for name in ("clients_stamp_insert", "clients_stamp_delete", "clients_stamp_update"):
            op.execute(f"DROP TRIGGER {name}")
    op.drop_table("change_stamps")
