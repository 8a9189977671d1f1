"""Observe one hedge on its venue and turn what was seen into the planner's ``HedgeState``.

The exposure comes from the hedge's configured source: the account's spot balance of the asset,
a declared quantity, or a sum of both, times ``hedge_ratio``. A holding is hedged short; a
planned purchase long (its exposure is what is still to buy, so a declared quantity).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal

from perphedge.config.models import (
    BalanceExposure,
    DeclaredExposure,
    HedgeConfig,
    SumExposure,
    parse_interval_ms,
)
from perphedge.domain.brackets import BracketTable
from perphedge.domain.carry import DAY_MS, FUNDING_WINDOWS_DAYS
from perphedge.domain.instrument import Instrument
from perphedge.domain.margin import margin_ratio
from perphedge.domain.money import HUNDRED, ZERO
from perphedge.domain.types import MarginMode, Side
from perphedge.engine.venue import (
    ListsDeliveries,
    MarkAndFunding,
    ReadsFundingRates,
    ReadsSpotPrice,
    Venue,
    VenueBalances,
    VenuePosition,
)
from perphedge.errors import InputError
from perphedge.planning.hedge_state import ContractQuote, HedgeState
from perphedge.planning.policies import PolicyParams

USDT = "USDT"
#: Policies that choose the contract: they read the listed delivery contracts.
CARRY = ("funding-guard", "quarterly", "auto")
#: Policies that read the perpetual's trailing funding (and how far back: the longest window).
READS_FUNDING = ("funding-guard", "auto")
FUNDING_LOOKBACK_MS = max(FUNDING_WINDOWS_DAYS) * DAY_MS


def venue_symbol(hedge: HedgeConfig) -> str:
    """The exchange's market id of the hedge's perpetual: ``BTC/USDT:USDT`` → ``BTCUSDT``.

    >>> from perphedge.config.models import HedgeConfig
    >>> venue_symbol(HedgeConfig(name="h", account="a", asset="btc",
    ...                          exposure={"source": "declared", "quantity": "1"}))
    'BTCUSDT'
    """
    base_quote = hedge.symbol.split(":", 1)[0]
    return base_quote.replace("/", "").upper()


def spot_symbol(hedge: HedgeConfig) -> str:
    """The spot market the hedge's asset trades on (``BTCUSDT``)."""
    return f"{hedge.asset.upper()}{USDT}"


def hedge_side(hedge: HedgeConfig) -> Side:
    """Holding → short hedge; purchase → long hedge."""
    return Side.LONG if hedge.kind == "purchase" else Side.SHORT


def policy_params(hedge: HedgeConfig) -> PolicyParams:
    """The planner's parameters, from the hedge's configuration."""
    return PolicyParams(
        leverage=Decimal(hedge.leverage),
        leverage_band=hedge.leverage_band,
        hedge_band_pct=hedge.drift_band_pct,
        reserve_usdt=hedge.reserve_usdt,
        decision_interval_ms=parse_interval_ms(hedge.decision_interval),
        roll_days_before_expiry=hedge.roll_days_before_expiry,
        switch_to_delivery=hedge.switch_to_delivery,
        funding_threshold_per_year=hedge.funding_threshold_per_year,
    )


def hedge_symbols(perp_symbol: str, symbol: str) -> bool:
    """True when ``symbol`` is the perpetual or one of its delivery contracts (``BTCUSDT_…``)."""
    return symbol == perp_symbol or symbol.startswith(perp_symbol + "_")


def exposure_qty(hedge: HedgeConfig, balances: VenueBalances) -> Decimal:
    """The quantity to hedge (before ``hedge_ratio``), from the configured source."""
    source = hedge.exposure
    parts = source.parts if isinstance(source, SumExposure) else [source]
    total = ZERO
    for part in parts:
        if isinstance(part, DeclaredExposure):
            total += part.quantity
        elif isinstance(part, BalanceExposure):
            if part.account not in (None, hedge.account):
                # One venue per hedge: another account's balance would need a second one.
                raise InputError(f"hedges.{hedge.name}.exposure.account",
                                 f"the hedge's own account {hedge.account!r}", part.account)
            total += balances.spot.get(hedge.asset.upper(), ZERO)
    return total


