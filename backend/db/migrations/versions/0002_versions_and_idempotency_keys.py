"""task versions (ETags) and idempotency keys; expand-only

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 10:30:00

Expand-only: a column with a default and a new table, so code of revision 0001 keeps working against this schema
during a rolling deploy (it neither reads nor writes either).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("tasks", sa.Column("version", sa.BigInteger(), server_default=sa.text("1"), nullable=False))
    op.create_table(
        "idempotency_keys",
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("task_id", sa.BigInteger(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_idempotency_keys_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "key", name=op.f("pk_idempotency_keys")),
    )
    # Purging expired keys, a user's (on each keyed create) or everyone's (`todo-api purge`), walks this index.
    op.create_index("ix_idempotency_keys_user_created", "idempotency_keys", ["user_id", "created_at"], unique=False)
    op.create_index("ix_idempotency_keys_created", "idempotency_keys", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_idempotency_keys_created", table_name="idempotency_keys")
    op.drop_index("ix_idempotency_keys_user_created", table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
    op.drop_column("tasks", "version")
