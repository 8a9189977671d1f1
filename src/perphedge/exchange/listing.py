"""What the local exchange lists: exchangeInfo (USDⓈ-M and spot) and klines of the replay.

Specs come from the bundled Binance instruments; the shape follows the recorded
``/fapi/v1/exchangeInfo`` capture (``py_http_futures_market_exchange_info.json``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np

from perphedge.domain.instrument import Instrument
from perphedge.domain.money import plain
from perphedge.exchange import wire
from perphedge.exchange.core import LocalExchange
from perphedge.exchange.errors import api_error
from perphedge.exchange.market import wall_ms
from perphedge.exchange.params import Params
from perphedge.parse import TIMEFRAMES_MS

__all__ = ["futures_exchange_info", "klines", "spot_exchange_info"]

#: Binance's published limits (the server enforces its own configurable weight limit).
_RATE_LIMITS = [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
    {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
]


def _precision(step: Decimal) -> int:
    return max(0, -step.normalize().as_tuple().exponent)  # type: ignore[operator]


#: Binance's names for the listed quarterlies, nearest expiry first.
QUARTER_TYPES = ("CURRENT_QUARTER", "NEXT_QUARTER")
#: The deliveryDate Binance gives every perpetual (2100-12-25 08:00 UTC).
PERPETUAL_DELIVERY_MS = 4133404800000


def contract_types(instruments: list[Instrument], now_ms: int) -> dict[str, tuple[str, str]]:
    """``symbol → (contractType, status)`` as Binance lists them at ``now_ms``.

    Unexpired delivery contracts of a base are CURRENT_QUARTER, NEXT_QUARTER (further ones
    are not listed yet: PENDING_TRADING); an expired one is SETTLING and takes no orders.
    """
    out: dict[str, tuple[str, str]] = {}
    by_base: dict[str, list[Instrument]] = {}
    for inst in instruments:
        if inst.expiry_ms is None:
            out[inst.symbol] = ("PERPETUAL", "TRADING")
        elif inst.expiry_ms <= now_ms:
            out[inst.symbol] = ("CURRENT_QUARTER", "SETTLING")
        else:
            by_base.setdefault(inst.base, []).append(inst)
    for listed in by_base.values():
        listed.sort(key=lambda i: i.expiry_ms or 0)
        for k, inst in enumerate(listed):
            out[inst.symbol] = ((QUARTER_TYPES[k], "TRADING") if k < len(QUARTER_TYPES)
                                else ("NEXT_QUARTER", "PENDING_TRADING"))
    return out


def _futures_symbol(inst: Instrument, kind: tuple[str, str] = ("PERPETUAL", "TRADING"),
                    ) -> dict[str, Any]:
    contract_type, status = kind
    return {
        "symbol": inst.symbol, "pair": f"{inst.base}USDT", "contractType": contract_type,
        "deliveryDate": inst.expiry_ms or PERPETUAL_DELIVERY_MS, "onboardDate": 1569398400000,
        "status": status,
        "maintMarginPercent": "2.5000", "requiredMarginPercent": "5.0000",
        "baseAsset": inst.base, "quoteAsset": "USDT", "marginAsset": "USDT",
        "pricePrecision": _precision(inst.tick_size),
        "quantityPrecision": _precision(inst.lot_step), "baseAssetPrecision": 8,
        "quotePrecision": 8, "underlyingType": "COIN", "underlyingSubType": [],
        "settlePlan": 0, "triggerProtect": "0.0500", "liquidationFee": "0.012500",
        "marketTakeBound": "0.05",
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": plain(inst.tick_size),
             "maxPrice": "4529764", "tickSize": plain(inst.tick_size)},
            {"filterType": "LOT_SIZE", "stepSize": plain(inst.lot_step),
             "maxQty": plain(inst.max_qty or Decimal(1000)), "minQty": plain(inst.min_qty)},
            {"filterType": "MARKET_LOT_SIZE", "stepSize": plain(inst.lot_step),
             "maxQty": plain(inst.max_qty or Decimal(1000)), "minQty": plain(inst.min_qty)},
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
            {"filterType": "MIN_NOTIONAL", "notional": plain(inst.min_notional)},
            {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500",
             "multiplierDown": "0.9500", "multiplierDecimal": "4"},
        ],
        "orderTypes": ["LIMIT", "MARKET"], "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
    }


def futures_exchange_info(ex: LocalExchange) -> dict[str, Any]:
    """``/fapi/v1/exchangeInfo`` listing every replayed perpetual and delivery contract."""
    instruments = [ex.instrument(s) for s in sorted(ex.market.paths)]
    kinds = contract_types(instruments, ex.now_ms())
    return {
        "timezone": "UTC", "serverTime": wall_ms(), "futuresType": "U_MARGINED",
        "rateLimits": _RATE_LIMITS, "exchangeFilters": [],
        "assets": [{"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-10000"}],
        "symbols": [_futures_symbol(i, kinds[i.symbol]) for i in instruments],
    }


def _spot_symbol(inst: Instrument) -> dict[str, Any]:
    return {
        "symbol": inst.symbol, "status": "TRADING", "baseAsset": inst.base,
        "baseAssetPrecision": 8, "quoteAsset": "USDT", "quotePrecision": 8,
        "quoteAssetPrecision": 8, "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8, "orderTypes": ["LIMIT", "MARKET"],
        "icebergAllowed": False, "ocoAllowed": False, "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": False, "cancelReplaceAllowed": False,
        "isSpotTradingAllowed": True, "isMarginTradingAllowed": False,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": "0.01000000",
             "maxPrice": "1000000.00000000", "tickSize": "0.01000000"},
            {"filterType": "LOT_SIZE", "minQty": "0.00001000", "maxQty": "9000.00000000",
             "stepSize": "0.00001000"},
            {"filterType": "NOTIONAL", "minNotional": "5.00000000", "applyMinToMarket": True,
             "maxNotional": "9000000.00000000", "applyMaxToMarket": False,
             "avgPriceMins": 5},
        ],
        "permissions": [], "permissionSets": [["SPOT"]], "defaultSelfTradePreventionMode":
        "EXPIRE_MAKER", "allowedSelfTradePreventionModes": ["EXPIRE_MAKER"],
    }


def spot_exchange_info(ex: LocalExchange) -> dict[str, Any]:
    """``/api/v3/exchangeInfo``: a spot pair for every replayed perpetual's asset."""
    return {
        "timezone": "UTC", "serverTime": wall_ms(), "rateLimits": _RATE_LIMITS,
        "exchangeFilters": [],
        "symbols": [_spot_symbol(ex.instrument(s)) for s in sorted(ex.market.paths)
                    if "_" not in s],  # a delivery contract has no spot pair of its own
    }


def klines(ex: LocalExchange, p: Params) -> list[list[Any]]:
    """Closed bars of the replay at the path's own interval (-1120 for any other interval)."""
    path = ex.market.path(ex.instrument(p.req("symbol")).symbol)
    interval = TIMEFRAMES_MS.get(p.req("interval"))
    if interval != path.interval_ms:
        raise api_error(-1120)
    now = ex.now_ms()
    start = p.int_("startTime")
    end = min(p.int_("endTime") or now, now)
    limit = min(p.int_("limit", 500) or 500, 1500)
    closes = path.close_time_ms
    last = int(np.searchsorted(closes, end, side="right"))
    if start is None:
        first = max(0, last - limit)
    else:
        first = int(np.searchsorted(path.open_time_ms, start, side="left"))
        last = min(last, first + limit)
    chosen = range(first, max(first, last))
    rows = []
    for k in chosen:
        o, h, lo, c = (path.dec(float(a[k])) for a in (path.open, path.high, path.low, path.close))
        rows.append(wire.kline_row(int(path.open_time_ms[k]), int(closes[k]), (o, h, lo, c)))
    return rows
