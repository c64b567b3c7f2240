"""A small adapter so read-model SQL is written once for SQLite and PostgreSQL.

SQL uses ``?`` placeholders; for psycopg they become ``%s``. SQLite gets one
connection per thread (opening one is a file open). PostgreSQL connections
come from a small pool, so an API with many worker threads holds a bounded
number. Statements run in autocommit mode except inside ``transaction()``,
which pins one connection to the calling thread until it ends.
"""

from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, Iterable, Iterator, Sequence

from tiering.config import Settings


@lru_cache(maxsize=512)
def _to_psycopg(sql: str) -> str:
    return sql.replace("%", "%%").replace("?", "%s")


class ReadModelDB:
    def __init__(self, dialect: str, connect_args: dict[str, Any], pool_size: int = 8):
        if dialect not in ("sqlite", "postgres"):
            raise ValueError(f"unknown dialect {dialect!r}")
        self.dialect = dialect
        self._args = connect_args
        self._pool_size = pool_size
        self._pool: Any = None
        self._local = threading.local()  # .conn: SQLite's, or the one in a transaction
        self._sqlite_conns: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        # close() must not pull a connection out from under a statement running
        # on another thread (an API worker, a training job): SQLite would crash
        # the process. It waits for those to finish and holds new ones back.
        self._traffic = threading.Condition()
        self._in_flight = 0
        self._closing = False

    @classmethod
    def from_settings(cls, settings: Settings) -> "ReadModelDB":
        if settings.uses_postgres:
            pg = settings.postgres
            return cls("postgres", {"host": pg["host"], "port": int(pg["port"]), "user": pg["user"],
                                    "password": pg["password"], "dbname": pg["dbname"]})
        settings.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        return cls("sqlite", {"path": str(settings.sqlite_path.resolve())})

    # ----- connections ---------------------------------------------------
    def _sqlite(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            # isolation_level=None: we issue BEGIN ourselves, so a read outside
            # transaction() never leaves a lock behind.
            conn = sqlite3.connect(self._args["path"], isolation_level=None,
                                   check_same_thread=False, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            # The projector rewrites rows all over the rm_ indexes; a larger
            # page cache keeps that from turning into random reads.
            conn.execute("PRAGMA cache_size=-65536")
            # Each projector page dirties thousands of pages; checkpointing
            # after every such commit would double the writes and fsync each time.
            conn.execute("PRAGMA wal_autocheckpoint=16384")
            self._local.conn = conn
            with self._lock:
                self._sqlite_conns.append(conn)
        return conn

    def _postgres_pool(self) -> Any:
        with self._lock:
            if self._pool is None:
                from psycopg_pool import ConnectionPool

                self._pool = ConnectionPool(
                    kwargs={**self._args, "autocommit": True}, min_size=1,
                    max_size=self._pool_size, max_idle=60, open=True, name="read-models")
            return self._pool

    @contextmanager
    def _in_use(self) -> Iterator[None]:
        with self._traffic:
            self._traffic.wait_for(lambda: not self._closing)
            self._in_flight += 1
        try:
            yield
        finally:
            with self._traffic:
                self._in_flight -= 1
                self._traffic.notify_all()

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        with self._in_use():
            if self.dialect == "sqlite":
                yield self._sqlite()
            elif getattr(self._local, "conn", None) is not None:
                yield self._local.conn  # inside transaction()
            else:
                with self._postgres_pool().connection() as conn:
                    yield conn

    @contextmanager
    def transaction(self) -> Iterator["ReadModelDB"]:
        """One write transaction; nested calls join the outer one.

        SQLite takes the write lock up front (BEGIN IMMEDIATE) so a
        read-then-write never fails on a stale snapshot.
        """
        if getattr(self._local, "depth", 0):
            self._local.depth += 1
            try:
                yield self
            finally:
                self._local.depth -= 1
            return
        self._local.depth = 1
        try:
            with self._in_use():
                if self.dialect == "sqlite":
                    conn = self._sqlite()
                    conn.execute("BEGIN IMMEDIATE")
                    try:
                        yield self
                        conn.execute("COMMIT")
                    except BaseException:
                        if conn.in_transaction:  # also when COMMIT itself failed
                            conn.execute("ROLLBACK")
                        raise
                else:
                    with self._postgres_pool().connection() as conn, conn.transaction():
                        self._local.conn = conn
                        try:
                            yield self
                        finally:
                            self._local.conn = None
        finally:
            self._local.depth = 0

    def close(self, wait_s: float = 30.0) -> None:
        with self._traffic:
            self._closing = True
            self._traffic.wait_for(lambda: self._in_flight == 0, timeout=wait_s)
        try:
            self._close_connections()
        finally:
            with self._traffic:
                self._closing = False
                self._traffic.notify_all()

    def _close_connections(self) -> None:
        with self._lock:
            conns, self._sqlite_conns = self._sqlite_conns, []
            pool, self._pool = self._pool, None
        for conn in conns:
            try:
                conn.close()
            except sqlite3.Error:  # closing is best effort, e.g. mid-statement elsewhere
                pass
        if pool is not None:
            pool.close()
        self._local = threading.local()

    # ----- statements ----------------------------------------------------
    def _sql(self, sql: str) -> str:
        return sql if self.dialect == "sqlite" else _to_psycopg(sql)

    @contextmanager
    def _cursor(self, sql: str, params: Sequence[Any]) -> Iterator[Any]:
        with self._connection() as conn:
            cur = conn.execute(self._sql(sql), tuple(params))
            try:
                yield cur
            finally:
                cur.close()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; returns the affected row count."""
        with self._cursor(sql, params) as cur:
            return cur.rowcount

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = [tuple(r) for r in rows]
        if not rows:
            return
        with self._connection() as conn:
            cur = conn.cursor()
            try:
                cur.executemany(self._sql(sql), rows)
            finally:
                cur.close()

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with self._cursor(sql, params) as cur:
            return [tuple(r) for r in cur.fetchall()]

    def fetchone(self, sql: str, params: Sequence[Any] = ()) -> tuple | None:
        with self._cursor(sql, params) as cur:
            row = cur.fetchone()
            return None if row is None else tuple(row)

    def fetchdicts(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self._cursor(sql, params) as cur:
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r)) for r in cur.fetchall()]

    def columns(self, table: str) -> list[str]:
        with self._cursor(f"SELECT * FROM {table} LIMIT 0", ()) as cur:
            return [d[0] for d in cur.description]
