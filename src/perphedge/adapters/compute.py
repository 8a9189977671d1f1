"""Where the independent runs of a sweep execute: here, on every local core, or on a Dask cluster.

Every runner takes a top-level function ``fn(shared, job)``, the ``shared`` inputs every job
reads (the market history, the instrument: sent once per worker, not once per job), and the
jobs; it returns ``fn``'s results **in the jobs' order**, whatever order they finish in, so a
parallel sweep is byte for byte the sequential one. Progress is reported as (done, total) from
the calling process, one count across all workers.

* :class:`InProcess` — one after another, in this process (one job, or ``--workers 1``).
* :class:`LocalProcesses` — a pool of forked processes, one per core by default. Fork, because
  the children inherit the loaded history for free; a Dask ``LocalCluster`` would pay 1–2 s to
  start a scheduler and workers that then import everything again (docs/performance.md).
* :class:`DaskCluster` — a running Dask cluster (``--cluster tcp://host:8786``); the shared
  inputs are scattered to every worker once. Why Dask rather than Ray: docs/performance.md.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Protocol, TypeVar

from perphedge.errors import InputError, PerphedgeError

S = TypeVar("S")
J = TypeVar("J")
R = TypeVar("R")

#: Reports progress as (jobs done, jobs in total).
Progress = Callable[[int, int], None]


class JobRunner(Protocol):
    """Runs ``fn(shared, job)`` for every job; results in the jobs' order."""

    def map(self, fn: Callable[[S, J], R], shared: S, jobs: Sequence[J],
            progress: Progress | None = None) -> list[R]: ...


class InProcess:
    """Every job in this process, in order."""

    def map(self, fn: Callable[[S, J], R], shared: S, jobs: Sequence[J],
            progress: Progress | None = None) -> list[R]:
        out: list[R] = []
        for job in jobs:
            out.append(fn(shared, job))
            if progress is not None:
                progress(len(out), len(jobs))
        return out


_SHARED: Any = None  # what a forked worker inherited from the parent (see LocalProcesses)


def _set_shared(shared: object) -> None:
    global _SHARED  # one value per worker process, set once at its start
    _SHARED = shared


def _call_with_inherited(fn: Callable[[Any, J], R], job: J) -> R:
    return fn(_SHARED, job)


def local_cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0))


class LocalProcesses:
    """A pool of ``workers`` forked processes (default: every core this process may use)."""

    def __init__(self, workers: int | None = None) -> None:
        if workers is not None and workers < 1:
            raise InputError("--workers", "a number of processes of at least 1", workers)
        self.workers = workers or local_cores()

    def map(self, fn: Callable[[S, J], R], shared: S, jobs: Sequence[J],
            progress: Progress | None = None) -> list[R]:
        if self.workers == 1 or len(jobs) < 2:
            return InProcess().map(fn, shared, jobs, progress)
        # Fork: the children inherit ``shared`` (already in memory) instead of unpickling it.
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=min(self.workers, len(jobs)), mp_context=context,
                                 initializer=_set_shared, initargs=(shared,)) as pool:
            futures = [pool.submit(_call_with_inherited, fn, job) for job in jobs]
            return _gather(futures, progress)


def _gather(futures: Sequence[Future[R]], progress: Progress | None) -> list[R]:
    pending = set(futures)
    while pending:
        done, pending = wait(pending, return_when=FIRST_COMPLETED)
        for future in done:
            future.result()  # a failed job raises here, at once
        if progress is not None:
            progress(len(futures) - len(pending), len(futures))
    return [f.result() for f in futures]


class DaskCluster:
    """A running Dask cluster at ``address`` (``tcp://host:port`` of its scheduler)."""

    def __init__(self, address: str, timeout_s: float = 10.0) -> None:
        self.address = address
        self.timeout_s = timeout_s

    def map(self, fn: Callable[[S, J], R], shared: S, jobs: Sequence[J],
            progress: Progress | None = None) -> list[R]:
        from distributed import Client, as_completed

        try:
            client = Client(self.address, timeout=self.timeout_s)
        except (OSError, TimeoutError) as err:
            raise ClusterError(f"no Dask scheduler answered at {self.address}: {err}") from None
        try:
            shared_ref = client.scatter(shared, broadcast=True, hash=False)
            futures = [client.submit(fn, shared_ref, job, pure=False) for job in jobs]
            for done, _ in enumerate(as_completed(futures), start=1):
                if progress is not None:
                    progress(done, len(futures))
            results: list[R] = client.gather(futures)
            return results
        finally:
            client.close()


class ClusterError(PerphedgeError):
    """The distributed cluster could not be reached or lost the work; CLI exit 1."""


def runner_for(workers: int | None, cluster: str | None) -> JobRunner:
    """The runner a command's ``--workers`` and ``--cluster`` ask for."""
    if cluster is not None:
        if workers is not None:
            raise InputError("--workers", "no --workers with --cluster (the cluster has its "
                             "own workers)", workers)
        if not cluster.startswith(("tcp://", "tls://", "ucx://", "inproc://")):
            raise InputError("--cluster", "a Dask scheduler address such as "
                             "tcp://127.0.0.1:8786", cluster)
        return DaskCluster(cluster)
    return LocalProcesses(workers)