@dataclass(frozen=True, slots=True)
class Observation:
    """Everything read from the venue for one hedge in one cycle.

    ``position`` is the hedge's position in the contract it is held in (``held_symbol``: the
    perpetual or a delivery contract); ``instrument`` and ``mark`` are that contract's.
    ``contracts`` quotes the perpetual and the listed delivery contracts (carry policies
    only); ``specs`` their instruments. ``total_position_qty`` sums every contract of the
    hedge's asset, which is what the recorded fills must add up to.
    """

    ts_ms: int
    instrument: Instrument
    brackets: BracketTable
    balances: VenueBalances
    position: VenuePosition | None
    mark: MarkAndFunding
    exposure_qty: Decimal  # after hedge_ratio
    held_symbol: str = ""
    contracts: tuple[ContractQuote, ...] = ()
    specs: dict[str, Instrument] = field(default_factory=dict)
    spot_price_usdt: Decimal | None = None
    total_position_qty: Decimal | None = None
    funding_settlements: tuple[tuple[int, Decimal], ...] = ()

    @property
    def signed_position_qty(self) -> Decimal:
        if self.total_position_qty is not None:
            return self.total_position_qty
        return ZERO if self.position is None else self.position.qty_base


async def observe(venue: Venue, hedge: HedgeConfig, ts_ms: int,
                  specs: tuple[Instrument, BracketTable] | None = None) -> Observation:
    """Read the position, mark, funding and balances; ``specs`` skips re-reading the contract.

    The balances come last: the spot balance is what usually changes (a deposit, a sale), and
    the decision should start from the freshest one. With a carry policy on a venue that lists
    delivery contracts, those are read too: the hedge may be held in any of them, and the
    policy chooses among them.
    """
    symbol = venue_symbol(hedge)
    if specs is None:
        specs = (await venue.instrument(symbol), await venue.brackets(symbol))
    mine = [p for p in await venue.positions() if hedge_symbols(symbol, p.symbol)]
    listed: list[Instrument] = []
    if hedge.policy in CARRY and isinstance(venue, ListsDeliveries):
        listed = await venue.delivery_contracts(hedge.asset)
    settlements = await funding_settlements(venue, hedge, symbol, ts_ms)
    spot = (await venue.spot_price(spot_symbol(hedge))
            if isinstance(venue, ReadsSpotPrice) else None)
    if not listed and not any(p.symbol != symbol for p in mine):
        position = next((p for p in mine if p.symbol == symbol), None)
        mark = await venue.mark_and_funding(symbol)
        balances = await venue.balances()
        target = exposure_qty(hedge, balances) * hedge.hedge_ratio
        return Observation(ts_ms, specs[0], specs[1], balances, position, mark, target, symbol,
                           spot_price_usdt=spot, funding_settlements=settlements)
    obs = await _observe_contracts(venue, hedge, ts_ms, specs, mine, listed)
    return replace(obs, funding_settlements=settlements,
                   spot_price_usdt=spot or obs.spot_price_usdt)


async def funding_settlements(venue: Venue, hedge: HedgeConfig, symbol: str,
                              ts_ms: int) -> tuple[tuple[int, Decimal], ...]:
    """The perpetual's settlements over the longest carry window before ``ts_ms``, for the
    policies that read trailing funding, on a venue that serves them (else none: the policy
    then acts as managed)."""
    if hedge.policy not in READS_FUNDING or not isinstance(venue, ReadsFundingRates):
        return ()
    rows = await venue.funding_rates(symbol, ts_ms - FUNDING_LOOKBACK_MS)
    return tuple(sorted((t, r) for t, r in rows if t <= ts_ms))


