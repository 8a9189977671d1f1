"""The API token: read from ``PERPHEDGE_API_TOKEN`` or the OS keyring, never from the config file.

Mutations (pause, resume, close) always need ``Authorization: Bearer <token>``; reads need it
too when the server listens beyond loopback. The token is compared in constant time and never
logged or echoed.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable
from typing import Annotated

from fastapi import HTTPException, Request, Security, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr

TOKEN_ENV = "PERPHEDGE_API_TOKEN"  # noqa: S105 - the variable's name, not a secret
#: Keyring entry: service ``perphedge``, user ``api_token``.
KEYRING_SERVICE, KEYRING_USER = "perphedge", "api_token"


def resolve_api_token() -> SecretStr | None:
    """``$PERPHEDGE_API_TOKEN``, else the keyring entry, else None (mutations refused)."""
    value = os.environ.get(TOKEN_ENV)
    if value:
        return SecretStr(value)
    try:
        import keyring  # imported here: only keyring users need a keyring backend
        from keyring.errors import KeyringError

        try:
            stored = keyring.get_password(KEYRING_SERVICE, KEYRING_USER)
        except KeyringError:
            return None
    except ImportError:  # pragma: no cover - keyring is a dependency
        return None
    return SecretStr(stored) if stored else None


def bearer_matches(request: Request, token: SecretStr | None) -> bool:
    """True when the request carries ``Authorization: Bearer <token>`` for a configured token."""
    if token is None:
        return False
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        return False
    return hmac.compare_digest(given.strip().encode(), token.get_secret_value().encode())


#: Declares the bearer scheme in the OpenAPI document (the docs page gets "Authorize").
BEARER = HTTPBearer(auto_error=False, description="PERPHEDGE_API_TOKEN (or the keyring's)")


def require(token: SecretStr | None, *,
            when: bool = True) -> Callable[[Request, HTTPAuthorizationCredentials | None], None]:
    """A FastAPI dependency refusing (401) a request without the token (if ``when``)."""

    def check(request: Request,
              _given: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)]) -> None:
        if when and not bearer_matches(request, token):
            detail = ("no API token is set (PERPHEDGE_API_TOKEN or the keyring)"
                      if token is None else "missing or wrong bearer token")
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail,
                                headers={"WWW-Authenticate": "Bearer"})

    return check
