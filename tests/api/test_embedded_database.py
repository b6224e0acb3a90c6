"""Zero setup: with no DATABASE_URL the app starts a real PostgreSQL in TODO_DATA_DIR, migrates it, and serves."""

from __future__ import annotations

import pytest
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from sqlalchemy import text

from backend.app import create_app
from backend.db import embedded
from backend.db.engine import build_engine
from backend.db.migrate import alembic_config
from backend.settings import Settings
from harness.users import ApiUser, create_task, new_user_id


@pytest.mark.inprocess
@pytest.mark.req("DB-EMBEDDED")
def test_without_database_url_the_app_serves_from_an_embedded_postgres_in_the_data_dir(tmp_path, issuer):
    settings = Settings(DATABASE_URL="", TODO_DATA_DIR=tmp_path, BETTER_AUTH_URL=issuer.base_url, TODO_ENV="test")
    started_before = len(embedded._embedded_servers)
    app = create_app(settings)
    server = embedded._embedded_servers[-1]
    try:
        assert len(embedded._embedded_servers) == started_before + 1
        assert (tmp_path / "pg" / "PG_VERSION").exists()
        user_id = new_user_id("embedded")
        user = ApiUser(id=user_id, token=issuer.mint(user_id))
        with TestClient(app) as client:
            task = create_task(client, user, "stored in the embedded server")
            assert client.get(user.tasks_url(task["id"]), headers=user.headers).json() == task
        engine = build_engine(settings, server.get_uri(driver="psycopg"))
        with engine.connect() as connection:
            assert connection.execute(text("SELECT version()")).scalar_one().startswith("PostgreSQL")
            head = ScriptDirectory.from_config(alembic_config(settings.data_dir.as_posix())).get_current_head()
            assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == head
        engine.dispose()
    finally:
        embedded._embedded_servers.remove(server)
        server.cleanup()
