"""The local record of a batch run (stdlib sqlite3): what was planned, uploaded, created, stored.

Every call that costs money or creates state at the service is written here *before* it is
made (an "intent" row) and again once it answered, so a run killed at any point can be run
again and continue: an intent without an answer is reconciled against the service's own
lists instead of being repeated. Rows are marked stored only after the sink has flushed them,
so a row is never missing, and never paid for twice.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FINAL", "ISOLATE", "RETRY", "FileRecord", "JobRecord", "Manifest", "RequestRecord"]

# What a follow-up does with a failed request (the ``retryable`` column).
FINAL = 0
"""Nothing: the service refused the request for good."""
RETRY = 1
"""Send it again as it is (expired, cancelled, a 5xx, a malformed answer)."""
ISOLATE = 2
"""Split it row by row: one row's content or length refused the whole line."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS requests (
    start INTEGER PRIMARY KEY, stop INTEGER NOT NULL, file TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'queued', reason TEXT, attempts INTEGER NOT NULL DEFAULT 1,
    tokens INTEGER NOT NULL DEFAULT 0, billed INTEGER NOT NULL DEFAULT 0,
    retryable INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS requests_by_file ON requests (file);
CREATE TABLE IF NOT EXISTS files (
    name TEXT PRIMARY KEY, path TEXT NOT NULL, lines INTEGER NOT NULL, bytes INTEGER NOT NULL,
    state TEXT NOT NULL DEFAULT 'written', file_id TEXT
);
CREATE TABLE IF NOT EXISTS copies (row INTEGER PRIMARY KEY, unit INTEGER NOT NULL, text TEXT);
CREATE INDEX IF NOT EXISTS copies_by_unit ON copies (unit);
CREATE TABLE IF NOT EXISTS shifted (unit INTEGER PRIMARY KEY, row INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    name TEXT PRIMARY KEY, file TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'intent',
    batch_id TEXT, status TEXT, output_file_id TEXT, error_file_id TEXT,
    total INTEGER NOT NULL DEFAULT 0, completed INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0, fetched INTEGER NOT NULL DEFAULT 0
);
"""


@dataclass(frozen=True)
class RequestRecord:
    """One request: rows ``start``..``stop`` (exclusive), the file it is in, its state."""

    start: int
    stop: int
    file: str
    state: str
    """``queued`` (in a file not yet fetched), ``done`` (stored), ``failed`` (see reason)."""
    reason: str | None
    attempts: int

    @property
    def custom_id(self) -> str:
        return custom_id(self.start, self.stop)


@dataclass(frozen=True)
class FileRecord:
    """One request file: ``written`` locally, ``uploading`` (intent), ``uploaded`` (file_id)."""

    name: str
    path: str
    lines: int
    bytes: int
    state: str
    file_id: str | None


@dataclass(frozen=True)
class JobRecord:
    """One batch job over one file: ``intent`` until the service answered, then ``created``."""

    name: str
    file: str
    state: str
    batch_id: str | None
    status: str | None
    output_file_id: str | None
    error_file_id: str | None
    total: int
    completed: int
    failed: int
    fetched: bool


def custom_id(start: int, stop: int) -> str:
    """The request's ``custom_id``: its row range, so any output line names its rows."""
    return f"r{start}-{stop}"


def parse_custom_id(value: str) -> tuple[int, int]:
    """``r{start}-{stop}`` back to the row range (ValueError for anything else)."""
    if not value.startswith("r"):
        raise ValueError(f"not a row-range custom_id: {value!r}")
    start, _, stop = value[1:].partition("-")
    return int(start), int(stop)


