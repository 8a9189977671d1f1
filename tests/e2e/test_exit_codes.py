"""Exit codes as a script sees them, through the real entry point (``python -m perphedge``):
1 with one line when the exchange or perphedge stopped the command, 130 on Ctrl-C, and a bug
as one line naming it with its traceback in the crash log, never on the console."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import run_cli
from tests.e2e.test_live_cli import KEYS, Live, running_live, write_config


def closed_port() -> int:
    """A loopback port nothing listens on (bound once, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_open_against_an_unreachable_exchange_exits_1_with_one_line(tmp_path: Path) -> None:
    config = tmp_path / "perphedge.toml"
    write_config(config, f"http://127.0.0.1:{closed_port()}", f"sqlite:///{tmp_path / 's.db'}")
    done = run_cli("open", "btc", "--yes", "--config", str(config), env=KEYS, timeout=60)
    assert done.returncode == 1
    assert done.stdout == ""
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: btc: open stopped, exchange error: ")
    assert "127.0.0.1" in line  # where: the URL the exchange was asked at


def test_a_wrong_secret_makes_open_exit_1_naming_the_exchange_error(tmp_path: Path) -> None:
    with running_live(tmp_path) as live:
        done = run_cli("open", "btc", "--config", str(live.config),
                       env={**KEYS, "PH_E2E_SECRET": "not-the-secret"}, timeout=60)
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: btc: open stopped, exchange error: ")
    assert "not-the-secret" not in done.stdout + done.stderr


def test_run_with_a_rejected_key_stops_after_the_first_cycle_and_exits_1(tmp_path: Path) -> None:
    with running_live(tmp_path) as live:
        done = run_cli("run", "--yes", "--config", str(live.config),
                       env={**KEYS, "PH_E2E_KEY": "not-the-key"}, timeout=60)
        assert live.futures_orders() == []
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: btc: run stopped, exchange error: ")


def test_ctrl_c_stops_run_with_exit_130_and_no_traceback(tmp_path: Path) -> None:
    with running_live(tmp_path) as live:
        proc = start_run(live)
        try:
            wait_for_hedge(live, proc)
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 130, out + err
    assert "Traceback" not in out + err
    assert err.strip().splitlines()[-1] == "error: interrupted"


def start_run(live: Live) -> subprocess.Popen[str]:
    """``perphedge run --yes`` forever, with Ctrl-C delivered as it is in a terminal."""
    env = {**os.environ, "COLUMNS": "120", **KEYS}
    return subprocess.Popen(
        [sys.executable, "-m", "perphedge", "run", "--yes", "--config", str(live.config)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        # A shell may start background children with SIGINT ignored; a terminal would not.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def wait_for_hedge(live: Live, proc: subprocess.Popen[str]) -> None:
    """Until the running engine has opened the hedge (its first cycle acted)."""
    deadline = time.monotonic() + 45
    while live.position() == 0:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "run never opened the hedge"
        time.sleep(0.1)


PLANT_A_BUG = """
import runpy
import perphedge.cli.hedge_cmds as cmds

def broken_compose(*args, **kwargs):
    return 1 / 0

cmds.compose = broken_compose
runpy.run_module("perphedge", run_name="__main__", alter_sys=True)
"""


def test_a_bug_is_one_line_naming_it_and_its_traceback_goes_to_the_log(tmp_path: Path) -> None:
    state_home = tmp_path / "state"
    done = subprocess.run(
        [sys.executable, "-c", PLANT_A_BUG, "status", "--config", str(tmp_path / "none.toml")],
        capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "XDG_STATE_HOME": str(state_home)},
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stdout + done.stderr
    log = state_home / "perphedge" / "errors.log"
    assert done.stderr.splitlines() == [
        "error: internal error: ZeroDivisionError in perphedge.cli.hedge_cmds._service; "
        f"details in {log}"]
    text = log.read_text(encoding="utf-8")
    assert "Traceback" in text
    assert "ZeroDivisionError: division by zero" in text
