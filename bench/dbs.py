"""Scratch databases on the benchmark's server: create, copy from a template, drop, query.

Every repetition that writes gets its own copy of a snapshot, made with
``CREATE DATABASE ... TEMPLATE ... STRATEGY FILE_COPY`` followed by a ``CHECKPOINT``, so each
starts from the same bytes and none pays for flushing the copy.
"""

from __future__ import annotations

from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import psycopg2
from psycopg2 import sql

DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432/postgres"


class Server:
    """A PostgreSQL server reached by URL; ``url(name)`` is the URL of one of its databases."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self._parts = parts

    def url(self, name: str) -> str:
        return urlunsplit(self._parts._replace(path=f"/{name}"))

    @contextmanager
    def _admin(self, name: str = "postgres"):
        conn = psycopg2.connect(self.url(name))
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                yield cur
        finally:
            conn.close()

    def drop(self, name: str) -> None:
        with self._admin() as cur:
            cur.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def create(self, name: str, template: str | None = None) -> None:
        """(Re)create ``name``, empty or as a file copy of ``template``, then checkpoint."""
        self.drop(name)
        with self._admin() as cur:
            if template is None:
                cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                return
            cur.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(
                    sql.Identifier(name), sql.Identifier(template)
                )
            )
            cur.execute("CHECKPOINT")

    def query(self, name: str, query: str, params: list | None = None) -> list[tuple]:
        with self._admin(name) as cur:
            cur.execute(query, params)
            return cur.fetchall() if cur.description else []

    def vacuum_analyze(self, name: str) -> None:
        with self._admin(name) as cur:
            cur.execute("VACUUM ANALYZE")
            cur.execute("CHECKPOINT")

    def ledger_objects(self, name: str) -> int:
        """Tables, views, functions and triggers named ``ledger_*`` in the database."""
        (count,) = self.query(
            name,
            "SELECT (SELECT count(*) FROM pg_class WHERE relname LIKE 'ledger%%')"
            " + (SELECT count(*) FROM pg_proc WHERE proname LIKE 'ledger%%')"
            " + (SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'ledger%%')",
        )[0]
        return count
