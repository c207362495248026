"""Where a fleet's databases run: worker threads, or forked worker processes for files.

Threads suit a fleet of servers: our HTTP driver waits for the network without the GIL.
They do not suit local files: the native ``libsql`` driver holds the GIL for the whole
of every call, a COMMIT's fsyncs included (docs/libsql-notes.md §4), so ``--jobs 8`` ran one
database at a time. A fleet of local files therefore runs in ``jobs`` forked worker
processes (Linux, where ``fork`` is cheap and the start-up is not paid again), each
running whole databases; without ``fork``, or when other threads exist (forking them is
unsafe), it falls back to threads.

The work crosses into the workers by ``fork`` (a module-level callable set before the
pool starts them), never by pickling; only each database's result and its log records
come back (the main process's loggers handle the records, so a caller's handlers see
them and stderr has one writer). A database's result counts only once its log records
have been handled: they travel on another channel than the result, and the fleet's
progress line must not say "3/3 done" above the last database's own lines. Workers ignore Ctrl-C, as worker threads do: the main
process stops handing out databases and the ones running finish (each migration is
atomic and each lock gets released). A SIGTERM sent to the whole process group reaches
the workers too (under the tasks, which turn it into Ctrl-C, each worker rolls back the
migration it was in and releases its lock); a worker that dies fails the databases not
done by then (``result``), not the fleet.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from logging.handlers import QueueHandler
from typing import Any, Protocol, TypeVar

#: ``MIGRATE_TASKS_FLEET_THREADS=1``: always threads (to compare, or where fork misbehaves).
THREADS_ENV = "MIGRATE_TASKS_FLEET_THREADS"

LOGGER = "migrate_tasks"
T = TypeVar("T")
_work: Callable[[int], Any] | None = None  # set before the processes are forked
_records: Any = None  # in a forked worker: the queue its log records go through
#: How long a result waits for its database's log records to be handled (a safety net:
#: they are sent before the result, so they are normally already there).
LOGS_WAIT_S = 60.0


class StopFlag(Protocol):
    def is_set(self) -> bool: ...
    def set(self) -> None: ...


def use_processes(all_files: bool, workers: int) -> bool:
    """Fork workers for a fleet of local files when that is possible and safe."""
    return (
        all_files
        and workers > 1
        and sys.platform.startswith("linux")
        and os.environ.get(THREADS_ENV) != "1"
        and threading.active_count() == 1
        and "fork" in multiprocessing.get_all_start_methods()
    )


def stop_flag(processes: bool) -> StopFlag:
    """A flag every worker sees (``--fail-fast``, Ctrl-C)."""
    if processes:
        return multiprocessing.get_context("fork").Event()
    return threading.Event()


class Pool:
    """``submit(index)`` runs ``work(index)`` on a worker; ``result`` waits for it;
    ``cancel`` drops the queued."""

    def __init__(
        self,
        executor: Executor,
        submit: Callable[[int], Future[Any]],
        logged: Callable[[int], None] = lambda index: None,
    ) -> None:
        self._executor = executor
        self.submit = submit
        self._logged = logged

    def result(self, future: Future[T], index: int, died: Callable[[], T]) -> T:
        """Database ``index``'s result once its log records have been handled; ``died()``
        when its worker process ended without one (all the databases the pool had not
        finished then are told so, and the fleet carries on)."""
        try:
            value = future.result()
        except BrokenProcessPool:
            return died()
        self._logged(index)
        return value

    def cancel(self) -> None:
        """Drop what has not started; wait for what runs."""
        self._executor.shutdown(wait=True, cancel_futures=True)


@contextmanager
def pool(work: Callable[[int], Any], workers: int, processes: bool) -> Iterator[Pool]:
    """Workers running ``work(index)``: ``workers`` forked processes, or threads."""
    if not processes:
        with ThreadPoolExecutor(max_workers=workers) as threads:
            yield Pool(threads, lambda index: threads.submit(work, index))
        return
    global _work
    context = multiprocessing.get_context("fork")
    forwarder = _Forwarder(context.Queue())
    forked = ProcessPoolExecutor(
        workers, mp_context=context, initializer=_start_worker, initargs=(forwarder.records,)
    )
    _work = work

    def submit(index: int) -> Future[Any]:
        future = forked.submit(_run, index)  # the first submit forks every worker
        forwarder.start()  # so this thread starts after the fork
        return future

    try:
        yield Pool(forked, submit, forwarder.wait_for)
    finally:
        try:
            forked.shutdown(wait=True)  # the workers exit, having sent all their records
        finally:
            forwarder.stop()
            _work = None


class _Forwarder:
    """Log records the workers send are handled here, by this process's loggers: where a
    caller's handlers are, and one writer for stderr."""

    def __init__(self, records: Any) -> None:
        self.records = records
        self._thread: threading.Thread | None = None
        self._finished: dict[int, threading.Event] = {}
        self._lock = threading.Lock()

    def _event(self, index: int) -> threading.Event:
        with self._lock:
            return self._finished.setdefault(index, threading.Event())

    def wait_for(self, index: int) -> None:
        """Until every log record database ``index`` sent before its result is handled."""
        if not self._event(index).wait(LOGS_WAIT_S):
            logging.getLogger(LOGGER).debug("log records of database %d still pending", index)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._forward, name="fleet-log", daemon=True)
            self._thread.start()

    def _forward(self) -> None:
        while (record := self.records.get()) is not None:
            if isinstance(record, _Finished):  # after its records: one queue, in order
                self._event(record.index).set()
                continue
            try:
                logging.getLogger(record.name).handle(record)
            except Exception:  # a broken handler must not stop the draining (workers block)
                logging.getLogger(LOGGER).debug("could not handle a worker's log record")

    def stop(self) -> None:
        if self._thread is not None:
            self.records.put(None)
            self._thread.join()
        self.records.close()  # and its feeder thread, or the next fleet could not fork
        self.records.join_thread()


class _Finished:
    """Sent by a worker after database ``index``'s log records."""

    def __init__(self, index: int) -> None:
        self.index = index


def _run(index: int) -> Any:
    assert _work is not None, "the fleet's work is set before its workers are forked"
    try:
        return _work(index)
    finally:
        _records.put(_Finished(index))


def _start_worker(records: Any) -> None:
    """In each forked worker: ignore Ctrl-C, and log through the main process."""
    global _records
    _records = records
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logger = logging.getLogger(LOGGER)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    logger.addHandler(QueueHandler(records))
    logger.propagate = False  # the main process propagates, as it would have
