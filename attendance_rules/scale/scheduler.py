"""Dask scheduler handling: which client to use, and results in task order.

``scheduler_client`` turns the ``--scheduler`` forms (None, ``tcp://host:port``,
``local:N``, a ``distributed.Client``) into a client, starting and closing a local
cluster when asked; ``ordered_results`` submits tasks with a bounded number in flight
and yields their results in task order (in this process when there is no client).
"""

from __future__ import annotations

import os
from collections import deque
from contextlib import contextmanager
from typing import Any, Generator, Iterator, Sequence

from ..exceptions import Problem, UsageError
from .partitions import PartitionOutcome

__all__ = ["IN_FLIGHT_PER_WORKER", "ordered_results", "scheduler_client"]

# schools submitted ahead per worker thread (bounds memory while streaming)
IN_FLIGHT_PER_WORKER = 4


@contextmanager
def scheduler_client(scheduler: Any) -> Iterator[Any]:
    """A distributed ``Client`` for ``scheduler`` (None: the current one, or none at all)."""
    import distributed

    if scheduler is None:
        try:
            yield distributed.default_client()
        except ValueError:
            yield None
    elif isinstance(scheduler, distributed.Client):
        yield scheduler
    elif isinstance(scheduler, str) and scheduler.startswith("local"):
        with _local_cluster(scheduler) as client:
            yield client
    elif isinstance(scheduler, str):
        with _connect(scheduler) as client:
            yield client
    else:
        raise UsageError(
            f"scheduler must be an address (tcp://host:8786), local:N or a distributed.Client; "
            f"found {type(scheduler).__name__}"
        )


def _local_workers(spec: str) -> int:
    """N of ``local:N`` (``local`` alone: one worker per CPU)."""
    _, _, count = spec.partition(":")
    if not count:
        return os.cpu_count() or 1
    if not count.isdigit() or int(count) < 1:
        raise UsageError(
            [
                Problem(
                    "bad local scheduler",
                    found=repr(spec),
                    expected="local:N with N ≥ 1",
                    example="local:4",
                )
            ]
        )
    return int(count)


@contextmanager
def _local_cluster(spec: str) -> Iterator[Any]:
    """A ``LocalCluster`` of N single-threaded worker processes, closed afterwards."""
    import logging

    import distributed

    workers = _local_workers(spec)
    with distributed.LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    ) as cluster:
        with distributed.Client(cluster) as client:
            yield client


@contextmanager
def _connect(address: str) -> Iterator[Any]:
    """A client of a running scheduler; an unreachable address is a usage error."""
    import distributed

    try:
        client = distributed.Client(address, timeout="20s")
    except (OSError, TimeoutError, ValueError) as error:
        raise UsageError(
            [
                Problem(
                    "cannot reach the Dask scheduler",
                    found=f"{address}: {error}",
                    expected="the address a running `dask scheduler` prints",
                    example="tcp://10.0.0.5:8786",
                )
            ]
        ) from None
    with client:
        yield client


def ordered_results(client: Any, tasks: Sequence[tuple]) -> Generator[PartitionOutcome, None, None]:
    """Run ``(function, *args)`` tasks and yield their results in task order, a bounded
    number in flight so a slow consumer does not pile results up on the workers."""
    if client is None:
        for function, *args in tasks:
            yield function(*args)
        return
    window = max(8, IN_FLIGHT_PER_WORKER * max(1, sum(client.nthreads().values())))
    pending: deque = deque()
    todo = iter(tasks)
    for function, *args in todo:
        pending.append(client.submit(function, *args, pure=False))
        if len(pending) >= window:
            break
    while pending:
        future = pending.popleft()
        result = future.result()
        future.release()
        for function, *args in todo:
            pending.append(client.submit(function, *args, pure=False))
            break
        yield result
