"""``perphedge web``: the dashboard, REST API and ``/metrics`` over the store, without an engine.

Loopback by default. Listening beyond loopback needs ``--allow-remote`` *and* an API token
(``PERPHEDGE_API_TOKEN`` or the keyring); then reads need the token too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from perphedge.cli.app import app

ConfigOpt = Annotated[Path | None, typer.Option(
    "--config", help="Config file (default: $PERPHEDGE_CONFIG or the user config dir).")]
DbOpt = Annotated[str | None, typer.Option(
    "--db", help="Store URL, overriding the config's [store] url (sqlite:///… or postgresql…).")]

DEFAULT_PORT = 8765


@app.command()
def web(config: ConfigOpt = None, db: DbOpt = None,
        host: Annotated[str, typer.Option("--host", metavar="ADDRESS",
                                          help="Address to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option("--port", metavar="PORT", min=1, max=65535,
                                          help="TCP port.")] = DEFAULT_PORT,
        allow_remote: Annotated[bool, typer.Option(
            "--allow-remote", help="Allow a non-loopback --host (needs an API token).")] = False,
        poll: Annotated[float, typer.Option("--poll", metavar="SECONDS", min=0.5,
                                            help="Dashboard refresh period.")] = 5.0) -> None:
    """Serve the dashboard (/), the REST API (/api, /docs) and /metrics over the store."""
    # Heavy imports only for this command.
    import uvicorn

    from perphedge.parse import is_loopback
    from perphedge.services.compose import compose
    from perphedge.services.hedge_service import HedgeService
    from perphedge.web.app import create_app
    from perphedge.web.auth import resolve_api_token
    from perphedge.web.beside_engine import bind_rule

    loopback = is_loopback(host)
    token = resolve_api_token()
    bind_rule(host, allow_remote, token)
    service = HedgeService(compose(config, db))
    try:
        service.views()  # a bad config or store fails here, as one line, before listening
        application = create_app(service, token=token, open_reads=loopback,
                                 poll_seconds=poll)
        typer.echo(f"perphedge web on http://{host}:{port}/ (API docs at /docs)")
        uvicorn.run(application, host=host, port=port, log_level="warning")
    finally:
        service.comp.close()
