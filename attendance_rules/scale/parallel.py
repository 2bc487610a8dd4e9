"""Per-pupil work in worker processes, results in input order.

``map_pupils(task, pupils, jobs)`` applies ``task.apply(state, pupil)`` to every pupil
and yields the results in the order of ``pupils``, whatever the number of jobs:

- ``jobs == 1`` (or a single chunk of work) runs in this process, with no pool;
- otherwise a ``concurrent.futures.ProcessPoolExecutor`` of ``jobs`` workers is started.
  Each worker runs ``task.setup(*task.args)`` once (e.g. loading and compiling the policy)
  and then receives chunks of pupils. At most ``2 × jobs`` chunks are in flight, so
  results never pile up however large the cohort: the caller consumes them as they come.

Pupils and results travel as bytes made by ``dumps`` (a pickler that also handles the
read-only mappings of events and schools, sends the bundled code book by reference and
drops a register's lazily built counts), so ``history.py`` needs no pickling support.
Workers ignore SIGINT: on Ctrl-C (or any error, or when the caller stops iterating) the
parent cancels what is queued and terminates the workers, so none is left behind.
"""

from __future__ import annotations

import copyreg
import io
import multiprocessing
import os
import pickle
import signal
import sys
import threading
from array import array
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from types import MappingProxyType
from typing import Any, Callable, Generator, Iterator, Sequence

import attrs

from ..exceptions import EvaluationError, Location, Problem
from ..registers.codes import CodeBook, default_codebook
from ..registers.history import Pupil, Register

__all__ = ["PupilTask", "default_jobs", "dumps", "map_pupils", "pool_context"]

MAX_CHUNK = 64  # pupils per chunk at most: bounds memory and keeps progress smooth
CHUNKS_PER_JOB = 4  # aim for a few chunks per worker, so uneven pupils balance out


@attrs.frozen
class PupilTask:
    """What to do with each pupil: ``apply(setup(*args), pupil)``.

    ``setup`` and ``apply`` must be module-level functions and ``args`` picklable (paths,
    ids, calendars), because workers rebuild the state themselves: ``setup`` runs once
    per worker process (and once in-process when ``jobs == 1``).
    """

    setup: Callable[..., Any]
    apply: Callable[[Any, Pupil], Any]
    args: tuple = ()


def default_jobs() -> int:
    """The default number of jobs: the machine's cores (``os.cpu_count()``, at least 1)."""
    return os.cpu_count() or 1


# --- pickling ---------------------------------------------------------------------------


def _mapping_proxy(items: dict) -> MappingProxyType:
    """Rebuild a read-only mapping (``Event.details``, ``School.settings``)."""
    return MappingProxyType(items)


def _register(
    typecode: str, slots: bytes, codes: bytes, minutes_late: dict, codebook: CodeBook | None
) -> Register:
    """Rebuild a register from its compact parts (its counts are rebuilt lazily on use)."""
    return Register(array(typecode, slots), codes, minutes_late, codebook)


def _reduce_register(register: Register) -> tuple:
    """Pickle a register as its compact parts (the bundled code book by reference: None)."""
    # The bundled code book is loaded once per process anyway, so sending it with every register
    # would only cost; None makes the worker's `Register` take its own copy. The prefix counts are
    # not sent either: as large as the register itself, and rebuilt on first use.
    book = None if register.codebook is default_codebook() else register.codebook
    return _register, (
        register.slots.typecode,
        register.slots.tobytes(),
        register.codes,
        register.minutes_late,
        book,
    )


def _reduce_mapping_proxy(mapping: MappingProxyType) -> tuple:
    """Pickle a read-only mapping as a plain dict."""
    return _mapping_proxy, (dict(mapping),)


# A dispatch table of our own (set on each pickler) rather than copyreg.pickle: registering globally
# would change how the caller's own pickles of these types behave.
_DISPATCH = copyreg.dispatch_table.copy()
_DISPATCH[MappingProxyType] = _reduce_mapping_proxy
_DISPATCH[Register] = _reduce_register


def dumps(value: Any) -> bytes:
    """Pickle ``value`` (pupils, evaluations …) for a worker; ``pickle.loads`` reads it back."""
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    # Plain pickle refuses `mappingproxy` (events' details, school settings), which results carry
    # too, so results come back through the same `dumps`.
    pickler.dispatch_table = _DISPATCH
    pickler.dump(value)
    return buffer.getvalue()


# --- workers ----------------------------------------------------------------------------

# A module global because a pool initializer cannot return anything: the state it builds (a compiled
# policy) must outlive it for every chunk the worker runs.
_worker: tuple[Callable[[Any, Pupil], Any], Any] | None = None  # (apply, state) in a worker


@contextmanager
def _sigint_blocked() -> Iterator[None]:
    """SIGINT held back (not lost) in this thread; a process started meanwhile inherits the
    block."""
    if not hasattr(signal, "pthread_sigmask"):  # not POSIX
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _init_worker(task_bytes: bytes) -> None:
    """Worker initializer: ignore Ctrl-C (the parent decides) and build the task's state once."""
    global _worker
    # Ctrl-C goes to the whole process group: workers ignore it so that only the parent decides,
    # cancels what is queued and terminates them (a worker dying mid-chunk would break the pool).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):  # started with SIGINT blocked (see _sigint_blocked)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    task: PupilTask = pickle.loads(task_bytes)
    _worker = (task.apply, task.setup(*task.args))


