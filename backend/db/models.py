"""Tables. The constraints mirror the API's validation so the database refuses what the API would."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    String,
    text,
)
from sqlmodel import Field, SQLModel

TITLE_MAX = 200
DESCRIPTION_MAX = 2000
USER_ID_MAX = 255
IDEMPOTENCY_KEY_MAX = 255

# Naming convention so Alembic and the models agree on every constraint name.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _timestamp(nullable: bool = False) -> Column[datetime]:
    return Column(
        DateTime(timezone=True),
        nullable=nullable,
        server_default=None if nullable else text("now()"),
    )


class User(SQLModel, table=True):
    """A Better Auth user as seen by this service: created on first use from a token's `sub`."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint("length(id) >= 1", name="id_not_empty"),)

    id: str = Field(sa_column=Column(String(USER_ID_MAX), primary_key=True))
    created_at: datetime = Field(sa_column=_timestamp())


class Task(SQLModel, table=True):
    __tablename__ = "tasks"
    __table_args__ = (
        CheckConstraint(
            f"length(btrim(title)) BETWEEN 1 AND {TITLE_MAX} AND title = btrim(title)", name="title_trimmed"
        ),
        CheckConstraint(f"description IS NULL OR length(description) <= {DESCRIPTION_MAX}", name="description_length"),
        CheckConstraint("completed = (completed_at IS NOT NULL)", name="completed_at_matches"),
        # List pages: WHERE user_id = ? ORDER BY <key> [DESC], id [DESC] with a keyset row comparison.
        Index("ix_tasks_user_created", "user_id", "created_at", "id"),
        Index("ix_tasks_user_updated", "user_id", "updated_at", "id"),
        Index("ix_tasks_user_title", "user_id", "title", "id"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(always=False), primary_key=True))
    user_id: str = Field(
        sa_column=Column(String(USER_ID_MAX), ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    )
    title: str = Field(sa_column=Column(String(TITLE_MAX), nullable=False))
    description: str | None = Field(default=None, sa_column=Column(String(DESCRIPTION_MAX), nullable=True))
    completed: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, server_default=text("false")))
    created_at: datetime = Field(sa_column=_timestamp())
    updated_at: datetime = Field(sa_column=_timestamp())
    completed_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    # Incremented by every change: the strong ETag of the task's representation (If-Match, If-None-Match).
    version: int = Field(default=1, sa_column=Column(BigInteger, nullable=False, server_default=text("1")))


class IdempotencyKey(SQLModel, table=True):
    """A create made under an Idempotency-Key: enough to answer a retry with the original 201, body included."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        Index("ix_idempotency_keys_user_created", "user_id", "created_at"),
        Index("ix_idempotency_keys_created", "created_at"),
    )

    user_id: str = Field(
        sa_column=Column(
            String(USER_ID_MAX), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, nullable=False
        )
    )
    key: str = Field(sa_column=Column(String(IDEMPOTENCY_KEY_MAX), primary_key=True, nullable=False))
    request_hash: str = Field(sa_column=Column(String(64), nullable=False))  # sha256 of the validated body, hex
    task_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    title: str = Field(sa_column=Column(String(TITLE_MAX), nullable=False))
    description: str | None = Field(default=None, sa_column=Column(String(DESCRIPTION_MAX), nullable=True))
    created_at: datetime = Field(sa_column=_timestamp())
