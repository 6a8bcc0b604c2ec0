"""The answer writer: lands a dispatch's rows in groups, on a thread of its own.

Dispatch runs on an event loop that must keep its requests in flight; a DuckDB write per answer
on that loop stalls every request behind it. The loop hands rows (and the few reads that must see
them) to this writer as jobs; the writer's thread runs whatever is queued as one group, inside one
transaction, with one Arrow insert per table, and commits. A job's future resolves only after
that commit: an answer awaited through the writer is durable.

Jobs run in the order they were queued, and a read runs inside the group's transaction, after
every row queued before it (a transaction reads its own writes): a row queued after another is
never durable before it.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from connectors.store import Store
from connectors.tables import Row

MAX_GROUP_JOBS = 512  # jobs committed together at most; more wait for the next commit


@dataclass(frozen=True)
class _Job:
    rows: Sequence[Row]  # appended, grouped by table
    read: Callable[[Store], Any] | None  # run after the rows queued before it
    done: Future[Any]


class AnswerWriter:
    """One thread, one DuckDB connection of the run's database; use as a context manager.

    ``append`` and ``call`` return a ``concurrent.futures.Future`` (``asyncio.wrap_future`` it
    on a loop) that resolves after the group holding the job has committed.
    """

    def __init__(self, store: Store, max_group_jobs: int = MAX_GROUP_JOBS) -> None:
        self._store = store.cursor()
        self._max_group_jobs = max_group_jobs
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="nightshift-answer-writer",
                                        daemon=True)  # fmt: skip
        self.groups = 0  # transactions committed, for the benches
        self.jobs = 0

    def __enter__(self) -> AnswerWriter:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Land everything queued, then stop the thread."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        self._store.close()

    def append(self, rows: Sequence[Row]) -> Future[None]:
        """Queue ``rows`` (all of one table) for the next group."""
        return self._put(_Job(rows, None, Future()))

    def call(self, read: Callable[[Store], Any]) -> Future[Any]:
        """Run ``read`` on the writer's connection after everything queued so far."""
        return self._put(_Job((), read, Future()))

    def _put(self, job: _Job) -> Future[Any]:
        if not self._thread.is_alive():
            raise RuntimeError("the answer writer is not running")
        self._queue.put(job)
        return job.done

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                return
            group = [first]
            # Whatever queued while the last group committed goes into this one: the groups
            # grow with the load, and an idle writer commits a lone job at once.
            while len(group) < self._max_group_jobs:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    stopping = True
                    break
                group.append(job)
            self._commit(group)

    def _commit(self, group: list[_Job]) -> None:
        results: list[Any] = []
        try:
            with self._store.transaction():
                pending: dict[str, list[Row]] = {}
                for job in group:
                    if job.rows:
                        pending.setdefault(job.rows[0].TABLE, []).extend(job.rows)
                    if job.read is not None:
                        _flush(self._store, pending)
                        results.append(job.read(self._store))
                    else:
                        results.append(None)
                _flush(self._store, pending)
        except BaseException as exc:
            for job in group:
                job.done.set_exception(exc)
            return
        self.groups += 1
        self.jobs += len(group)
        for job, result in zip(group, results, strict=True):
            job.done.set_result(result)


def _flush(store: Store, pending: dict[str, list[Row]]) -> None:
    for rows in pending.values():
        store.append(rows)
    pending.clear()
