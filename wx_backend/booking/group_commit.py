"""Group commit: the booking rows of concurrent requests in one web process go to
PostgreSQL together, as one multi-row ``INSERT … RETURNING id`` in its own transaction.

The first request to arrive while no statement is in flight leads: it takes every row
waiting (its own first), writes them in one statement and hands each request its id. Rows
that arrive meanwhile wait for the next statement, led by the first of them. An idle
process therefore writes a lone row at once, and a busy one writes as many rows per
commit as it has requests in flight. Every request is answered only after the statement
holding its row has committed: a booking is confirmed only once its row is durable.

If the statement is refused (one row breaks a constraint: a slot the database already
holds, a person already booked), the rows are written one by one, so each request gets
its own outcome, exactly as if it had been alone.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field

from sqlalchemy import Engine, Table, insert
from sqlalchemy.exc import DBAPIError

MAX_ROWS = 64


@dataclass
class _Pending:
    values: dict
    done: threading.Event = field(default_factory=threading.Event)
    lead: bool = False
    row_id: int | None = None
    error: DBAPIError | None = None

    def result(self) -> int:
        if self.error is not None:
            raise self.error
        return self.row_id


class GroupCommit:
    """Writes rows of ``table`` for many threads of one process (see the module)."""

    def __init__(self, engine: Engine, table: Table, max_rows: int = MAX_ROWS):
        self.engine = engine
        self.table = table
        self.max_rows = max_rows
        self._statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
        self._lock = threading.Lock()
        self._queue: list[_Pending] = []
        self._busy = False
        self.statements = 0  # how many statements wrote how many rows: for the benchmark
        self.rows = 0

    def insert(self, values: dict) -> int:
        """Write one row; answers its id once it is committed, or raises its DBAPIError."""
        item = _Pending(values)
        with self._lock:
            self._queue.append(item)
            lead = not self._busy
            self._busy = True
        if not lead:
            item.done.wait()
            if not item.lead:
                return item.result()
        with self._lock:
            batch, self._queue = self._queue[:self.max_rows], self._queue[self.max_rows:]
        try:
            self._write(batch)
        finally:
            with self._lock:
                if self._queue:
                    following = self._queue[0]
                    following.lead = True
                    following.done.set()
                else:
                    self._busy = False
            for pending in batch:
                if pending is not item:
                    pending.done.set()
        return item.result()

    def _write(self, batch: list[_Pending]) -> None:
        try:
            with self.engine.connect() as connection:
                ids = connection.execution_options(isolation_level="AUTOCOMMIT").execute(
                    self._statement, [p.values for p in batch]).scalars().all()
            for pending, row_id in zip(batch, ids):
                pending.row_id = row_id
            self.statements += 1
            self.rows += len(batch)
            return
        except DBAPIError as error:
            if len(batch) == 1:
                batch[0].error = error
                return
        except Exception as error:  # nothing was written: every waiting request learns why
            for pending in batch:
                pending.error = error
            raise
        for pending in batch:  # one row broke a constraint: each alone, for its own answer
            self._write([pending])


_groups: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_made = threading.Lock()


def for_engine(engine: Engine, table: Table) -> GroupCommit:
    """The process's group committer for ``table`` on ``engine``."""
    group = _groups.get(engine)
    if group is None:
        with _made:
            group = _groups.get(engine)
            if group is None:
                group = _groups[engine] = GroupCommit(engine, table)
    return group