async def _observe_contracts(venue: Venue, hedge: HedgeConfig, ts_ms: int,
                             specs: tuple[Instrument, BracketTable],
                             mine: list[VenuePosition], listed: list[Instrument]) -> Observation:
    perp = specs[0]
    side = hedge_side(hedge)
    insts = {perp.symbol: perp, **{i.symbol: i for i in listed}}
    # The hedge is held where the largest position on its side is (one, outside a failed roll).
    held = max((p for p in mine if p.qty_base * side.sign > 0),
               key=lambda p: abs(p.qty_base), default=None)
    held_symbol = held.symbol if held is not None else perp.symbol
    if held_symbol not in insts:
        insts[held_symbol] = await venue.instrument(held_symbol)
    marks = {s: await venue.mark_and_funding(s) for s in insts}
    quotes = tuple(
        ContractQuote(s, i.kind, marks[s].mark_price_usdt, i.expiry_ms)
        for s, i in insts.items() if marks[s].mark_price_usdt > 0
    )
    total = sum((p.qty_base for p in mine), ZERO)
    balances = await venue.balances()
    target = exposure_qty(hedge, balances) * hedge.hedge_ratio
    return Observation(ts_ms, insts[held_symbol], specs[1], balances, held, marks[held_symbol],
                       target, held_symbol, quotes, insts,
                       marks[perp.symbol].mark_price_usdt, total)


def build_state(hedge: HedgeConfig, obs: Observation, *, opened_before: bool,
                reserve_spent: Decimal = ZERO) -> HedgeState:
    """The planner's view of ``obs``. A position on the wrong side counts as no hedge.

    ``reserve_spent``: USDT already moved out of the reserve (the store's count); what is left
    of ``reserve_usdt``, within the spot USDT there is, is the reserve the policy sees.
    """
    side = hedge_side(hedge)
    pos = obs.position
    held = ZERO if pos is None or pos.qty_base * side.sign <= 0 else abs(pos.qty_base)
    mode = MarginMode(hedge.margin_mode) if pos is None else pos.margin_mode
    spot_usdt = obs.balances.spot.get(USDT, ZERO)
    # Isolated: only the free wallet can feed a new position. Cross: the wallet is the margin.
    wallet = (obs.balances.futures_available_usdt if mode is MarginMode.ISOLATED
              else obs.balances.futures_wallet_usdt)
    return HedgeState(
        hedge_side=side,
        margin_mode=mode,
        spot_qty=obs.balances.spot.get(hedge.asset.upper(), ZERO),
        target_exposure_qty=obs.exposure_qty,
        hedge_qty=held,
        entry_price=ZERO if pos is None else pos.entry_price_usdt,
        isolated_margin_usdt=ZERO if pos is None else pos.isolated_margin_usdt,
        mark_price=obs.mark.mark_price_usdt,
        # The spot quote where the venue serves one (ReadsSpotPrice), else the perpetual's
        # mark (for a delivery contract, the perpetual's: the nearest thing to spot).
        spot_price=obs.spot_price_usdt or obs.mark.mark_price_usdt,
        spot_usdt=spot_usdt,
        futures_wallet_usdt=wallet,
        reserve_usdt=min(max(ZERO, (hedge.reserve_usdt or ZERO) - reserve_spent), spot_usdt),
        liquidation_price=None if pos is None else pos.liquidation_price_usdt,
        opened_before=opened_before,
        hedge_symbol=obs.held_symbol,
        # The carry policies' clock: their trailing funding window ends now.
        now_ms=obs.ts_ms if obs.contracts or obs.funding_settlements else 0,
        contracts=obs.contracts,
        funding_settlements=obs.funding_settlements,
        # The managed policy moves both legs by the same lot-rounded quantity.
        lot_step_qty=obs.instrument.lot_step * obs.instrument.contract_size,
    )


def risk_figures(state: HedgeState, brackets: BracketTable) -> dict[str, Decimal | None]:
    """Runway (% move to liquidation) and Binance's margin ratio, for status and snapshots."""
    runway = None
    liq = state.liquidation_price
    if liq is not None and state.mark_price > 0 and state.hedge_qty > 0:
        runway = abs(liq - state.mark_price) / state.mark_price * HUNDRED
    ratio = None
    if state.hedge_qty > 0:
        ratio = margin_ratio(brackets.maintenance_margin(state.notional_usdt),
                             state.margin_balance_usdt)
    return {"runway_pct": runway, "margin_ratio": ratio}
