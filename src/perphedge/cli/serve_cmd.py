"""``perphedge serve``, ``perphedge health`` and ``perphedge alerts test``: running unattended."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from perphedge.cli.app import app
from perphedge.cli.hedge_cmds import ConfigOpt, DbOpt
from perphedge.config.models import ConfigValueError, parse_interval_ms
from perphedge.errors import InputError, PerphedgeError
from perphedge.services.compose import Composition, compose

alerts_app = typer.Typer(help="Alert channels (alerts.urls in the config).", no_args_is_help=True)
app.add_typer(alerts_app, name="alerts")

log = logging.getLogger("perphedge.serve")


class BugInService(PerphedgeError):
    """Not an exchange's fault nor the user's: perphedge itself failed (exit 1, see the log)."""

    def __init__(self, err: Exception, where: str) -> None:
        super().__init__(f"perphedge serve stopped by an internal error ({type(err).__name__}: "
                         f"{err}); the traceback is in {where}")


def _traceback_file(err: Exception, log_file: str | None) -> str:
    """Where the traceback went: the service's log file, else a crash file beside the logs."""
    if log_file is not None:
        return log_file
    import traceback

    import platformdirs

    folder = Path(platformdirs.user_log_dir("perphedge"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"serve-crash-{datetime.now(tz=UTC):%Y%m%dT%H%M%SZ}.log"
    path.write_text("".join(traceback.format_exception(err)), encoding="utf-8")
    return str(path)


@app.command()
def serve(hedges: Annotated[list[str] | None, typer.Argument(
              help="Hedges (default: all configured).")] = None,
          config: ConfigOpt = None, db: DbOpt = None,
          verbose: Annotated[bool, typer.Option("--verbose", "-v",
                                                help="Log debug lines too.")] = False,
          quiet: Annotated[bool, typer.Option("--quiet", "-q",
                                              help="Log warnings and errors only.")] = False,
          http: Annotated[str | None, typer.Option(
              "--http", metavar="HOST:PORT",
              help="Also serve the dashboard, REST API and /metrics here "
                   "(like 127.0.0.1:8765).")] = None,
          allow_remote: Annotated[bool, typer.Option(
              "--allow-remote",
              help="Allow a non-loopback --http address (needs an API token).")] = False,
          ) -> None:
    """Run the configured hedges unattended, each on its decision interval, until SIGTERM.

    Sends orders (this is the live service). Takes the accounts' run leases: a second process
    on the same store refuses. Logs JSON lines to stderr (and to the config's service.log_file).
    With --http, the web app (see `perphedge web`) runs in the same process.
    """
    from perphedge.adapters.log_setup import setup_logging
    from perphedge.services.serve_service import build_server

    if verbose and quiet:
        raise InputError("--verbose/--quiet", "one of them", "both")
    if allow_remote and http is None:
        raise InputError("--allow-remote", "--http HOST:PORT beside it", "no --http")
    address = None
    if http is not None:
        from perphedge.web.beside_engine import parse_address

        address = parse_address(http)
    comp = compose(config, db, send=True)
    service = comp.config.service
    setup_logging(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO,
                  service.log_file, service.log_file_max_mb, service.log_file_backups)
    try:
        if address is None:
            server = build_server(comp, hedges or [])
            asyncio.run(_serve_until_signal(server.serve))
        else:
            from perphedge.services.hedge_service import HedgeService
            from perphedge.web.beside_engine import http_side

            # The port is bound here, before any lease is taken: a port in use is exit 2.
            web = http_side(HedgeService(comp), address, allow_remote)
            server = build_server(comp, hedges or [], on_cycle=web.cycle_observer(),
                                  cycle_lock=web.cycle_lock)

            async def serve_with_http(stop: asyncio.Event) -> None:
                async with web.running():
                    await server.serve(stop)

            asyncio.run(_serve_until_signal(serve_with_http))
    except PerphedgeError:
        raise  # main prints it as one line (exit 1, or 2 for bad input)
    except Exception as err:
        # A bug: the traceback goes to the log file only; the user gets one line and exit 1.
        log.exception("service failed")
        raise BugInService(err, _traceback_file(err, service.log_file)) from None
    finally:
        comp.close()


async def _serve_until_signal(run: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run ``run(stop)``; SIGTERM and SIGINT set ``stop`` (the cycle running finishes)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await run(stop)


@app.command()
def health(config: ConfigOpt = None, db: DbOpt = None,
           max_age: Annotated[str, typer.Option(
               "--max-age", metavar="INTERVAL",
               help="Oldest acceptable heartbeat, like 90s, 5m, 1h.")] = "5m") -> None:
    """Exit 0 when every active hedge's heartbeat is fresh and none is halted or failing.

    Otherwise exit 1 with one line per problem (for cron, systemd and Kubernetes probes).
    """
    from perphedge.services.health import problems

    try:
        max_age_ms = parse_interval_ms(max_age)
    except ConfigValueError:
        raise InputError("--max-age", "an interval like 90s, 5m or 1h", max_age) from None
    comp = compose(config, db)
    try:
        found = problems(comp, max_age_ms, comp.clock.now_ms())
    finally:
        comp.close()
    if found:
        for line in found:
            typer.echo(line)
        raise SystemExit(1)
    typer.echo(f"ok: {len(comp.config.hedges)} hedge(s) healthy")


@alerts_app.command("test")
def alerts_test(config: ConfigOpt = None, db: DbOpt = None) -> None:
    """Send a test message to every alert URL; one line per channel (tokens masked)."""
    comp = compose(config, db)
    try:
        ok = asyncio.run(_send_test(comp))
    finally:
        comp.close()
    if not ok:
        raise SystemExit(1)


async def _send_test(comp: Composition) -> bool:
    from perphedge.adapters.store.service_records import ServiceRecords
    from perphedge.services.alert_center import AlertCenter
    from perphedge.services.alert_rules import AlertRules, Notice

    notifier = comp.notifier()
    if not notifier.channels:
        raise InputError("alerts.urls", "at least one alert URL (or urls_env)", "none")
    center = AlertCenter(AlertRules.from_config(comp.config.alerts), notifier,
                         ServiceRecords(comp.store.engine))
    ts = comp.clock.now_ms()
    when = datetime.fromtimestamp(ts / 1000, tz=UTC)
    deliveries = await center.send(Notice(
        f"test:{ts}", None, "test", "perphedge test alert",
        f"A test message from perphedge at {when:%Y-%m-%d %H:%M:%S} UTC: alerts reach you."),
        ts)
    for delivery in deliveries:
        typer.echo(delivery.describe())
    return all(d.ok for d in deliveries)
