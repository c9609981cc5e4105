"""The ledger's database from the command line: `pingtree ledger migrate` on SQLite (the file
beside the state file, or a URL) and on a real PostgreSQL, twice; what it says when there is no
database to migrate, a URL it cannot use, or a database that does not answer; and `pingtree
serve` refusing a `--database-url` it could not use before it starts, its password never shown.
A database that is down at start is test_ledger_durable.py's."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from pingtree.cli.main import main
from pingtree.config.urls import masked_database_url
from pingtree.ledger.database import ledger_file_beside
from pingtree.ledger.migrate import head_revision
from tests.conftest import config_dict, make_buyer
from tests.redis_server import free_port

LEDGER_TABLES = {"leads", "sales", "calls", "audit", "erasures"}


def pingtree(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`pingtree ARGS` in its own process, without the tests' own $PINGTREE_DATABASE_URL."""
    inherited = {k: v for k, v in os.environ.items() if k != "PINGTREE_DATABASE_URL"}
    environment = {**inherited, **(env or {})}
    command = [sys.executable, "-m", "pingtree", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=environment)


def tables(url: str) -> set[str]:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def write_config(tmp_path: Path, **router: object) -> Path:
    path = tmp_path / "buyers.yaml"
    path.write_text(yaml.safe_dump(config_dict([make_buyer("a")], router=dict(router))))
    return path


@dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def migrate(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Ran]:
    """`migrate(*args, env=…)`: `pingtree ledger migrate ARGS` through the CLI's main, in this
    process (it starts no server), with $PINGTREE_DATABASE_URL as `env` says."""
    monkeypatch.delenv("PINGTREE_DATABASE_URL", raising=False)

    def run(*args: str, env: dict[str, str] | None = None) -> Ran:
        with monkeypatch.context() as patched:
            for name, value in (env or {}).items():
                patched.setenv(name, value)
            code = main(["ledger", "migrate", *args])
        out, err = capsys.readouterr()
        return Ran(code, out, err)

    return run


def test_migrate_makes_the_ledger_beside_the_state_file_and_again_changes_nothing(
    tmp_path: Path, migrate: Callable[..., Ran]
) -> None:
    config = write_config(tmp_path, state_file=str(tmp_path / "configured.db"))
    state = ["--config", str(config), "--state", str(tmp_path / "state.db")]
    ledger = ledger_file_beside(tmp_path / "state.db")
    first = migrate(*state)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == (
        f"ledger at sqlite:///{ledger}: migrated from an empty database to {head_revision()}"
    )
    assert tables(f"sqlite:///{ledger}") >= LEDGER_TABLES
    again = migrate(*state)
    assert again.returncode == 0, again.stderr
    assert f"at revision {head_revision()}, the newest: nothing to do" in again.stdout

    # Without --state: the config's router.state_file, as `pingtree serve --config` would use.
    configured = migrate("--config", str(config))
    assert configured.returncode == 0, configured.stderr
    assert ledger_file_beside(tmp_path / "configured.db").exists()


def test_migrate_on_a_url_and_on_postgresql_from_the_environment(
    tmp_path: Path, postgres_url: str, migrate: Callable[..., Ran]
) -> None:
    path = tmp_path / "elsewhere" / "ledger.db"
    done = migrate("--database-url", f"sqlite:///{path}")
    assert done.returncode == 0 and "migrated from an empty database" in done.stdout, done.stderr
    assert tables(f"sqlite:///{path}") >= LEDGER_TABLES

    # $PINGTREE_DATABASE_URL, as `pingtree serve` reads it; it wins over --config, as in serve.
    config = write_config(tmp_path, state_file=str(tmp_path / "state.db"))
    runs = [
        migrate("--config", str(config), env={"PINGTREE_DATABASE_URL": postgres_url})
        for _ in range(2)
    ]
    assert [run.returncode for run in runs] == [0, 0], runs
    assert all(run.stdout.startswith(f"ledger at {postgres_url}:") for run in runs)
    assert "migrated from an empty database" in runs[0].stdout
    assert "the newest: nothing to do" in runs[1].stdout
    assert tables(postgres_url) >= LEDGER_TABLES
    assert not ledger_file_beside(tmp_path / "state.db").exists()


