"""Pydantic models of the configuration file (frozen, unknown keys are errors)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, field_validator, model_validator

from perphedge import parse
from perphedge.errors import InputError

#: A quantity or amount past this is a typo (1e30 BTC), refused with its key named.
MAX_AMOUNT = Decimal("1e12")
PositiveDecimal = Annotated[Decimal, Field(gt=0, le=MAX_AMOUNT, allow_inf_nan=False)]
NonNegativeDecimal = Annotated[Decimal, Field(ge=0, le=MAX_AMOUNT, allow_inf_nan=False)]
#: Strict: TOML's ``true`` is not the leverage 1, and ``"yes"`` is not a boolean.
Int = Annotated[int, Strict()]
Bool = Annotated[bool, Strict()]
#: The exchanges perphedge is tested on (``binance`` means binanceusdm); any other ccxt id
#: with perpetual swaps goes through ccxt's unified methods.
FIRST_CLASS_EXCHANGES = ("binanceusdm", "binance", "okx", "bybit")
#: Binance's smallest order notional filter (USDT): a smaller slice is refused by the venue.
MIN_ORDER_NOTIONAL = Decimal(5)



class ConfigValueError(ValueError):
    """A validator's complaint, with the key (relative to the model), expectation and value.

    A field validator passes the key ``""``: the field's own location names it.
    """

    def __init__(self, key: str, expected: str, got: object) -> None:
        super().__init__(f"{key}: expected {expected}, got {got!r}")
        self.key = key
        self.expected = expected
        self.got = got


class Model(BaseModel):
    """Shared settings: immutable, strict about unknown keys."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class AccountConfig(Model):
    """An exchange account. Keys come from named environment variables or the OS keyring."""

    exchange: str = Field(description="ccxt exchange id, e.g. binanceusdm, okx, bybit")
    api_key_env: str | None = None
    api_secret_env: str | None = None
    api_passphrase_env: str | None = Field(
        default=None, description="variable holding the API passphrase (OKX needs one)"
    )
    keyring_service: str | None = Field(
        default=None, description="OS keyring service holding 'api_key' and 'api_secret'"
    )
    url: str | None = Field(default=None, description="base URL override (local exchange, testnet)")
    sandbox: Bool = False

    @field_validator("exchange")
    @classmethod
    def _exchange(cls, value: str) -> str:
        if value.lower() not in FIRST_CLASS_EXCHANGES and not _ccxt_has_swaps(value):
            raise ConfigValueError("", "a ccxt exchange id with USDT-margined perpetuals, "
                                   f"such as {', '.join(FIRST_CLASS_EXCHANGES)}", value)
        return value

    @field_validator("api_key_env", "api_secret_env", "api_passphrase_env")
    @classmethod
    def _variable_name(cls, value: str | None) -> str | None:
        if value is not None and not _is_variable_name(value):
            # Never echo it: a key pasted here by mistake would land in the terminal and logs.
            raise ConfigValueError(
                "", "the name of an environment variable holding the key, such as "
                "BINANCE_API_KEY (not the key itself)", _Hidden())
        return value

    @model_validator(mode="after")
    def _one_secret_source(self) -> AccountConfig:
        from_env = self.api_key_env is not None or self.api_secret_env is not None
        if from_env and (self.api_key_env is None or self.api_secret_env is None):
            raise ConfigValueError(
                "api_secret_env", "both api_key_env and api_secret_env", "only one of them"
            )
        if from_env and self.keyring_service is not None:
            raise ConfigValueError(
                "keyring_service", "keys from environment variables or the keyring, not both",
                self.keyring_service,
            )
        return self


class DeclaredExposure(Model):
    """A quantity the user states (e.g. coins in cold storage)."""

    source: Literal["declared"]
    quantity: NonNegativeDecimal


class BalanceExposure(Model):
    """The account's spot balance of the asset, read every cycle."""

    source: Literal["balance"]
    account: str | None = None


class SumExposure(Model):
    """The sum of several sources (a balance plus coins held elsewhere)."""

    source: Literal["sum"]
    parts: list[DeclaredExposure | BalanceExposure] = Field(min_length=1)


Exposure = Annotated[
    DeclaredExposure | BalanceExposure | SumExposure, Field(discriminator="source")
]


