"""initial schema: users and tasks

Revision ID: 0001
Revises:
Create Date: 2026-11-25 17:06:41.807370
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("length(id) >= 1", name=op.f("ck_users_id_not_empty")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
    )
    op.create_table(
        "tasks",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=True),
        sa.Column("completed", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("completed = (completed_at IS NOT NULL)", name=op.f("ck_tasks_completed_at_matches")),
        sa.CheckConstraint(
            "description IS NULL OR length(description) <= 2000", name=op.f("ck_tasks_description_length")
        ),
        sa.CheckConstraint(
            "length(btrim(title)) BETWEEN 1 AND 200 AND title = btrim(title)",
            name=op.f("ck_tasks_title_trimmed"),
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_tasks_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tasks")),
    )
    # Each index serves one list ordering: WHERE user_id = ? [AND completed = ?]
    # ORDER BY <key> [DESC], id [DESC], with the keyset cursor as a (key, id) row comparison.
    op.create_index("ix_tasks_user_created", "tasks", ["user_id", "created_at", "id"], unique=False)
    op.create_index("ix_tasks_user_title", "tasks", ["user_id", "title", "id"], unique=False)
    op.create_index("ix_tasks_user_updated", "tasks", ["user_id", "updated_at", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_tasks_user_updated", table_name="tasks")
    op.drop_index("ix_tasks_user_title", table_name="tasks")
    op.drop_index("ix_tasks_user_created", table_name="tasks")
    op.drop_table("tasks")
    op.drop_table("users")
