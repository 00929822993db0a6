"""Storage ids are never handed out twice: SQLite's ``storages`` table gets AUTOINCREMENT.

Without it SQLite gives a new row the largest id + 1, so deleting the newest storage and creating
another reused its id, and a client still holding the old id reached the new storage. PostgreSQL's
sequences never reuse ids: nothing to do there.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _rebuild(autoincrement: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table("storages", recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}):
        pass


def upgrade() -> None:
    _rebuild(autoincrement=True)


def downgrade() -> None:
    _rebuild(autoincrement=False)
