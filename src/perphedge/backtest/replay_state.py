"""What the replay's steps may read and change of the replay: a Protocol, and its float snapshot.

:mod:`.perform`, :mod:`.rolls` and :mod:`.series_build` are the replay's steps: the replay calls
them with itself. They see it through :class:`ReplayState` (which
:class:`~perphedge.backtest.replay.Replay` satisfies structurally), never through the replay's
module, so the layers of :mod:`perphedge.backtest` run one way: engine → replay → steps.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from perphedge.backtest.contracts import ContractBook
    from perphedge.backtest.result import ActionEvent, LiquidationEvent
    from perphedge.backtest.spec import BacktestSpec, HistoryLike
    from perphedge.domain.instrument import Instrument
    from perphedge.domain.types import Side
    from perphedge.sim.account import SimAccount


@dataclass(slots=True)
class Piece:
    """Float snapshot of the state from one bar on (the series are built from these)."""

    start: int
    spot_qty: float
    hedge_qty: float  # signed
    entry: float
    usdt: float  # spot USDT + futures wallet + isolated margins
    margin_base: float  # isolated margin (isolated) or futures wallet (cross)
    liq: float
    funding_cum: float
    fees_cum: float
    locked: float
    unhedged_qty: float
    unhedged_cash: float
    unit_cost: float  # purchase: locked cost per unit; holding: NaN
    contract: int = 0  # row of the held contract in the replay's ContractBook
    target_qty: float = 0.0  # purchase: the quantity to buy (for the effective price)


#: The fields of a piece that the series are built from, in :class:`Piece`'s order.
PIECE_FIELDS = ("spot_qty", "hedge_qty", "entry", "usdt", "margin_base", "liq", "funding_cum",
                "fees_cum", "locked", "unhedged_qty", "unhedged_cash", "unit_cost", "contract",
                "target_qty")


class PieceLog:
    """The replay's pieces column by column: from bar ``starts[p]`` on, field f holds
    ``columns[f][p]``.

    A run of funding settlements adds many pieces that differ from the last one only in a few
    fields (:meth:`extend`); their liquidation prices are solved when the column is first read
    (only the chart reads it).
    """

    __slots__ = ("_deferred", "columns", "starts")

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.columns: dict[str, list[float]] = {name: [] for name in PIECE_FIELDS}
        # (first piece, margin bases, solver): liquidation prices still to solve.
        self._deferred: list[tuple[int, list[Decimal], Callable[[Decimal], Decimal | None]]] = []

    def __len__(self) -> int:
        return len(self.starts)

    def record(self, piece: Piece) -> None:
        """``piece`` holds from its start on (replacing one recorded at the same bar)."""
        columns = self.columns
        if self.starts and self.starts[-1] == piece.start:
            self._solve_deferred()  # the piece replaced may be one of them
            for name in PIECE_FIELDS:
                columns[name][-1] = getattr(piece, name)
            return
        self.starts.append(piece.start)
        for name in PIECE_FIELDS:
            columns[name].append(getattr(piece, name))

    def extend(self, starts: Sequence[int], changed: Mapping[str, Sequence[float]],
               margins: Sequence[Decimal], liquidation: Callable[[Decimal], Decimal | None],
               ) -> None:
        """Pieces from each of ``starts`` that repeat the last piece but for ``changed`` and a
        liquidation price of ``liquidation(margins[p])`` (solved when first read)."""
        k = len(starts)
        if k == 0:
            return
        first = len(self.starts)
        self.starts.extend(starts)
        for name, values in self.columns.items():
            if name in changed:
                values.extend(changed[name])
            else:
                values.extend([values[-1]] * k)
        self._deferred.append((first, list(margins), liquidation))

    def column(self, name: str) -> npt.NDArray[np.float64]:
        """Field ``name`` of every piece."""
        if name == "liq":
            self._solve_deferred()
        return np.array(self.columns[name], dtype=np.float64)

    def _solve_deferred(self) -> None:
        values = self.columns["liq"]
        for first, margins, solve in self._deferred:
            for p, margin in enumerate(margins, first):
                price = solve(margin)
                values[p] = float("nan") if price is None else float(price)
        self._deferred.clear()


class ReplayState(Protocol):
    """The replay as its steps use it: read-only properties, counters they change, helpers."""

    @property
    def spec(self) -> BacktestSpec: ...
    @property
    def history(self) -> HistoryLike: ...
    @property
    def instrument(self) -> Instrument: ...
    @property
    def account(self) -> SimAccount: ...
    @property
    def side(self) -> Side: ...
    @property
    def book(self) -> ContractBook: ...
    @property
    def reserve_start(self) -> Decimal: ...
    @property
    def funding_in(self) -> Decimal: ...
    @property
    def funding_out(self) -> Decimal: ...
    @property
    def actions(self) -> list[ActionEvent]: ...
    @property
    def liquidations(self) -> list[LiquidationEvent]: ...
    @property
    def pieces(self) -> PieceLog: ...
    @property
    def notes(self) -> list[str]: ...

    # Changed by the steps.
    hedge_symbol: str
    reserve_left: Decimal
    opened_before: bool
    rebalances: int
    margin_moves: int
    refusals: int
    rolls: int
    roll_fees: Decimal
    deliveries_settled: int

    def mark_of(self, symbol: str, i: int) -> Decimal:
        """``symbol``'s mark at bar ``i``."""
        ...

    def alert_due(self, code: str, ts_ms: int) -> bool:
        """True when alert ``code`` was not raised in the last week (and records it now)."""
        ...

    def effective_price(self) -> Decimal | None:
        """A purchase's effective locked price per unit (None: not a purchase)."""
        ...

    # The replay's own helpers, which the steps have always shared (names kept as they are).
    def _ts(self, i: int) -> int:
        """Bar ``i``'s close time in ms."""
        ...

    def _fill_price(self, close: float, buy: bool) -> Decimal:
        """``close`` moved against the trader by the spec's slippage."""
        ...
