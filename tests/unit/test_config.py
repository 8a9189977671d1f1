"""The configuration file: the example parses, mistakes are one line naming the key, keys hide."""

from __future__ import annotations

import tomllib
from decimal import Decimal
from pathlib import Path

import pytest

from perphedge.config.example import EXAMPLE_CONFIG
from perphedge.config.loader import load_config, parse_config, resolve_credentials
from perphedge.config.models import BalanceExposure, parse_interval_ms
from perphedge.errors import InputError


def _example() -> dict[str, object]:
    return tomllib.loads(EXAMPLE_CONFIG)


def test_the_example_written_by_init_is_valid() -> None:
    config = parse_config(_example())
    hedge = config.hedges[0]
    assert hedge.symbol == "BTC/USDT:USDT"
    assert isinstance(hedge.exposure, BalanceExposure)
    assert hedge.leverage_band == (Decimal("1.5"), Decimal("2.5"))
    assert config.accounts["main"].exchange == "binanceusdm"


def _with_hedge(**changes: object) -> dict[str, object]:
    data = _example()
    hedges = data["hedges"]
    assert isinstance(hedges, list)
    hedges[0].update(changes)
    return data


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"levrage": 3}, "hedges[0].levrage: expected a known key"),
        ({"leverage": 0}, "hedges[0].leverage: expected a number of at least 1, got 0"),
        ({"leverage": 200}, "hedges[0].leverage: expected a number of at most 125, got 200"),
        ({"policy": "yolo"},
         "hedges[0].policy: expected one of 'static', 'managed', 'reserve', 'funding-guard'"),
        ({"account": "other"}, "hedges[0].account: expected one of ['main'], got 'other'"),
        ({"decision_interval": "5 min"},
         "hedges[0].decision_interval: expected an interval like 30s, 1m, 4h or 1d, from 1s "
         "to 366d, got '5 min'"),
        ({"exposure": {"source": "declared", "quantity": "-1"}},
         "hedges[0].exposure.quantity: expected a number of at least 0, got '-1'"),
        ({"leverage_band": ["2.5", "3"]},
         "hedges[0].leverage_band: expected a band around leverage 2, got ['2.5', '3']"),
    ],
)
def test_mistakes_are_one_line_naming_the_key(changes: dict[str, object], message: str) -> None:
    with pytest.raises(InputError) as err:
        parse_config(_with_hedge(**changes))
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_two_hedges_on_one_contract_of_one_account_are_refused() -> None:
    data = _example()
    hedges = data["hedges"]
    assert isinstance(hedges, list)
    hedges.append({**hedges[0], "name": "btc-again"})
    with pytest.raises(InputError) as err:
        parse_config(data)
    assert str(err.value).startswith(
        "hedges[1].asset: expected one hedge per account and contract ('btc-holding' already "
        "hedges BTC/USDT:USDT on account 'main';")
    hedges[1]["asset"] = "ETH"  # another contract on the same account is fine
    assert [h.symbol for h in parse_config(data).hedges] == ["BTC/USDT:USDT", "ETH/USDT:USDT"]


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="perphedge init"):
        load_config(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[accounts.main\n")
    with pytest.raises(InputError, match="valid TOML"):
        load_config(bad)


def test_credentials_come_from_the_environment_and_never_show() -> None:
    account = parse_config(_example()).accounts["main"]
    env = {"PERPHEDGE_MAIN_API_KEY": "k-123456", "PERPHEDGE_MAIN_API_SECRET": "s-abcdef"}
    creds = resolve_credentials("main", account, env)
    assert creds is not None
    assert creds.api_key.get_secret_value() == "k-123456"
    assert "k-123456" not in repr(creds)
    assert "s-abcdef" not in str(creds)
    with pytest.raises(InputError, match="PERPHEDGE_MAIN_API_SECRET"):
        resolve_credentials("main", account, {"PERPHEDGE_MAIN_API_KEY": "k"})


def test_intervals() -> None:
    assert parse_interval_ms("30s") == 30_000
    assert parse_interval_ms("1d") == 86_400_000
    with pytest.raises(ValueError, match="interval like"):
        parse_interval_ms("0m")
