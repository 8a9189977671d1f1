"""Request parameters as Binance reads them: strings, parsed once, errors in Binance's codes."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from perphedge.exchange.errors import BinanceApiError, api_error

__all__ = ["Params"]


class Params:
    """The merged query-string and form-body parameters of one request."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values

    def get(self, name: str) -> str | None:
        value = self.values.get(name)
        return value if value not in (None, "") else None

    def req(self, name: str) -> str:
        """A mandatory parameter (-1102 when missing or empty)."""
        value = self.get(name)
        if value is None:
            raise api_error(-1102, param=name)
        return value

    def dec(self, name: str, *, required: bool = True) -> Decimal | None:
        """A decimal parameter, parsed from its string (-1102 when malformed)."""
        raw = self.req(name) if required else self.get(name)
        if raw is None:
            return None
        try:
            value = Decimal(raw)
        except InvalidOperation:
            raise api_error(-1102, param=name) from None
        if not value.is_finite():
            raise api_error(-1102, param=name)
        return value

    def req_dec(self, name: str) -> Decimal:
        value = self.dec(name)
        assert value is not None  # noqa: S101  -- required=True never returns None
        return value

    def int_(self, name: str, default: int | None = None) -> int | None:
        """An integer parameter, or ``default`` when absent (-1102 when malformed)."""
        raw = self.get(name)
        if raw is None:
            return default
        if not raw.lstrip("-").isdigit():
            raise api_error(-1102, param=name)
        return int(raw)

    def flag(self, name: str) -> bool:
        """A boolean parameter: Binance accepts ``true``/``false`` in any case."""
        raw = (self.get(name) or "false").lower()
        if raw not in ("true", "false"):
            raise BinanceApiError(-1102, f"Parameter '{name}' was malformed: {raw}.")
        return raw == "true"