class Manifest:
    """A batch run's state in one SQLite file the user names; safe to reopen after a crash."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._db = sqlite3.connect(self.path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._scratch = False
        if self.get("run_id") is None:
            self.set("run_id", uuid.uuid4().hex[:12])

    def close(self) -> None:
        self._db.close()

    # --- meta ------------------------------------------------------------------------------

    def get(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set(self, key: str, value: object) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, str(value)))

    @property
    def run_id(self) -> str:
        return self.get("run_id") or ""

    @property
    def work_dir(self) -> Path:
        """Where this run's request files are written: next to the manifest."""
        return self.path.with_name(self.path.name + ".files")

    # --- planning --------------------------------------------------------------------------

    def reset_plan(self) -> None:
        """Forget a plan that was never finished (nothing of it was uploaded)."""
        with self._tx():
            self._db.execute("DELETE FROM requests")
            self._db.execute("DELETE FROM files")
            self._db.execute("DELETE FROM copies")
            self._db.execute("DELETE FROM shifted")

    # --- duplicate texts: requests are over units (the distinct texts), the sink over rows --

    def seen(self, digest: bytes, unit: int) -> int | None:
        """The unit of a text already seen (by its digest) while planning, or None after
        recording it as ``unit``. Kept in a private temporary table: memory stays bounded."""
        if not self._scratch:
            self._db.execute("CREATE TEMP TABLE IF NOT EXISTS digests (d BLOB PRIMARY KEY, u INT)")
            self._scratch = True
        added = self._db.execute("INSERT OR IGNORE INTO temp.digests VALUES (?, ?)", (digest, unit))
        if added.rowcount == 1:
            return None
        row = self._db.execute("SELECT u FROM temp.digests WHERE d = ?", (digest,)).fetchone()
        return int(row[0])

    def forget_digests(self) -> None:
        if self._scratch:
            self._db.execute("DROP TABLE temp.digests")
            self._scratch = False

    def add_mapping(
        self, copies: list[tuple[int, int, str]], shifted: list[tuple[int, int]]
    ) -> None:
        """Rows ``(row, unit, text)`` that repeat an earlier text, and units ``(unit, row)``
        whose row is not their number (every unit after the first repeat)."""
        with self._tx():
            self._db.executemany("INSERT INTO copies VALUES (?, ?, ?)", copies)
            self._db.executemany("INSERT INTO shifted VALUES (?, ?)", shifted)

    @property
    def deduplicated(self) -> bool:
        return self._db.execute("SELECT 1 FROM copies LIMIT 1").fetchone() is not None

    def rows_of(self, start: int, stop: int) -> list[int]:
        """The row of each unit ``start``..``stop``, in order."""
        found = dict(
            self._db.execute(
                "SELECT unit, row FROM shifted WHERE unit >= ? AND unit < ?", (start, stop)
            ).fetchall()
        )
        return [int(found.get(unit, unit)) for unit in range(start, stop)]

    def copies_of(self, start: int, stop: int) -> list[tuple[int, int]]:
        """``(row, unit)`` of the rows repeating a unit in ``start``..``stop``."""
        rows = self._db.execute(
            "SELECT row, unit FROM copies WHERE unit >= ? AND unit < ? ORDER BY row", (start, stop)
        )
        return [(int(r), int(u)) for r, u in rows]

    def copy_texts(self) -> Iterator[tuple[int, str]]:
        """``(row, text)`` of every repeated row, in row order (for sinks that keep texts)."""
        for row, text in self._db.cursor().execute("SELECT row, text FROM copies ORDER BY row"):
            yield int(row), str(text)

    def add_file(
        self,
        name: str,
        path: Path,
        requests: list[tuple[int, int, int]],
        size: int,
        *,
        followup: bool = False,
    ) -> None:
        """Record a written request file and its requests ``(start, stop, tokens)`` at once;
        a follow-up file moves failed requests into it, queued again."""
        with self._tx():
            self._db.execute(
                "INSERT INTO files (name, path, lines, bytes) VALUES (?, ?, ?, ?)",
                (name, str(path), len(requests), size),
            )
            if followup:
                self._db.executemany(
                    "UPDATE requests SET file = ?, state = 'queued', attempts = attempts + 1 "
                    "WHERE start = ?",
                    [(name, start) for start, _, _ in requests],
                )
                return
            self._db.executemany(
                "INSERT INTO requests (start, stop, file, tokens) VALUES (?, ?, ?, ?)",
                [(start, stop, name, tokens) for start, stop, tokens in requests],
            )

    # --- files and jobs --------------------------------------------------------------------

    def files(self) -> list[FileRecord]:
        rows = self._db.execute(
            "SELECT name, path, lines, bytes, state, file_id FROM files ORDER BY rowid"
        )
        return [FileRecord(*row) for row in rows]

    def file(self, name: str) -> FileRecord:
        row = self._db.execute(
            "SELECT name, path, lines, bytes, state, file_id FROM files WHERE name = ?", (name,)
        ).fetchone()
        if row is None:
            raise KeyError(name)
        return FileRecord(*row)

    def set_file(self, name: str, state: str, file_id: str | None = None) -> None:
        self._db.execute(
            "UPDATE files SET state = ?, file_id = ? WHERE name = ?", (state, file_id, name)
        )

    def jobs(self) -> list[JobRecord]:
        rows = self._db.execute(
            "SELECT name, file, state, batch_id, status, output_file_id, error_file_id, total, "
            "completed, failed, fetched FROM jobs ORDER BY rowid"
        )
        return [
            JobRecord(
                name=r[0],
                file=r[1],
                state=r[2],
                batch_id=r[3],
                status=r[4],
                output_file_id=r[5],
                error_file_id=r[6],
                total=r[7],
                completed=r[8],
                failed=r[9],
                fetched=bool(r[10]),
            )
            for r in rows
        ]

    def job(self, name: str) -> JobRecord:
        found = next((job for job in self.jobs() if job.name == name), None)
        if found is None:
            raise KeyError(name)
        return found

    def job_for(self, file: str) -> JobRecord | None:
        return next((job for job in self.jobs() if job.file == file), None)

    def add_job_intent(self, name: str, file: str) -> None:
        self._db.execute("INSERT OR IGNORE INTO jobs (name, file) VALUES (?, ?)", (name, file))

    def update_job(
        self,
        name: str,
        *,
        batch_id: str,
        status: str,
        output_file_id: str | None,
        error_file_id: str | None,
        counts: tuple[int, int, int],
    ) -> None:
        self._db.execute(
            "UPDATE jobs SET state = 'created', batch_id = ?, status = ?, output_file_id = ?, "
            "error_file_id = ?, total = ?, completed = ?, failed = ? WHERE name = ?",
            (batch_id, status, output_file_id, error_file_id, *counts, name),
        )

    def set_fetched(self, name: str) -> None:
        self._db.execute("UPDATE jobs SET fetched = 1 WHERE name = ?", (name,))

    # --- rows ------------------------------------------------------------------------------

    def requests(self, state: str | None = None, file: str | None = None) -> list[RequestRecord]:
        query = "SELECT start, stop, file, state, reason, attempts FROM requests"
        clauses, args = [], []
        if state is not None:
            clauses.append("state = ?")
            args.append(state)
        if file is not None:
            clauses.append("file = ?")
            args.append(file)
        if clauses:
            query += " WHERE " + " AND ".join(clauses)
        return [RequestRecord(*row) for row in self._db.execute(query + " ORDER BY start", args)]

    def counts(self) -> dict[str, int]:
        """Requests and rows per state."""
        out: dict[str, int] = {}
        rows = self._db.execute(
            "SELECT state, COUNT(*), COALESCE(SUM(stop - start), 0) FROM requests GROUP BY state"
        )
        for state, requests, rows_in in rows:
            out[f"{state}_requests"] = int(requests)
            out[f"{state}_rows"] = int(rows_in)
        return out

    def estimated_tokens(self) -> int:
        row = self._db.execute("SELECT COALESCE(SUM(tokens), 0) FROM requests").fetchone()
        return int(row[0])

    def billed_tokens(self) -> int:
        row = self._db.execute("SELECT COALESCE(SUM(billed), 0) FROM requests").fetchone()
        return int(row[0])

    def mark_done(self, done: Iterable[tuple[int, int]]) -> None:
        """Requests ``(start, billed tokens)`` whose rows the sink has flushed: stored for good."""
        with self._tx():
            self._db.executemany(
                "UPDATE requests SET state = 'done', reason = NULL, billed = ? WHERE start = ?",
                [(tokens, start) for start, tokens in done],
            )

    def mark_failed(self, failures: Iterable[tuple[int, str, int]]) -> None:
        """Requests ``(start, reason, FINAL | RETRY | ISOLATE)`` the service answered without
        vectors (never one already stored)."""
        with self._tx():
            self._db.executemany(
                "UPDATE requests SET state = 'failed', reason = ?, retryable = ? WHERE start = ? "
                "AND state != 'done'",
                [(reason, int(retryable), s) for s, reason, retryable in failures],
            )

    def unmark_done(self, failures: Iterable[tuple[int, str, int]]) -> None:
        """Requests once stored whose rows are gone (the sink was replaced)."""
        with self._tx():
            self._db.executemany(
                "UPDATE requests SET state = 'failed', reason = ?, retryable = ? WHERE start = ?",
                [(reason, int(retryable), s) for s, reason, retryable in failures],
            )

    def retryable_failures(self) -> list[RequestRecord]:
        """Failed requests a follow-up sends again (split ones are already split)."""
        return self._failed_with(RETRY)

    def to_isolate(self) -> list[RequestRecord]:
        """Failed requests of several rows that one row's refusal failed."""
        return self._failed_with(ISOLATE)

    def _failed_with(self, retry: int) -> list[RequestRecord]:
        query = (
            "SELECT start, stop, file, state, reason, attempts FROM requests "
            "WHERE state = 'failed' AND retryable = ? ORDER BY start"
        )
        return [RequestRecord(*row) for row in self._db.execute(query, (retry,))]

    def split(self, start: int, retry: int = RETRY) -> list[RequestRecord]:
        """Replace a failed request by one request a row (failed, its reason kept, ``retry``),
        in one transaction: every row stays in exactly one request. Their file is still the
        old one, whose line covers them (``requests.lines_for`` slices it)."""
        with self._tx():
            row = self._db.execute(
                "SELECT stop, file, reason, attempts, tokens FROM requests WHERE start = ? "
                "AND state = 'failed'",
                (start,),
            ).fetchone()
            if row is None:
                raise KeyError(start)
            stop, file, reason, attempts, tokens = row
            rows = stop - start
            self._db.execute("DELETE FROM requests WHERE start = ?", (start,))
            self._db.executemany(
                "INSERT INTO requests (start, stop, file, state, reason, attempts, tokens, "
                "retryable) VALUES (?, ?, ?, 'failed', ?, ?, ?, ?)",
                [
                    (i, i + 1, file, reason, attempts, -(-tokens // rows), retry)
                    for i in range(start, stop)
                ],
            )
        return self.requests_in(start, stop)

    def requests_in(self, start: int, stop: int) -> list[RequestRecord]:
        """The requests whose rows lie in ``start``..``stop``."""
        query = (
            "SELECT start, stop, file, state, reason, attempts FROM requests "
            "WHERE start >= ? AND stop <= ? ORDER BY start"
        )
        return [RequestRecord(*row) for row in self._db.execute(query, (start, stop))]

    def _tx(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    """BEGIN ... COMMIT (ROLLBACK on error) on an autocommit connection."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self._db.execute("ROLLBACK" if exc_type is not None else "COMMIT")
