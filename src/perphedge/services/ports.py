"""The interfaces services depend on; adapters implement them (bundled files, ccxt, fakes)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

import numpy as np
import numpy.typing as npt

from perphedge.domain.brackets import BracketTable
from perphedge.domain.instrument import Instrument


@dataclass(frozen=True, slots=True)
class MarketSnapshot:
    """Mark price and current funding rate of a contract, with where and when they came from."""

    symbol: str
    mark_price: Decimal
    funding_rate: Decimal | None
    ts_ms: int
    source: str


@dataclass(frozen=True, slots=True)
class Bars:
    """OHLC bars as float64 arrays (history for risk statistics; never for orders)."""

    open_time_ms: npt.NDArray[np.int64]
    open: npt.NDArray[np.float64]
    high: npt.NDArray[np.float64]
    low: npt.NDArray[np.float64]
    close: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return int(self.open_time_ms.shape[0])


class MarketData(Protocol):
    """Contract specs, margin brackets and the current mark/funding of one exchange."""

    exchange: str

    def instrument(self, asset: str) -> Instrument:
        """The USDT-margined perpetual on ``asset`` (raises InputError for an unknown asset)."""
        ...

    def brackets(self, instrument: Instrument) -> BracketTable:
        """The maintenance-margin brackets of ``instrument``."""
        ...

    def snapshot(self, instrument: Instrument) -> MarketSnapshot:
        """Latest mark price and funding rate."""
        ...

    def describe_sources(self) -> dict[str, str]:
        """Where specs, brackets and prices came from, for the user to see."""
        ...


class PriceHistory(Protocol):
    """Real daily history of an asset, for the planner's historical-risk warning."""

    def daily_bars(self, asset: str) -> Bars:
        """Daily OHLC of ``asset`` in USDT, oldest first (may contain gaps)."""
        ...