class ExecutionConfig(Model):
    """How orders are placed: at market, a limit that chases the book, or slices over time."""

    style: Literal["market", "limit_chase", "slices"] = "market"
    max_order_notional: Annotated[
        Decimal, Field(ge=MIN_ORDER_NOTIONAL, le=MAX_AMOUNT, allow_inf_nan=False)
    ] = Decimal(250_000)
    slice_interval: str = "30s"
    chase_reprices: Annotated[Int, Field(ge=0, le=20)] = 3
    chase_wait: str = "5s"

    @field_validator("slice_interval", "chase_wait")
    @classmethod
    def _interval(cls, value: str) -> str:
        parse_interval_ms(value)
        return value


class HedgeConfig(Model):
    """One hedge: what it protects, with which contract, and how it is kept alive."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    account: str
    asset: str
    kind: Literal["holding", "purchase"] = "holding"
    exposure: Exposure
    hedge_ratio: Annotated[Decimal, Field(gt=0, le=Decimal("1.5"), allow_inf_nan=False)] = (
        Decimal(1)
    )
    instrument: str | None = Field(default=None, description="ccxt symbol; default ASSET/USDT:USDT")
    margin_mode: Literal["isolated", "cross"] = "isolated"
    leverage: Annotated[Int, Field(ge=1, le=125)] = 2
    drift_band_pct: Annotated[Decimal, Field(gt=0, le=50, allow_inf_nan=False)] = Decimal(2)
    policy: Literal["static", "managed", "reserve", "funding-guard", "quarterly", "auto"] = (
        "managed"
    )
    #: Carry policies: roll a delivery hedge this many days before its expiry.
    roll_days_before_expiry: Annotated[Int, Field(ge=0, le=60)] = 7
    #: funding-guard: roll into a delivery contract (instead of only alerting) when funding
    #: costs more than ``funding_threshold_per_year``.
    switch_to_delivery: Bool = False
    funding_threshold_per_year: Annotated[Decimal, Field(ge=0, allow_inf_nan=False)] = (
        Decimal("0.10")
    )
    leverage_band: tuple[PositiveDecimal, PositiveDecimal] | None = None
    reserve_usdt: NonNegativeDecimal | None = None
    execution: ExecutionConfig = ExecutionConfig()
    decision_interval: str = "1m"

    @field_validator("decision_interval")
    @classmethod
    def _decision_interval(cls, value: str) -> str:
        parse_interval_ms(value)
        return value

    @model_validator(mode="after")
    def _band(self) -> HedgeConfig:
        if self.leverage_band is not None:
            low, high = self.leverage_band
            if not low < self.leverage < high:
                band = [str(low), str(high)]
                raise ConfigValueError(
                    "leverage_band", f"a band around leverage {self.leverage}", band
                )
        return self

    @property
    def symbol(self) -> str:
        return self.instrument or f"{self.asset.upper()}/USDT:USDT"


class StoreConfig(Model):
    """Where the store lives: an SQLite file by default, or a PostgreSQL URL."""

    url: str | None = None


class ServiceConfig(Model):
    """How ``perphedge serve`` runs: its run lease and its log file."""

    #: How long a lease outlives its last renewal; a dead holder's hedges are taken over after
    #: this. Default: three times the longest decision interval of the account, at least 30 s.
    lease_ttl: str | None = None
    #: A rotating log file (JSON lines) besides stderr.
    log_file: str | None = None
    log_file_max_mb: Annotated[int, Field(ge=1, le=10_000)] = 10
    log_file_backups: Annotated[int, Field(ge=0, le=100)] = 5

    @field_validator("lease_ttl")
    @classmethod
    def _ttl(cls, value: str | None) -> str | None:
        if value is not None:
            parse_interval_ms(value)
        return value


class AlertsConfig(Model):
    """Where alerts go (Apprise URLs) and when they are sent."""

    urls: list[str] = Field(default_factory=list)
    #: An environment variable holding more URLs (comma or space separated): URLs with tokens.
    urls_env: str | None = None
    runway_below_pct: Annotated[Decimal, Field(gt=0, le=100, allow_inf_nan=False)] | None = (
        Decimal(15)
    )
    funding_cost_above_pct_per_year: (
        Annotated[Decimal, Field(ge=0, allow_inf_nan=False)] | None
    ) = Decimal(20)
    repeat_every: str = "1h"
    #: A URL fetched (GET) after every cycle: a dead-man's switch outside the machine.
    heartbeat_url: str | None = None
    #: Exchange failures in a row before "exchange failing" is sent.
    failing_cycles: Annotated[int, Field(ge=1, le=1000)] = 3
    #: Cycles with the drift outside its band before "drift not corrected" is sent.
    drift_cycles: Annotated[int, Field(ge=1, le=1000)] = 3

    @field_validator("repeat_every")
    @classmethod
    def _repeat(cls, value: str) -> str:
        parse_interval_ms(value)
        return value

    @model_validator(mode="after")
    def _urls(self) -> AlertsConfig:
        for index, url in enumerate(self.urls):
            scheme, sep, rest = url.partition("://")
            if not sep or not scheme.isalnum() or not rest:
                # Never echo the URL: it may carry a token.
                raise ConfigValueError(f"urls[{index}]", "an Apprise URL like json://host/path",
                                       f"{url.partition(':')[0][:12]}:… (not shown)")
        if self.heartbeat_url is not None and not self.heartbeat_url.startswith(
                ("http://", "https://")):
            raise ConfigValueError("heartbeat_url", "an http:// or https:// URL",
                                   f"{self.heartbeat_url.partition(':')[0][:12]}:… (not shown)")
        return self


class PerphedgeConfig(Model):
    """The whole file."""

    store: StoreConfig = StoreConfig()
    service: ServiceConfig = ServiceConfig()
    alerts: AlertsConfig = AlertsConfig()
    accounts: dict[str, AccountConfig] = Field(min_length=1)
    hedges: list[HedgeConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references(self) -> PerphedgeConfig:
        names = set()
        contracts: dict[tuple[str, str], str] = {}
        for index, hedge in enumerate(self.hedges):
            if hedge.account not in self.accounts:
                raise ConfigValueError(
                    f"hedges[{index}].account", f"one of {sorted(self.accounts)}", hedge.account
                )
            if hedge.name in names:
                raise ConfigValueError(f"hedges[{index}].name", "a name used once", hedge.name)
            names.add(hedge.name)
            # One-way accounts hold one position per contract: two hedges on it would each see
            # the other's orders as an unexplained change (and count its funding twice).
            key = (hedge.account, hedge.symbol.upper())
            if key in contracts:
                raise ConfigValueError(
                    f"hedges[{index}].asset",
                    f"one hedge per account and contract ({contracts[key]!r} already hedges "
                    f"{hedge.symbol} on account {hedge.account!r}; add the quantities to one "
                    "hedge with a sum exposure)", hedge.asset)
            contracts[key] = hedge.name
        return self


def _ccxt_has_swaps(name: str) -> bool:
    """True if ccxt has an exchange ``name`` that lists perpetual swaps (kraken's spot API
    does not; krakenfutures does)."""
    import ccxt  # imported here: only a config naming a less common exchange pays for it

    if not name.isascii() or name.lower() not in ccxt.exchanges:
        return False
    return bool(getattr(ccxt, name.lower())().has.get("swap"))


class _Hidden:
    """Stands for a value that must not be shown (it may be a secret)."""

    def __repr__(self) -> str:
        return "a value that is not a variable name (not shown: it may be a key)"


def _is_variable_name(name: str) -> bool:
    """``BINANCE_API_KEY`` yes; a 64-character mixed-case key pasted by mistake no."""
    word = name.replace("_", "")
    looks_like_key = len(name) >= 24 and any(c.islower() for c in name) and any(
        c.isupper() for c in name) and any(c.isdigit() for c in name)
    return (name.isascii() and (word == "" or word.isalnum()) and not name[:1].isdigit()
            and bool(name) and not looks_like_key)


def parse_interval_ms(text: str) -> int:
    """'30s', '1m', '4h', '1d' → milliseconds.

    >>> parse_interval_ms("4h")
    14400000
    """
    try:
        return parse.parse_interval_ms(text, "interval")
    except InputError as err:
        raise ConfigValueError("interval", err.expected, text) from None
