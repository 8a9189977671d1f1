"""``perphedge init`` writes a configuration that loads, and never overwrites by accident."""

from __future__ import annotations

from pathlib import Path

from perphedge.config.loader import load_config
from tests.conftest import run_cli


def test_init_writes_a_valid_example_and_refuses_to_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "conf" / "perphedge.toml"
    first = run_cli("init", "--config", str(target))
    assert first.returncode == 0, first.stderr
    assert load_config(target).hedges[0].name == "btc-holding"
    target.write_text(target.read_text() + "\n# mine\n")
    second = run_cli("init", "--config", str(target))
    assert second.returncode == 2
    assert second.stderr.startswith("error: --config: expected a path with no file yet")
    assert target.read_text().endswith("# mine\n")
    assert run_cli("init", "--config", str(target), "--force").returncode == 0
