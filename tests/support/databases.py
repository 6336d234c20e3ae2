"""Fresh databases for tests: a migrated template per run, copied for each test."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from alembic.config import Config
from sqlalchemy import create_engine, text

from alembic import command
from tests.support.servers import PROJECT_ROOT, PostgresServer


def alembic_config(database_url: str) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.attributes["database_url"] = database_url
    config.attributes["configure_logging"] = False
    return config


def revision_before(revision: str) -> str:
    """The revision a migration builds on, so a data test of it survives new migrations."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config(""))
    down = script.get_revision(revision).down_revision
    assert isinstance(down, str), f"{revision} has no single parent"
    return down


def migrate(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


class SqliteDatabases:
    name = "sqlite"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.template = root / "template.db"
        migrate(self.url_of(self.template))

    @staticmethod
    def url_of(path: Path) -> str:
        return f"sqlite:///{path}"

    def empty(self) -> str:
        return self.url_of(self.root / f"{uuid.uuid4().hex}.db")

    def migrated(self) -> str:
        path = self.root / f"{uuid.uuid4().hex}.db"
        shutil.copyfile(self.template, path)
        return self.url_of(path)

    def drop(self, url: str) -> None:
        path = Path(url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


class PostgresDatabases:
    name = "postgresql"
    TEMPLATE = "dash_template"

    def __init__(self, server: PostgresServer) -> None:
        self.server = server
        self.admin = create_engine(server.admin_url, isolation_level="AUTOCOMMIT")
        with self.admin.connect() as connection:
            connection.execute(text(f"CREATE DATABASE {self.TEMPLATE}"))
        migrate(server.url_for(self.TEMPLATE))

    def _create(self, template: str | None) -> str:
        name = f"t_{uuid.uuid4().hex[:16]}"
        clause = f" TEMPLATE {template}" if template else ""
        with self.admin.connect() as connection:
            connection.execute(text(f"CREATE DATABASE {name}{clause}"))
        return self.server.url_for(name)

    def empty(self) -> str:
        return self._create(None)

    def migrated(self) -> str:
        return self._create(self.TEMPLATE)

    def drop(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        with self.admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
