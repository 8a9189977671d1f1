"""Every bad input of issue #14 through the real entry point: one line, the field, exit 2.

Each case is what a new user typed (or wrote in the config file). The CLI must answer with
one line naming the option or config key, what was expected and what was given, exit 2 (1 for
a failure such as a refused database connection), never a traceback, and write nothing. Most
cases run in-process through ``perphedge.cli.app.main`` (fast); a few through the real
subprocess (``run_cli``), as a user runs them.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

import pytest

from perphedge.cli.app import main
from tests.conftest import run_cli
from tests.integration.local_exchange_fixture import API_KEY, API_SECRET, local_exchange

PASTED_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"

BASE_CONFIG = """\
[accounts.main]
exchange = "binanceusdm"{account_extra}

[[hedges]]
name = "btc"
account = "main"
asset = "{asset}"
exposure = {{ source = "declared", quantity = "{quantity}" }}{hedge_extra}
"""


def config_text(account_extra: str = "", hedge_extra: str = "", asset: str = "BTC",
                quantity: str = "1") -> str:
    return BASE_CONFIG.format(account_extra=account_extra, hedge_extra=hedge_extra,
                              asset=asset, quantity=quantity)


@dataclass(frozen=True)
class Case:
    """A command line (``{tmp}`` is the test's folder) and what its one line must say."""

    args: tuple[str, ...]
    needles: tuple[str, ...]
    code: int = 2
    config: str | None = None  # written to {tmp}/config.toml before the run
    config_bytes: bytes | None = None


def _bt(*extra: str) -> tuple[str, ...]:
    return ("backtest", "--asset", "BTC", "--quantity", "1", "--start", "2024-01-01",
            "--end", "2024-02-01", *extra)


def _serve(*extra: str) -> tuple[str, ...]:
    return ("exchange", "serve", "--speed", "0", *extra)


def _status(text: str | None = None) -> Case:
    return Case(("status", "--config", "{tmp}/config.toml", "--db", "sqlite:///{tmp}/s.db"),
                (), config=text)


def _cfg(needles: tuple[str, ...], **parts: str) -> Case:
    base = _status(config_text(**parts))
    return Case(base.args, needles, config=base.config)


CASES: dict[str, Case] = {
    # --- "Tracebacks" ----------------------------------------------------------------------
    "backtest --report in /proc": Case(_bt("--report", "/proc/r.html"),
                                       ("--report", "/proc/r.html")),
    "serve --port 70000": Case(_serve("--port", "70000"), ("--port", "65535", "70000")),
    "serve --port -1": Case(_serve("--port", "-1"), ("--port", "-1")),
    "serve --speed nan": Case(_serve("--speed", "nan"), ("--speed", "finite", "nan")),
    "serve --speed inf": Case(_serve("--speed", "inf"), ("--speed", "finite", "inf")),
    "serve --state in a missing folder": Case(
        _serve("--port", "0", "--state", "{tmp}/missing/state.json"),
        ("--state", "existing folder", "missing/state.json")),
    "config is a folder": Case(("status", "--config", "{tmp}"), ("--config", "a file")),
    "config is binary": Case(("status", "--config", "{tmp}/config.toml"),
                             ("--config", "TOML"), config_bytes=b"\x00\x01\x02\xff\xfe"),
    "config is not UTF-8": Case(("status", "--config", "{tmp}/config.toml"),
                                ("--config", "UTF-8"), config_bytes=b'[accounts.m\xe9]\n'),
    "--db bogus://x": Case(("status", "--config", "{tmp}/config.toml", "--db", "bogus://x"),
                           ("--db", "sqlite", "bogus://x"), config=config_text()),
    "--db sqlite in a missing folder": Case(
        ("status", "--config", "{tmp}/config.toml", "--db", "sqlite:////missing/dir/x.db"),
        ("--db", "existing folder", "/missing/dir/x.db"), config=config_text()),
    "--db mysql://": Case(("status", "--config", "{tmp}/config.toml", "--db",
                           "mysql://u:hunter2@localhost/db"),
                          ("--db", "postgresql", "mysql://u:***@localhost/db"),
                          config=config_text()),
    "init --config in /proc": Case(("init", "--config", "/proc/x.toml"),
                                   ("--config", "/proc/x.toml")),
    "demo --workdir in /proc": Case(("demo", "--workdir", "/proc/x"), ("--workdir", "/proc/x")),
    # --- "Accepted in silence" -------------------------------------------------------------
    "backtest --quantity 5000 above the contract's max": Case(
        ("backtest", "--asset", "BTC", "--quantity", "5000", "--start", "2024-01-01",
         "--end", "2024-02-01"), ("--quantity", "5000")),
    "backtest --sell more than held": Case(_bt("--sell", "99@2024-01-15"),
                                           ("--sell", "99@2024-01-15", "held then (1 BTC)")),
    "backtest ETH --start in the data's hole": Case(
        ("backtest", "--asset", "ETH", "--quantity", "1", "--start", "2022-03-01"),
        ("--start", "hole", "2022-03-01")),
    "config leverage = true": _cfg(("hedges[0].leverage", "True"), hedge_extra="\nleverage = true"),
    "config sandbox = 'yes'": _cfg(("accounts.main.sandbox", "yes"),
                                   account_extra='\nsandbox = "yes"'),
    "config interval in Arabic-Indic digits": _cfg(
        ("hedges[0].decision_interval", "\u0665m"), hedge_extra='\ndecision_interval = "\u0665m"'),
    "config 10^20-day interval": _cfg(
        ("hedges[0].decision_interval", "366d", "100000000000000000000d"),
        hedge_extra='\ndecision_interval = "100000000000000000000d"'),
    "config max_order_notional = 1e-7": _cfg(
        ("hedges[0].execution.max_order_notional", "at least 5", "1e-07"),
        hedge_extra="\nexecution = { max_order_notional = 1e-7 }"),
    "config exchange = kraken": _cfg(
        ("accounts.main.exchange", "USDT-margined perpetuals", "kraken"),
        account_extra="\nexchange_placeholder"),
    "serve --start 1900": Case(_serve("--start", "1900"), ("--start", "1900")),
    "serve --start 2999": Case(_serve("--start", "2999"), ("--start", "2999")),
    "serve --start after the data": Case(_serve("--start", "2030-01-01"),
                                         ("--start", "the replayed data", "2030-01-01")),
    "serve --deposit 1e999999": Case(_serve("--deposit", "BTC=1e999999"),
                                     ("--deposit", "BTC=1e999999")),
    "serve --weight-limit -5": Case(_serve("--weight-limit", "-5"), ("--weight-limit", "-5")),
    "serve --api-key ''": Case(_serve("--api-key", ""), ("--api-key", "empty")),
    # --- "Misleading" ----------------------------------------------------------------------
    "config declared quantity 1e30": _cfg(("hedges[0].exposure.quantity", "1e30"),
                                          quantity="1e30"),
    "config exchange = nosuchexchange": _cfg(("accounts.main.exchange", "nosuchexchange"),
                                             account_extra="\nexchange_placeholder"),
    "plan --quantity 1e30": Case(("plan", "--asset", "BTC", "--quantity", "1e30"),
                                 ("--quantity", "'1e30'")),
    "data download --until before --since": Case(
        ("data", "download", "--symbol", "BTC/USDT:USDT", "--since", "2024-02-01",
         "--until", "2024-01-01", "--exchange-url", "http://127.0.0.1:9"),
        ("--until", "2024-02-01", "'2024-01-01'")),
    "config api key pasted into api_key_env": _cfg(
        ("accounts.main.api_key_env", "name of an environment variable"),
        account_extra=f'\napi_key_env = "{PASTED_KEY}"\napi_secret_env = "S"'),
    # --- "Inconsistent": one time parser --------------------------------------------------
    "backtest --start with a bad time": Case(
        ("backtest", "--asset", "BTC", "--quantity", "1", "--start", "2024-01-01T25:00"),
        ("--start", "2024-03-01T08:00", "2024-01-01T25:00")),
    # --- a check that needs the data shows the value as the user typed it ------------------
    "backtest --quantity 5e3 above the contract's max, as typed": Case(
        ("backtest", "--asset", "BTC", "--quantity", "5e3", "--start", "2024-01-01",
         "--end", "2024-02-01"), ("--quantity", "at most 1000", "'5e3'")),
    "backtest ETH --start in the data's hole, as typed": Case(
        ("backtest", "--asset", "ETH", "--quantity", "1", "--start", "2022-03-01T08:00"),
        ("--start", "hole", "'2022-03-01T08:00'")),
    "backtest --start before the data, as typed": Case(
        ("backtest", "--asset", "BTC", "--quantity", "1", "--start", "2010-01-01T00:00Z"),
        ("--start", "2017-08-17", "'2010-01-01T00:00Z'")),
    "plan --quantity 1e9 above the contract's max, as typed": Case(
        ("plan", "--asset", "BTC", "--quantity", "1e9"), ("--quantity", "'1e9'")),
    "backtest --decision-interval 5 min": Case(_bt("--decision-interval", "5 min"),
                                               ("--decision-interval", "'5 min'")),
    "backtest --data-interval 2m": Case(_bt("--data", "{tmp}", "--data-interval", "2m"),
                                        ("--data-interval", "1m, 5m, 15m, 1h, 4h, 1d", "2m")),
}


def _fill(case: Case, tmp: Path) -> list[str]:
    if case.config is not None:
        text = case.config.replace("\nexchange_placeholder", "")
        if "kraken" in str(case.needles):
            text = text.replace('exchange = "binanceusdm"', 'exchange = "kraken"')
        if "nosuchexchange" in str(case.needles):
            text = text.replace('exchange = "binanceusdm"', 'exchange = "nosuchexchange"')
        (tmp / "config.toml").write_text(text, encoding="utf-8")
    if case.config_bytes is not None:
        (tmp / "config.toml").write_bytes(case.config_bytes)
    return [a.replace("{tmp}", str(tmp)) for a in case.args]


def _files(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.name != "config.toml"}


@pytest.mark.parametrize("name", list(CASES))
def test_a_bad_input_is_one_line_naming_the_field_and_nothing_is_written(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("S", "secret-value")
    case = CASES[name]
    argv = _fill(case, tmp_path)
    before = _files(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == case.code, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    for needle in case.needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
    assert "Traceback" not in err
    assert PASTED_KEY not in err
    assert _files(tmp_path) == before, "a refused input wrote a file"


@pytest.mark.parametrize("interval", ["1m", "5m", "15m", "4h"])
def test_backtest_runs_on_a_users_own_bars_of_every_timeframe(
    interval: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    step_ms = {"1m": 60_000, "5m": 300_000, "15m": 900_000, "4h": 14_400_000}[interval]
    start_ms = 1_704_067_200_000  # 2024-01-01
    rows = ["open_time,open,high,low,close"]
    rows += [f"{start_ms + k * step_ms},42000,42100,41900,42050" for k in range(400)]
    (tmp_path / f"bars_{interval}.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    main(["backtest", "--asset", "BTC", "--quantity", "1", "--start", "2024-01-01",
          "--data", str(tmp_path), "--data-interval", interval, "--json"])
    assert '"policy"' in capsys.readouterr().out


def _subprocess(args: list[str]) -> tuple[int, list[str]]:
    result = run_cli(*args, timeout=60)
    assert "Traceback" not in result.stderr
    return result.returncode, result.stderr.strip().splitlines()


def test_serve_on_a_port_in_use_is_one_line_through_the_real_command(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, lines = _subprocess(["exchange", "serve", "--port", str(port), "--state",
                                   str(tmp_path / "state.json")])
    assert code == 2
    assert len(lines) == 1
    assert lines[0].startswith("error: --port: expected a free TCP port")
    assert not (tmp_path / "state.json").exists()


def test_a_refused_postgresql_connection_is_one_line_exit_1(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(config_text(), encoding="utf-8")
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    code, lines = _subprocess(["status", "--config", str(tmp_path / "config.toml"), "--db",
                               f"postgresql://perphedge:pw@127.0.0.1:{port}/x"])
    assert code == 1
    assert len(lines) == 1
    assert "store" in lines[0]
    assert ":pw@" not in lines[0]


def test_a_config_with_a_utf8_bom_is_read(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b"\xef\xbb\xbf" + config_text().encode())
    code, lines = _subprocess(["status", "--config", str(path), "--db",
                               f"sqlite:///{tmp_path}/s.db"])
    assert code == 0, lines


def test_an_asset_the_exchange_does_not_list_names_its_config_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PH_KEY", API_KEY)
    monkeypatch.setenv("PH_SECRET", API_SECRET)
    with local_exchange() as venue:
        text = config_text(account_extra=f'\napi_key_env = "PH_KEY"\napi_secret_env = '
                           f'"PH_SECRET"\nurl = "{venue.url}"', asset="DOGE")
        (tmp_path / "config.toml").write_text(text, encoding="utf-8")
        with pytest.raises(SystemExit) as exit_info:
            main(["open", "btc", "--config", str(tmp_path / "config.toml"), "--db",
                  f"sqlite:///{tmp_path}/s.db"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: hedges[0].asset: expected an asset with a USDT-margined perpetual on "
        "binanceusdm, got 'DOGE'"]

