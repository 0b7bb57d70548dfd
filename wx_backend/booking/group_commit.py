"""Group commit: the booking rows of concurrent requests in one web process go to
PostgreSQL together, as multi-row ``INSERT … RETURNING id`` statements, each in its own
transaction.

Up to ``in_flight`` statements run at once, each on its own pooled connection. A request
that finds fewer running becomes a leader: it takes its own row and up to ``max_rows - 1``
rows waiting before it, writes them in one statement and hands each request its id. A
request that finds them all running waits in the queue; when a leader finishes, the first
waiting request leads the next statement with the rows that queued meanwhile. An idle
process therefore writes a lone row at once; a busy one keeps ``in_flight`` statements
going, each holding the rows that arrived while the others ran. Every request is answered
only after the statement holding its row has committed: a booking is confirmed only once
its row is durable.

Why more than one statement at a time: with one, the process's bookings queue behind a
single round trip to PostgreSQL and its cores idle while they wait (measured in
``docs/scaling.md``); with a statement per request, every row pays its own commit.

If a statement is refused (one row breaks a constraint: a slot the database already
holds, a person already booked), its rows are written one by one, so each request gets
its own outcome, exactly as if it had been alone.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field

from sqlalchemy import Engine, Table, insert
from sqlalchemy.exc import DBAPIError

MAX_ROWS = 64
IN_FLIGHT = 4


@dataclass
class _Pending:
    values: dict
    done: threading.Event = field(default_factory=threading.Event)
    lead: bool = False
    row_id: int | None = None
    error: BaseException | None = None

    def result(self) -> int:
        if self.error is not None:
            raise self.error
        return self.row_id


class GroupCommit:
    """Writes rows of ``table`` for many threads of one process (see the module)."""

    def __init__(self, engine: Engine, table: Table, max_rows: int = MAX_ROWS,
                 in_flight: int = IN_FLIGHT):
        self.engine = engine
        self.table = table
        self.max_rows = max_rows
        self.in_flight = in_flight
        self._statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
        self._lock = threading.Lock()
        self._queue: list[_Pending] = []
        self._running = 0
        self.statements = 0  # how many statements wrote how many rows: for the benchmark
        self.rows = 0

    def insert(self, values: dict) -> int:
        """Write one row; answers its id once it is committed, or raises its error."""
        item = _Pending(values)
        with self._lock:
            lead = self._running < self.in_flight
            if lead:
                self._running += 1
            else:
                self._queue.append(item)
        if not lead:
            item.done.wait()
            if not item.lead:
                return item.result()
        with self._lock:
            batch = [item, *self._queue[:self.max_rows - 1]]
            del self._queue[:self.max_rows - 1]
        try:
            self._write(batch)
        finally:
            with self._lock:
                if self._queue:  # the next statement's turn: the first waiting row leads it
                    following = self._queue.pop(0)
                    following.lead = True
                    following.done.set()
                else:
                    self._running -= 1
            for pending in batch[1:]:
                pending.done.set()
        return item.result()

    def _write(self, batch: list[_Pending]) -> None:
        try:
            with self.engine.connect() as connection:
                ids = connection.execution_options(isolation_level="AUTOCOMMIT").execute(
                    self._statement, [p.values for p in batch]).scalars().all()
            for pending, row_id in zip(batch, ids):
                pending.row_id = row_id
            with self._lock:
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


def for_engine(engine: Engine, table: Table, in_flight: int = IN_FLIGHT) -> GroupCommit:
    """The process's group committer for ``table`` on ``engine``."""
    group = _groups.get(engine)
    if group is None:
        with _made:
            group = _groups.get(engine)
            if group is None:
                group = _groups[engine] = GroupCommit(engine, table, in_flight=in_flight)
    return group
