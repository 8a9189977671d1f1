"""``perphedge export``: a hedge's accounts as files, for tax or NAV.

Writes ``<hedge>-daily``, ``-fills``, ``-funding`` and ``-transfers`` (CSV or Parquet) into
``--out`` and prints each file with its row count and the totals of fees and funding.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer

from perphedge.cli.app import app
from perphedge.errors import InputError

ConfigOpt = Annotated[Path | None, typer.Option(
    "--config", help="Config file (default: $PERPHEDGE_CONFIG or the user config dir).")]
DbOpt = Annotated[str | None, typer.Option(
    "--db", help="Store URL, overriding the config's [store] url (sqlite:///… or postgresql…).")]


@app.command()
def export(hedge: Annotated[str, typer.Option("--hedge", metavar="NAME",
                                              help="Hedge name from the config.")],
           fmt: Annotated[str, typer.Option("--format", metavar="csv|parquet",
                                            help="File format.")] = "csv",
           from_: Annotated[str | None, typer.Option(
               "--from", metavar="TIME", help="First time (ISO 8601 UTC or Unix ms).")] = None,
           to: Annotated[str | None, typer.Option(
               "--to", metavar="TIME", help="Last time (ISO 8601 UTC or Unix ms).")] = None,
           out: Annotated[Path, typer.Option("--out", metavar="FOLDER",
                                             help="Folder for the files.")] = Path(),
           config: ConfigOpt = None, db: DbOpt = None) -> None:
    """Write a hedge's daily accounts and every fill, funding payment and transfer."""
    from perphedge.adapters.export_files import FORMATS, write_tables
    from perphedge.parse import parse_time_ms
    from perphedge.services.compose import compose
    from perphedge.services.export_service import COLUMNS, build_export
    from perphedge.services.hedge_read import HedgeIdentity

    if fmt not in FORMATS:
        raise InputError("--format", " or ".join(FORMATS), fmt)
    from_ms = None if from_ is None else parse_time_ms(from_, "--from", epoch_ms=True)
    to_ms = None if to is None else parse_time_ms(to, "--to", epoch_ms=True)
    if from_ms is not None and to_ms is not None and from_ms > to_ms:
        raise InputError("--to", f"a time after --from ({from_})", to)
    comp = compose(config, db)
    try:
        spec = comp.hedge(hedge)
        result = build_export(comp.store, HedgeIdentity(spec.name, spec.asset, spec.kind),
                              from_ms, to_ms)
    finally:
        comp.close()
    paths = write_tables(out, hedge, result.tables, COLUMNS, fmt)
    for path, rows in zip(paths, result.tables.values(), strict=True):
        typer.echo(f"{path}: {len(rows)} rows")
    fees = sum((r["fee"] for r in result.tables["fills"]), Decimal(0))
    funding = sum((r["amount"] for r in result.tables["funding"]), Decimal(0))
    typer.echo(f"fees {fees:f} USDT, funding {funding:f} USDT (> 0 received)")
