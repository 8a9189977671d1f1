"""Start a throwaway PostgreSQL server on loopback for the tests (the machine ships PostgreSQL 15).

The server runs as the ``postgres`` system user (it refuses to run as root), in a temporary data
directory, on a free port; it is stopped and deleted at the end of the session.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

PG_BIN_DIRS = [Path("/usr/lib/postgresql/15/bin"), Path("/usr/local/bin"), Path("/usr/bin")]


def _find(name: str) -> str | None:
    for directory in PG_BIN_DIRS:
        candidate = directory / name
        if candidate.exists():
            return str(candidate)
    return shutil.which(name)


def _install_postgres() -> None:
    """Install Debian's PostgreSQL when it is missing and we may (root with apt-get)."""
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "postgresql"], check=False,
                   capture_output=True, env=env)


def _pg_bin(name: str) -> str:
    found = _find(name)
    if found is None:
        _install_postgres()
        found = _find(name)
    if found is None:
        raise RuntimeError(
            f"PostgreSQL's {name} not found: install the Debian package postgresql"
        )
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_postgres(*args: str) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *args]
    return list(args)


@contextlib.contextmanager
def postgres_url() -> Iterator[str]:
    """Yield a SQLAlchemy URL of a fresh database on a private PostgreSQL server."""
    root = Path(tempfile.mkdtemp(prefix="perphedge-pg-"))
    data = root / "data"
    data.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(data, "postgres")
    port = _free_port()
    subprocess.run(
        _as_postgres(_pg_bin("initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"),
        check=True, capture_output=True,
    )
    log = root / "server.log"
    subprocess.run(
        _as_postgres(
            _pg_bin("pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60",
            "-o", f"-h 127.0.0.1 -p {port} -k {root} -F", "start",
        ),
        check=True, capture_output=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            result = subprocess.run(
                [_pg_bin("psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-c",
                 "CREATE DATABASE perphedge_test"],
                capture_output=True, text=True, check=False,
            )
            if result.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL did not start: {result.stderr}")
            time.sleep(0.2)
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/perphedge_test"
    finally:
        subprocess.run(
            _as_postgres(_pg_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"),
            capture_output=True, check=False,
        )
        shutil.rmtree(root, ignore_errors=True)


def drop_every_table(url: str) -> None:
    """Empty the test database: every table there is, whatever the migrations created."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()
