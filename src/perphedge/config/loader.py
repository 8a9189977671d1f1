"""Read and validate the configuration file; resolve API keys without ever showing them."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import SecretStr, ValidationError

from perphedge.config.models import AccountConfig, ConfigValueError, PerphedgeConfig
from perphedge.errors import InputError


@dataclass(frozen=True, slots=True)
class Credentials:
    """An API key pair (and OKX's passphrase); ``repr`` and ``str`` never show the values."""

    api_key: SecretStr
    api_secret: SecretStr
    passphrase: SecretStr | None = None  # OKX signs every private request with one


def _location(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in {"declared", "balance", "sum"} or "[" in str(part):
            continue  # pydantic names the union member it tried; the user never wrote it
        else:
            out += f".{part}" if out else str(part)
    return out or "config"


_EXPECTATIONS = {
    "greater_than_equal": "a number of at least {ge}",
    "greater_than": "a number greater than {gt}",
    "less_than_equal": "a number of at most {le}",
    "less_than": "a number less than {lt}",
    "literal_error": "one of {expected}",
    "string_pattern_mismatch": "text matching {pattern}",
    "too_short": "at least {min_length} entries",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "decimal_parsing": "a number",
    "decimal_type": "a number",
    "finite_number": "a finite number",
    "string_type": "text in quotes",
}


def _one_line(err: ValidationError) -> InputError:
    first = err.errors(include_url=False)[0]
    where = _location(tuple(first["loc"]))
    got = first.get("input")
    ctx = {k: format(v, "f") if isinstance(v, Decimal) else v
           for k, v in (first.get("ctx") or {}).items()}
    cause = ctx.get("error")
    if isinstance(cause, ConfigValueError):
        key = cause.key if cause.key.startswith("hedges[") or where == "config" else (
            f"{where}.{cause.key}" if cause.key not in ("interval", "") else where
        )
        return InputError(key, cause.expected, cause.got)
    if first["type"] == "extra_forbidden":
        return InputError(where, "a known key (see `perphedge init` for the full example)",
                          "unknown key")
    if first["type"] == "missing":
        return InputError(where, "a value (the key is required)", "nothing")
    template = _EXPECTATIONS.get(first["type"])
    expected = template.format(**ctx) if template else str(first["msg"]).lower()
    shown = got if isinstance(got, str | int | float | bool) or got is None else type(got).__name__
    return InputError(where, expected, shown)


def parse_config(data: Mapping[str, Any]) -> PerphedgeConfig:
    """Validate a parsed TOML document; the first problem becomes a one-line InputError."""
    try:
        return PerphedgeConfig.model_validate(dict(data))
    except ValidationError as err:
        raise _one_line(err) from None


def load_config(path: Path) -> PerphedgeConfig:
    """Read ``path`` (TOML) and validate it."""
    if path.is_dir():
        raise InputError("--config", "a file, not a folder", str(path))
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError("--config", "an existing file (create one with `perphedge init`)",
                         str(path)) from None
    except OSError as err:
        raise InputError("--config", f"a readable file ({err.strerror})", str(path)) from None
    if b"\x00" in raw:
        raise InputError("--config", "a TOML text file, not a binary one", str(path))
    try:
        # utf-8-sig: an editor's byte-order mark is not part of the TOML.
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InputError("--config", "a TOML file in UTF-8",
                         f"{path}: byte {err.start} is not UTF-8") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise InputError("--config", "valid TOML", f"{path}: {err}") from None
    return parse_config(data)


def resolve_credentials(
    name: str, account: AccountConfig, environ: Mapping[str, str] | None = None
) -> Credentials | None:
    """The account's keys from the environment or the OS keyring (None: public access only)."""
    env = os.environ if environ is None else environ
    if account.api_key_env is not None and account.api_secret_env is not None:
        missing = [v for v in (account.api_key_env, account.api_secret_env) if not env.get(v)]
        if missing:
            raise InputError(f"accounts.{name}.api_key_env",
                             "environment variables that are set", ", ".join(missing))
        phrase = None
        if account.api_passphrase_env is not None:
            if not env.get(account.api_passphrase_env):
                raise InputError(f"accounts.{name}.api_passphrase_env",
                                 "an environment variable that is set", account.api_passphrase_env)
            phrase = SecretStr(env[account.api_passphrase_env])
        return Credentials(SecretStr(env[account.api_key_env]),
                           SecretStr(env[account.api_secret_env]), phrase)
    if account.keyring_service is not None:
        import keyring  # imported here: only keyring users need a keyring backend

        key = keyring.get_password(account.keyring_service, "api_key")
        secret = keyring.get_password(account.keyring_service, "api_secret")
        if not key or not secret:
            raise InputError(f"accounts.{name}.keyring_service",
                             "a keyring entry with api_key and api_secret",
                             account.keyring_service)
        stored = keyring.get_password(account.keyring_service, "api_passphrase")  # OKX
        return Credentials(SecretStr(key), SecretStr(secret), SecretStr(stored) if stored else None)
    return None
