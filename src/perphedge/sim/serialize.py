"""JSON-safe round trip of a :class:`~perphedge.sim.account.SimAccount` (Decimals as strings)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, cast

from perphedge.domain.fees import FeeSchedule
from perphedge.domain.money import plain
from perphedge.sim.records import LedgerEntry, SimPosition

if TYPE_CHECKING:
    from perphedge.sim.account import SimAccount

FORMAT_VERSION = 1


def account_to_dict(account: SimAccount) -> dict[str, object]:
    """Everything needed to rebuild the account, except instruments and brackets."""
    return {
        "version": FORMAT_VERSION,
        "fees": {
            "maker_rate": plain(account.fees.maker_rate),
            "taker_rate": plain(account.fees.taker_rate),
        },
        "spot_fee_rate": plain(account.spot_fee_rate),
        "spot": {asset: plain(qty) for asset, qty in account.spot.items()},
        "futures_wallet_usdt": plain(account.futures_wallet_usdt),
        "positions": [pos.to_dict() for pos in account.positions.values()],
        "marks": {symbol: plain(mark) for symbol, mark in account.marks.items()},
        "fees_paid_usdt": plain(account.fees_paid_usdt),
        "funding_received_usdt": plain(account.funding_received_usdt),
        "ledger": [entry.to_dict() for entry in account.ledger],
    }


def account_from_dict(account: SimAccount, data: Mapping[str, object]) -> None:
    """Load ``data`` (from :func:`account_to_dict`) into a freshly built ``account``."""
    fees = cast(Mapping[str, str], data["fees"])
    account.fees = FeeSchedule(Decimal(fees["maker_rate"]), Decimal(fees["taker_rate"]))
    account.spot_fee_rate = Decimal(str(data["spot_fee_rate"]))
    spot = cast(Mapping[str, str], data["spot"])
    account.spot = {asset: Decimal(qty) for asset, qty in spot.items()}
    account.futures_wallet_usdt = Decimal(str(data["futures_wallet_usdt"]))
    positions = cast(list[dict[str, object]], data["positions"])
    account.positions = {}
    for row in positions:
        pos = SimPosition.from_dict(row)
        account.positions[pos.symbol] = pos
    marks = cast(Mapping[str, str], data["marks"])
    account.marks = {symbol: Decimal(mark) for symbol, mark in marks.items()}
    account.fees_paid_usdt = Decimal(str(data["fees_paid_usdt"]))
    account.funding_received_usdt = Decimal(str(data["funding_received_usdt"]))
    ledger = cast(list[dict[str, object]], data["ledger"])
    account.ledger = [LedgerEntry.from_dict(row) for row in ledger]
