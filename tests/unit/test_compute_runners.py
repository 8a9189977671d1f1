"""Runners hand results back in the jobs' order, whatever order the jobs finish in."""

from __future__ import annotations

import os
import time

from perphedge.adapters.compute import InProcess, LocalProcesses


def _slow_first(scale: float, job: int) -> tuple[int, int]:
    time.sleep(scale * (4 - job))  # job 0 finishes last
    return job, os.getpid()


def test_forked_workers_return_results_in_job_order_with_one_progress_count() -> None:
    seen: list[tuple[int, int]] = []
    out = LocalProcesses(2).map(_slow_first, 0.05, [0, 1, 2, 3],
                                lambda done, total: seen.append((done, total)))
    assert [job for job, _ in out] == [0, 1, 2, 3]
    assert len({pid for _, pid in out}) == 2  # really two processes
    assert os.getpid() not in {pid for _, pid in out}
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    assert seen[-1] == (4, 4)


def test_one_worker_runs_in_this_process() -> None:
    out = LocalProcesses(1).map(_slow_first, 0.0, [2, 3], None)
    assert out == InProcess().map(_slow_first, 0.0, [2, 3], None)
    assert {pid for _, pid in out} == {os.getpid()}
