"""The paper venue's ``ReadsLedger``: the simulated account's own history, in the very rows
the local exchange serves over HTTP, decoded by the same parser as Binance's replies.

One wire format and one parser for the three: the ids the reconciliation keys on (trade ids,
``tranId``, margin-move ids) are the same whether the engine runs on the paper venue, the
local exchange through ccxt, or Binance.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from perphedge.adapters.exchanges import ccxt_ledger_binance_parse as parse
from perphedge.engine.venue import IncomeEntry, LedgerFill, Market, MoneyMove
from perphedge.exchange import wire
from perphedge.exchange.core import LocalExchange
from perphedge.exchange.routes_ledger import margin_rows, transfer_rows

__all__ = ["PaperLedgerReads"]

T = TypeVar("T")
_FUTURES_INCOME = ("funding", "transfer", "liquidation")


class PaperLedgerReads:
    """A mixin of :class:`~perphedge.paper.venue.PaperVenue` (``exchange``, ``_synced``)."""

    exchange: LocalExchange

    if TYPE_CHECKING:  # provided by PaperVenue
        def _synced(self, call: Callable[[], T]) -> T: ...

    async def ledger_now_ms(self, symbol: str) -> int:
        return self._synced(lambda: self.exchange.last_sync_ms)

    async def ledger_fills(self, market: Market, symbol: str, since_ms: int,
                           exchange_order_id: str | None = None, *,
                           until_ms: int | None = None) -> list[LedgerFill]:
        def read() -> list[LedgerFill]:
            row = wire.spot_trade if market is Market.SPOT else wire.futures_trade
            rows = [row(t) for t in self.exchange.book.trades
                    if t.market == market.value and t.symbol == symbol
                    and (str(t.order_id) == exchange_order_id if exchange_order_id
                         else since_ms <= t.time_ms <= (until_ms or t.time_ms))]
            return parse.fills(rows, f"paper {market.value} trades")

        return self._synced(read)

    async def ledger_income(self, since_ms: int, kind: str | None = None) -> list[IncomeEntry]:
        def read() -> list[IncomeEntry]:
            entries = [(i, e) for i, e in enumerate(self.exchange.account.ledger)
                       if (e.kind in _FUTURES_INCOME
                           or (e.kind == "fill" and e.note.startswith("futures")))
                       and e.ts_ms >= since_ms]
            rows = [r for r in wire.income(entries) if kind is None or r["incomeType"] == kind]
            return parse.income(rows, "paper income")

        return self._synced(read)

    async def ledger_transfers(self, since_ms: int, *,
                               until_ms: int | None = None) -> list[MoneyMove]:
        def read() -> list[MoneyMove]:
            now = self.exchange.last_sync_ms if until_ms is None else until_ms
            moves: list[MoneyMove] = []
            for kind in parse.TRANSFER_KINDS:
                rows = transfer_rows(self.exchange.account.ledger, kind, since_ms, now)
                moves += parse.transfers({"total": len(rows), "rows": rows},
                                         "paper transfers")[1]
            return sorted(moves, key=lambda m: (m.ts_ms, m.exchange_id))

        return self._synced(read)

    async def ledger_margin_moves(self, symbol: str, since_ms: int, *,
                                  until_ms: int | None = None) -> list[MoneyMove]:
        def read() -> list[MoneyMove]:
            rows = margin_rows(self.exchange.account.ledger, symbol, None, since_ms,
                               self.exchange.last_sync_ms if until_ms is None else until_ms)
            return parse.margin_moves(rows, "paper margin moves")

        return self._synced(read)
