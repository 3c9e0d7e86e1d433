"""Shared fixtures: the real embedding model (loaded once), and databases on SQLite and PostgreSQL."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

os.environ.setdefault("HF_HUB_OFFLINE", "1")

PG_ADMIN_URL = os.environ.get("FIRSTLINE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _pg_reachable() -> bool:
    try:
        eng = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 2})
        with eng.connect() as c:
            c.execute(text("select 1"))
        eng.dispose()
        return True
    except Exception:
        return False


PG_OK = _pg_reachable()


@pytest.fixture(scope="session")
def embedder():
    from retrieval import make_embedder

    return make_embedder("minilm")


def _make_pg_database() -> tuple[str, callable]:
    from bench.cluster_load import create_database  # one way to make (and drop) a throwaway database

    return create_database(PG_ADMIN_URL, prefix="fl_test")


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def _database(backend: str, folder: Path):
    if backend == "sqlite":
        return f"sqlite:///{folder / 'firstline.db'}", lambda: None
    if not PG_OK:
        if os.environ.get("FIRSTLINE_REQUIRE_PG"):  # CI: a missing PostgreSQL is a failure, not a skip
            pytest.fail(f"PostgreSQL is required but not reachable at {PG_ADMIN_URL}")
        pytest.skip("PostgreSQL on 127.0.0.1:5432 is not reachable")
    return _make_pg_database()


@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path):
    """A fresh, empty database URL on each backend."""
    url, drop = _database(request.param, tmp_path)
    yield url
    drop()


@pytest.fixture(scope="module", params=BACKENDS)
def module_db_url(request, tmp_path_factory):
    """Like db_url, shared by one test module (for tests that start the app once)."""
    url, drop = _database(request.param, tmp_path_factory.mktemp("db"))
    yield url
    drop()


@pytest.fixture
def sessions(db_url):
    """A migrated database on each backend, as a session factory."""
    from core.db import make_engine, make_session_factory
    from core.migrate import upgrade

    engine = make_engine(db_url)
    upgrade(engine)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Expose each phase's report as item.rep_<phase> (browser tests save screenshots on failure)."""
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)
