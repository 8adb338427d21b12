"""The results store of sweeps: an SQLite database, arrays as ``.npy`` files beside it.

One row per task, keyed by the task's *content key* (a hash of task type, parameters and seed), so
re-running a sweep skips what is already stored and a task is never written twice. Only the client
process writes; workers return results to it.

Query it with ordinary tools::

    sqlite3 results.sqlite "select params, metrics from tasks where status = 'ok'"

or from Python with :meth:`ResultStore.rows`.

Schema (table ``tasks``): ``key`` (primary key), ``sweep``, ``task``, ``params`` (JSON), ``seed``,
``status`` (``ok`` | ``failed``), ``metrics`` (JSON of scalars), ``arrays`` (JSON list of array
names; files ``<store>.arrays/<key>.<name>.npy``), ``error``, ``traceback``, ``started``,
``finished``, ``duration_s``, ``worker``, ``version``.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from boltzkit.jobs import ConfigError

__all__ = ["ResultStore", "TaskRow", "content_key"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    key TEXT PRIMARY KEY,
    sweep TEXT NOT NULL,
    task TEXT NOT NULL,
    params TEXT NOT NULL,
    seed INTEGER NOT NULL,
    status TEXT NOT NULL,
    metrics TEXT,
    arrays TEXT,
    error TEXT,
    traceback TEXT,
    started REAL,
    finished REAL,
    duration_s REAL,
    worker TEXT,
    version TEXT
);
CREATE TABLE IF NOT EXISTS sweeps (
    name TEXT PRIMARY KEY,
    task TEXT NOT NULL,
    job TEXT NOT NULL,
    created REAL NOT NULL
);
"""


def content_key(task: str, params: dict[str, Any], seed: int) -> str:
    """SHA-256 of the canonical JSON of ``(task, params, seed)``: the identity of a task."""
    blob = json.dumps({"task": task, "params": params, "seed": int(seed)}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class TaskRow:
    """One stored task."""

    key: str
    sweep: str
    task: str
    params: dict[str, Any]
    seed: int
    status: str
    metrics: dict[str, Any]
    arrays: list[str]
    error: str | None
    traceback: str | None
    duration_s: float | None
    worker: str | None
    version: str | None


class ResultStore:
    """An SQLite results store (create or open).

    Parameters
    ----------
    path : str or Path
        The database file; its folder is created if needed.

    Raises
    ------
    ConfigError
        If the path cannot be created or written.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path)
            self._db.executescript(_SCHEMA)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.commit()
        except (OSError, sqlite3.Error) as e:
            raise ConfigError(f"store: cannot create or write {str(self.path)!r}: {e}") from None
        self.array_dir = self.path.with_name(self.path.name + ".arrays")

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def status_of(self, keys: list[str]) -> dict[str, str]:
        """Stored status of each key that is present."""
        out: dict[str, str] = {}
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            q = f"SELECT key, status FROM tasks WHERE key IN ({','.join('?' * len(chunk))})"
            out.update(dict(self._db.execute(q, chunk).fetchall()))
        return out

    def record_sweep(self, name: str, task: str, job: dict[str, Any]) -> None:
        """Remember the job that a sweep ran (replaced when the sweep is run again)."""
        self._db.execute(
            "INSERT OR REPLACE INTO sweeps (name, task, job, created) VALUES (?, ?, ?, ?)",
            (name, task, json.dumps(job, sort_keys=True), time.time()),
        )
        self._db.commit()

    def write(self, sweep: str, results: list[dict[str, Any]]) -> None:
        """Write task results (one transaction). A key already stored is replaced, never duplicated."""
        rows = []
        for r in results:
            arrays = r.get("arrays") or {}
            if arrays:
                self.array_dir.mkdir(parents=True, exist_ok=True)
                for name, a in arrays.items():
                    np.save(self.array_dir / f"{r['key']}.{name}.npy", np.asarray(a), allow_pickle=False)
            rows.append(
                (
                    r["key"],
                    sweep,
                    r["task"],
                    json.dumps(r["params"], sort_keys=True),
                    int(r["seed"]),
                    r["status"],
                    json.dumps(r.get("metrics") or {}, sort_keys=True),
                    json.dumps(sorted(arrays)),
                    r.get("error"),
                    r.get("traceback"),
                    r.get("started"),
                    r.get("finished"),
                    r.get("duration_s"),
                    r.get("worker"),
                    r.get("version"),
                )
            )
        self._db.executemany(
            "INSERT OR REPLACE INTO tasks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        self._db.commit()

    def rows(self, *, status: str | None = None, task: str | None = None, sweep: str | None = None) -> list[TaskRow]:
        """Stored tasks, optionally filtered."""
        q = (
            "SELECT key, sweep, task, params, seed, status, metrics, arrays, error, traceback, duration_s, worker, version"
            " FROM tasks"
        )
        cond, args = [], []
        for col, val in (("status", status), ("task", task), ("sweep", sweep)):
            if val is not None:
                cond.append(f"{col} = ?")
                args.append(val)
        if cond:
            q += " WHERE " + " AND ".join(cond)
        q += " ORDER BY rowid"
        out = []
        for k, sw, t, p, seed, st, m, arr, err, tb, dur, wk, ver in self._db.execute(q, args).fetchall():
            metrics, arrays = json.loads(m or "{}"), json.loads(arr or "[]")
            out.append(TaskRow(k, sw, t, json.loads(p), int(seed), st, metrics, arrays, err, tb, dur, wk, ver))
        return out

    def array(self, key: str, name: str) -> np.ndarray[Any, Any]:
        """A stored array of a task."""
        a: np.ndarray[Any, Any] = np.load(self.array_dir / f"{key}.{name}.npy", allow_pickle=False)
        return a

    def count(self) -> dict[str, int]:
        """Number of rows per status."""
        return dict(self._db.execute("SELECT status, COUNT(*) FROM tasks GROUP BY status").fetchall())