def _run_chunk(pupils_bytes: bytes) -> bytes:
    """Apply the task to a chunk of pupils in a worker; the results, pickled, in order."""
    assert _worker is not None, "worker not initialised"
    apply, state = _worker
    return dumps([apply(state, pupil) for pupil in pickle.loads(pupils_bytes)])


# --- the map ----------------------------------------------------------------------------


def chunk_size_for(count: int, jobs: int) -> int:
    """Pupils per chunk: about ``CHUNKS_PER_JOB`` chunks per job, at most ``MAX_CHUNK``."""
    # `-(-a // b)` is a ceiling division: never zero pupils per chunk, never more chunks than
    # needed.
    return max(1, min(MAX_CHUNK, -(-count // (jobs * CHUNKS_PER_JOB))))


def map_pupils(
    task: PupilTask,
    pupils: Sequence[Pupil],
    jobs: int = 1,
    chunk_size: int | None = None,
    state: Any = None,
) -> Generator[Any, None, None]:
    """``task.apply(state, pupil)`` for each pupil, yielded in the order of ``pupils``.

    ``jobs`` worker processes (1: in this process, no pool). ``chunk_size`` pupils are sent
    to a worker at a time (default: ``chunk_size_for``). ``state``, when given, is used
    in-process instead of calling ``task.setup`` (the caller often has it already).
    Use it as ``with contextlib.closing(map_pupils(...)) as results:`` so that stopping
    early (an error, Ctrl-C) shuts the workers down at once.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be 1 or more, not {jobs}")
    size = chunk_size or chunk_size_for(len(pupils), jobs)
    chunks = [pupils[i : i + size] for i in range(0, len(pupils), size)]
    workers = min(jobs, len(chunks))
    # One chunk of work is not worth a pool: starting a process and compiling the policy again there
    # costs more than evaluating the chunk here.
    if workers <= 1:
        yield from _in_process(task, pupils, state)
    else:
        yield from _in_pool(task, chunks, workers)


def _in_process(task: PupilTask, pupils: Sequence[Pupil], state: Any) -> Iterator[Any]:
    """The map without a pool."""
    state = task.setup(*task.args) if state is None else state
    for pupil in pupils:
        yield task.apply(state, pupil)


def _in_pool(task: PupilTask, chunks: list[Sequence[Pupil]], workers: int) -> Iterator[Any]:
    """The map over ``workers`` processes, at most ``2 × workers`` chunks in flight."""
    pool = ProcessPoolExecutor(
        workers, mp_context=pool_context(), initializer=_init_worker, initargs=(dumps(task),)
    )
    pending: deque[Future] = deque()
    finished = False
    try:
        for chunk in chunks:
            data = dumps(list(chunk))
            # a submit may start a worker: it must not see Ctrl-C before ignoring it
            with _sigint_blocked():
                pending.append(pool.submit(_run_chunk, data))
            # Two chunks per worker keep each busy (one running, one queued) while the parent reads
            # results in order; more would only hold results in memory waiting for a slow earlier
            # chunk.
            if len(pending) >= 2 * workers:
                yield from _results(pending.popleft())
        while pending:
            yield from _results(pending.popleft())
        finished = True
    finally:
        _shut_down(pool, pending, finished)


def pool_context() -> Any:
    """How workers are started: ``fork`` on Linux while this process has one thread,
    ``forkserver`` once other threads run, the platform's default elsewhere."""
    methods = multiprocessing.get_all_start_methods()
    # A fork copies the other threads' locks in whatever state they are in (a Dask client,
    # a browser driver, an embedding server): the child can deadlock, and Python 3.12+
    # warns. The fork server is a clean single-threaded process; starting from it costs
    # each worker the package's import (~0.3 s), so fork is kept when it is safe: it shares
    # the parent's loaded modules and starts at once.
    if _threads_running() and "forkserver" in methods:
        return multiprocessing.get_context("forkserver")
    if sys.platform.startswith("linux") and "fork" in methods:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context()


def _threads_running() -> bool:
    """Whether this process runs more than one thread: the operating system's count where it
    gives one (pyarrow's and BLAS's pools are threads ``threading`` does not know of)."""
    try:
        return len(os.listdir("/proc/self/task")) > 1
    except OSError:
        return threading.active_count() > 1


def _results(future: Future) -> list[Any]:
    """A chunk's results; a worker that died (killed, out of memory) is a located error."""
    try:
        return pickle.loads(future.result())
    except BrokenProcessPool:
        raise EvaluationError(
            [
                Problem(
                    "a worker process stopped before finishing its pupils (killed, or out of "
                    "memory?)",
                    Location("<worker process>"),
                    expected="fewer --jobs, or --jobs 1",
                )
            ]
        ) from None


def _shut_down(pool: ProcessPoolExecutor, pending: deque[Future], finished: bool) -> None:
    """Stop the pool: wait for idle workers after a full run, else cancel and terminate them."""
    if not finished:
        for future in pending:
            future.cancel()
        _terminate_workers(pool)
    # Waits even after terminating, so the processes are reaped and none is left as a zombie.
    pool.shutdown(wait=True, cancel_futures=True)


def _terminate_workers(pool: ProcessPoolExecutor) -> None:
    """Stop busy workers now (public from Python 3.14; before that, through the pool's
    processes)."""
    terminate = getattr(pool, "terminate_workers", None)
    if terminate is not None:
        terminate()
        return
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        if process.is_alive():
            process.terminate()
