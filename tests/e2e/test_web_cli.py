"""``perphedge web`` as a user starts it: loopback by default, refuses a public bind without
--allow-remote and a token, and serves the API over the store the engine filled."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import keyring
import pytest
from keyring.backends.null import Keyring as NullKeyring

from perphedge.cli.app import main
from tests.web.hedge_fixture import paper_run

PUBLIC = "0.0.0.0"  # noqa: S104 - the address refused, never bound
NO_TOKEN = {"PERPHEDGE_API_TOKEN": "", "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_public_bind_needs_the_flag_and_a_token_one_line_exit_2(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    run = paper_run(tmp_path, cycles=1)
    for name, value in NO_TOKEN.items():
        monkeypatch.setenv(name, value)
    before = keyring.get_keyring()
    keyring.set_keyring(NullKeyring())
    try:
        with pytest.raises(SystemExit) as exit_info:
            main(["web", "--config", str(run.config), "--host", PUBLIC])
        assert exit_info.value.code == 2
        assert capsys.readouterr().err.strip() == (
            "error: --host: expected a loopback address (or add --allow-remote), got '0.0.0.0'")
        with pytest.raises(SystemExit) as exit_info:
            main(["web", "--config", str(run.config), "--host", PUBLIC, "--allow-remote"])
        assert exit_info.value.code == 2
        assert capsys.readouterr().err.strip().splitlines() == [
            "error: --allow-remote: expected an API token in PERPHEDGE_API_TOKEN or the "
            "keyring, got 'none set'"]
    finally:
        keyring.set_keyring(before)


def test_web_serves_the_hedges_of_the_store_on_loopback(tmp_path: Path) -> None:
    run = paper_run(tmp_path, cycles=2)
    port = free_port()
    env = {**os.environ, **NO_TOKEN}
    proc = subprocess.Popen(
        [sys.executable, "-m", "perphedge", "web", "--config", str(run.config),
         "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                hedges = httpx.get(f"{url}/api/hedges", timeout=2).json()
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "perphedge web did not start"
                time.sleep(0.1)
        assert [h["name"] for h in hedges] == ["btc", "eth"]
        # No token on the server: every mutation is refused.
        refused = httpx.post(f"{url}/api/hedges/btc/pause", timeout=5)
        assert refused.status_code == 401
        assert "no API token is set" in refused.json()["detail"]
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
