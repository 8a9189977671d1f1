"""Values crossing the venue port are validated where they are made."""

from __future__ import annotations

from decimal import Decimal

import pytest

from perphedge.domain.types import Side
from perphedge.engine.venue import Market, OrderRequest, OrderState
from perphedge.errors import InputError


def test_client_order_id_fits_binance_limit() -> None:
    with pytest.raises(InputError, match="1 to 36 characters"):
        OrderRequest("x" * 37, Market.FUTURES, "BTCUSDT", Side.SHORT, Decimal(1))
    assert OrderRequest("x" * 36, Market.FUTURES, "BTCUSDT", Side.SHORT, Decimal(1))


@pytest.mark.parametrize("qty", ["0", "-1", "NaN"])
def test_order_quantity_must_be_positive(qty: str) -> None:
    with pytest.raises(InputError, match="qty_base"):
        OrderRequest("ph-1", Market.FUTURES, "BTCUSDT", Side.SHORT, Decimal(qty))


def test_limit_orders_need_a_price_and_final_states_are_final() -> None:
    with pytest.raises(InputError, match="price_usdt"):
        OrderRequest("ph-1", Market.SPOT, "BTCUSDT", Side.LONG, Decimal(1), order_type="limit")
    assert OrderState.FILLED.is_final
    assert not OrderState.UNKNOWN.is_final