def test_migrate_says_why_it_cannot(tmp_path: Path, migrate: Callable[..., Ran]) -> None:
    nothing = migrate()
    assert nothing.returncode == 2 and "give --database-url" in nothing.stderr

    in_memory = migrate("--config", str(write_config(tmp_path)))
    assert in_memory.returncode == 2 and "the ledger is a temporary file" in in_memory.stderr

    wrong = migrate("--database-url", "mysql://app:s3cret@db/ledger")
    assert wrong.returncode == 2
    assert "--database-url mysql://app:***@db/ledger: a ledger URL starts with" in wrong.stderr

    port = free_port()  # nothing listens there
    down = migrate("--database-url", f"postgresql://app:s3cret@127.0.0.1:{port}/ledger")
    assert down.returncode == 1
    assert f"ledger at postgresql://app:***@127.0.0.1:{port}/ledger:" in down.stderr
    assert "Connection refused" in down.stderr
    for run in (wrong, down):
        assert "s3cret" not in run.stdout + run.stderr


def test_serve_refuses_a_database_url_it_cannot_use_before_it_starts(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    serve = ["serve", "--config", str(config), "--port", str(free_port())]
    wrong = pingtree(*serve, "--database-url", "mysql://app:s3cret@db/ledger")
    assert wrong.returncode == 2
    assert "--database-url mysql://app:***@db/ledger: a ledger URL starts with" in wrong.stderr

    # From the environment, as the supervisor of `--workers N` passes it on: the same check.
    environment = {"PINGTREE_DATABASE_URL": "redis://:s3cret@127.0.0.1/0"}
    from_env = pingtree(*serve, env=environment)
    assert from_env.returncode == 2 and "--database-url redis://:***@" in from_env.stderr

    # PostgreSQL's driver is an extra: a host without it is told which.
    blocked = tmp_path / "blocked" / "psycopg"
    blocked.mkdir(parents=True)
    (blocked / "__init__.py").write_text("raise ImportError('psycopg is not installed here')\n")
    path = os.pathsep.join(filter(None, [str(blocked.parent), os.environ.get("PYTHONPATH")]))
    url = f"postgresql://app:s3cret@127.0.0.1:{free_port()}/ledger"
    no_driver = pingtree(*serve, "--database-url", url, env={"PYTHONPATH": path})
    assert no_driver.returncode == 2, no_driver.stderr
    assert "PostgreSQL needs psycopg: pip install 'pingtree[postgres]'" in no_driver.stderr
    assert "--database-url postgresql://app:***@127.0.0.1:" in no_driver.stderr
    for run in (wrong, from_env, no_driver):
        assert "s3cret" not in run.stdout + run.stderr and "Traceback" not in run.stderr

    # A ledger file where none can be made: one line saying why, as for the state file.
    (tmp_path / "a-file").write_text("")
    nowhere = pingtree(*serve, "--database-url", f"sqlite:///{tmp_path}/a-file/ledger.db")
    assert nowhere.returncode == 1, nowhere.stderr
    assert "cannot start: the ledger's database failed" in nowhere.stderr
    assert "Traceback" not in nowhere.stderr


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://app:s3cret@db:5432/ledger", "postgresql://app:***@db:5432/ledger"),
        ("postgres://:s3cret@db/ledger", "postgres://:***@db/ledger"),
        (
            "postgresql://app@db/ledger?sslmode=require&password=s3cret",
            "postgresql://app@db/ledger?sslmode=require&password=***",
        ),
        ("postgresql://app@db/ledger", "postgresql://app@db/ledger"),
        (
            "sqlite:////var/lib/pingtree/state-ledger.db",
            "sqlite:////var/lib/pingtree/state-ledger.db",
        ),
    ],
)
def test_a_database_url_is_shown_with_its_password_masked(url: str, shown: str) -> None:
    assert masked_database_url(url) == shown
