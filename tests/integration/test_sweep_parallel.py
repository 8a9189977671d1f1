"""A sweep spread over local processes, or over a real Dask cluster, is the sequential sweep.

The cluster is real: a scheduler and a worker process (two worker processes inside it) started
here on loopback, as a fund would start them on its machines; perphedge's runs travel to them
over TCP.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal

import pytest

from perphedge.adapters.compute import DaskCluster, InProcess, LocalProcesses, runner_for
from perphedge.errors import InputError
from perphedge.parse import HOUR_MS, parse_time_ms
from perphedge.services.backtest_service import BacktestOptions, run_sweep
from perphedge.services.backtest_view import sweep_to_dict
from tests.conftest import run_cli

SWEEP = BacktestOptions(asset="BTC", quantity=Decimal(5),
                        start_ms=parse_time_ms("2022-01-01", "--start"),
                        end_ms=parse_time_ms("2022-07-01", "--end"),
                        compare=True, horizon_days=60, decision_interval_ms=4 * HOUR_MS)
SWEEP_ARGS = ("backtest", "--asset", "BTC", "--quantity", "5", "--start", "2022-01-01",
              "--end", "2022-07-01", "--compare", "--starts", "monthly", "--horizon-days", "60",
              "--decision-interval", "4h", "--json")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def _processes(*commands: list[str]) -> Iterator[None]:
    procs = [subprocess.Popen(c, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
             for c in commands]
    try:
        yield
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


@pytest.fixture(scope="module")
def dask_cluster() -> Iterator[str]:
    """A Dask scheduler and a worker with two processes, each its own OS process, on loopback."""
    from distributed import Client

    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                 "--port", str(port), "--no-dashboard"]
    worker = [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nworkers", "2",
              "--nthreads", "1", "--host", "127.0.0.1", "--no-dashboard"]
    with _processes(scheduler, worker):
        deadline = time.monotonic() + 90
        while True:
            try:
                client = Client(address, timeout=5, set_as_default=False)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        try:
            client.wait_for_workers(2, timeout=90)
        finally:
            client.close()
        yield address


@pytest.fixture(scope="module")
def sequential() -> dict[str, object]:
    return sweep_to_dict(run_sweep(SWEEP, runner=InProcess()))


def test_two_local_processes_give_the_sequential_sweep(sequential: dict[str, object]) -> None:
    seen: list[tuple[int, int]] = []
    parallel = sweep_to_dict(run_sweep(SWEEP, lambda d, t: seen.append((d, t)),
                                       LocalProcesses(2)))
    assert parallel == sequential
    total = len(sequential["rows"])  # type: ignore[arg-type]
    assert total > 2
    assert seen[-1] == (total, total)  # one count across both workers


def test_a_dask_cluster_gives_the_sequential_sweep(dask_cluster: str,
                                                   sequential: dict[str, object]) -> None:
    assert sweep_to_dict(run_sweep(SWEEP, runner=DaskCluster(dask_cluster))) == sequential


@pytest.mark.slow
def test_the_cli_sweep_on_the_cluster_prints_what_one_core_prints(dask_cluster: str) -> None:
    one = run_cli(*SWEEP_ARGS, "--workers", "1", timeout=300)
    assert one.returncode == 0, one.stderr
    spread = run_cli(*SWEEP_ARGS, "--cluster", dask_cluster, timeout=300)
    assert spread.returncode == 0, spread.stderr
    assert spread.stdout == one.stdout  # byte for byte


def test_an_unreachable_cluster_is_one_line_and_exit_1() -> None:
    done = run_cli(*SWEEP_ARGS, "--cluster", f"tcp://127.0.0.1:{_free_port()}", timeout=120)
    assert done.returncode == 1
    assert done.stderr.startswith("error: no Dask scheduler answered at tcp://127.0.0.1:")
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(("workers", "cluster", "field"), [
    (0, None, "--workers"), (2, "tcp://127.0.0.1:8786", "--workers"), (None, "8786", "--cluster"),
])
def test_bad_runner_options_name_the_option(workers: int | None, cluster: str | None,
                                            field: str) -> None:
    with pytest.raises(InputError, match=f"^{field}:"):
        runner_for(workers, cluster)
