"""``perphedge init``: write the commented example configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import platformdirs
import typer

from perphedge.cli.app import app
from perphedge.config.example import EXAMPLE_CONFIG
from perphedge.config.loader import load_config
from perphedge.errors import InputError
from perphedge.parse import output_folder


def default_config_path() -> Path:
    """``$PERPHEDGE_CONFIG`` is read by the commands; this is where ``init`` writes by default."""
    return Path(platformdirs.user_config_dir("perphedge")) / "config.toml"


@app.command()
def init(
    path: Annotated[
        Path | None, typer.Option("--config", help="Where to write (default: user config dir).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented example configuration to edit (API keys stay out of it)."""
    target = path or default_config_path()
    if target.exists() and not force:
        raise InputError("--config", "a path with no file yet (or --force)", str(target))
    output_folder(target.parent, "--config", str(target))
    if target.is_dir():
        raise InputError("--config", "a file path, not a folder", str(target))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(EXAMPLE_CONFIG, encoding="utf-8")
    except OSError as err:
        raise InputError("--config", f"a writable file path ({err.strerror})",
                         str(target)) from None
    load_config(target)  # what we write must be what we accept
    typer.echo(f"wrote {target}: edit the account and hedges, then set the named key variables")
