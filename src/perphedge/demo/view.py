"""The demo on screen: a rich live panel of the hedge, with what the engine did printed above it.

On a terminal the panel redraws in place (at most ten times a second); anywhere else (a pipe,
a CI log, a test) rich prints only the final panel, and the event lines still appear one per
line. Only lines that say something happened are printed: orders, transfers, margin moves,
spot events, alerts and errors; funding is summed in the panel instead of listed.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

from perphedge.demo.summary import SUMMARY_ROWS, money, pct
from perphedge.demo.tracker import Point
from perphedge.domain.money import HUNDRED
from perphedge.engine.loop import CycleReport

__all__ = ["DemoView", "interesting"]

#: Starts of engine report lines worth a line of their own.
_SHOWN = ("futures market", "spot market", "transfer", "margin", "set ", "ALERT", "REFUSED",
          "exchange error", "order ")
_REFRESH_S = 0.1


def when(ts_ms: int) -> str:
    """Replay time as ``2024-01-15 08:00``.

    >>> when(1705305600000)
    '2024-01-15 08:00'
    """
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def interesting(line: str) -> bool:
    """Whether an engine report line is an action or a problem (not a routine funding tally)."""
    return line.startswith(_SHOWN)


def panel(point: Point, cycle: int, cycles: int, asset: str) -> Panel:
    """The hedge as of ``point``."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column(justify="right")
    runway = ""
    liq = point.liquidation_price_usdt
    if liq is not None and point.price_usdt > 0:
        runway = f"  (runway {pct((liq - point.price_usdt) / point.price_usdt * HUNDRED)} %)"
    leverage = point.leverage
    rows = (
        ("replay time", f"{when(point.ts_ms)} UTC   cycle {cycle}/{cycles}"),
        (f"{asset} price", f"{money(point.price_usdt)} USDT"),
        (f"spot {asset} / hedge short", f"{point.spot_qty:f} / {point.hedge_qty:f}  "
                                       f"(drift {point.drift_qty:+f})"),
        ("liquidation price", "—" if liq is None else f"{money(liq)} USDT{runway}"),
        ("margin balance / leverage", f"{money(point.margin_balance_usdt)} USDT / "
         + ("—" if leverage is None else f"{leverage:.2f}x")),
        ("hedged value", f"{money(point.hedged_usdt)} USDT"),
        ("unhedged value", f"{money(point.unhedged_usdt)} USDT"),
        ("locked value", f"{money(point.locked_usdt)} USDT"),
        ("deviation from locked", f"{pct(point.deviation_pct)} %  (before funding "
                                  f"{pct(point.deviation_before_funding_pct)} %)"),
        ("funding received / fees", f"{money(point.funding_usdt)} / "
                                    f"{money(point.fees_usdt)} USDT"),
    )
    for label, value in rows:
        grid.add_row(label, value)
    return Panel(grid, title="perphedge demo: the live engine on the local exchange",
                 border_style="cyan")


class DemoView:
    """Prints event lines and keeps the live panel current."""

    def __init__(self, console: Console, cycles: int, asset: str) -> None:
        self.console = console
        self.cycles = cycles
        self.asset = asset
        self._live: Live | None = None
        self._last_draw = 0.0

    def __enter__(self) -> DemoView:
        self._live = Live(Group(), console=self.console, auto_refresh=False, transient=False)
        self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)
            self._live = None

    def say(self, ts_ms: int, line: str, style: str = "") -> None:
        """One line above the panel, stamped with the replay time."""
        target = self._live.console if self._live is not None else self.console
        target.print(f"[dim]{when(ts_ms)}[/dim]  ", end="")
        target.print(line, style=style, markup=False, highlight=False)

    def cycle(self, n: int, reports: list[CycleReport], point: Point) -> None:
        """Print what the cycle did and redraw the panel (throttled)."""
        for report in reports:
            for line in report.lines:
                if interesting(line):
                    bad = line.startswith(("ALERT", "REFUSED", "exchange error"))
                    self.say(report.ts_ms, line, "red" if bad else "")
        now = time.monotonic()
        if self._live is not None and (now - self._last_draw >= _REFRESH_S or n == self.cycles):
            self._live.update(panel(point, n, self.cycles, self.asset), refresh=True)
            self._last_draw = now

    def summary(self, values: dict[str, str]) -> None:
        """The closing table."""
        self.console.print()
        table = Table(title="perphedge demo: summary", show_header=False)
        table.add_column(style="bold")
        table.add_column()
        for label, key in SUMMARY_ROWS:
            style = "green" if key == "liquidations" and values[key] == "none" else ""
            table.add_row(label, values[key], style=style)
        self.console.print(table)
