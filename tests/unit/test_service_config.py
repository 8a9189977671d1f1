"""The [alerts] and [service] sections: parsed once, bad values named in one line."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from perphedge.config.loader import parse_config
from perphedge.errors import InputError

BASE: dict[str, Any] = {"accounts": {"main": {"exchange": "binanceusdm"}}}


def test_defaults_when_the_sections_are_missing() -> None:
    config = parse_config(BASE)
    assert config.alerts.urls == []
    assert config.alerts.runway_below_pct == Decimal(15)
    assert config.alerts.repeat_every == "1h"
    assert config.service.lease_ttl is None


@pytest.mark.parametrize(("section", "value", "message"), [
    ("alerts", {"repeat_every": "soon"}, "alerts.repeat_every: expected an interval"),
    ("alerts", {"runway_below_pct": 0}, "alerts.runway_below_pct: expected a number greater"),
    ("alerts", {"urls": ["json://ok/x", "tgram:/TOKEN"]},
     "alerts.urls[1]: expected an Apprise URL like json://host/path, got 'tgram:… (not shown)'"),
    ("alerts", {"heartbeat_url": "ftp://x/TOKEN"}, "alerts.heartbeat_url: expected an http"),
    ("service", {"lease_ttl": "0s"}, "service.lease_ttl: expected an interval"),
    ("alerts", {"url": ["json://x/y"]}, "alerts.url: expected a known key"),
])
def test_bad_values_name_the_key_and_never_echo_a_url(section: str, value: dict[str, Any],
                                                      message: str) -> None:
    with pytest.raises(InputError) as err:
        parse_config({**BASE, section: value})
    assert str(err.value).startswith(message)
    assert "TOKEN" not in str(err.value)
    assert err.value.exit_code == 2
