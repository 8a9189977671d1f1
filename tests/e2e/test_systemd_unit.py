"""The systemd unit in docs/ runs ``perphedge serve`` and restarts it on failure only; where
``systemd-analyze`` exists it verifies the unit (with ExecStart pointing at this perphedge)."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

UNIT = REPO / "docs" / "perphedge.service"


def test_the_unit_serves_and_restarts_on_failure(tmp_path: Path) -> None:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string(UNIT.read_text(encoding="utf-8"))
    service = parser["Service"]
    assert service["ExecStart"].split()[1:3] == ["serve", "--config"]
    assert service["Restart"] == "on-failure"
    assert service["RestartPreventExitStatus"] == "2"
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        return  # the parse above is the check on machines without systemd
    launcher = tmp_path / "perphedge"
    launcher.write_text(f"#!/bin/sh\nexec {sys.executable} -m perphedge \"$@\"\n")
    launcher.chmod(0o755)
    unit = tmp_path / "perphedge.service"
    unit.write_text(UNIT.read_text().replace("/usr/local/bin/perphedge", str(launcher)))
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True,
                            check=False, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
