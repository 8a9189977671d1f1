"""Where the API token comes from: the environment, else the keyring, never the config file."""

from __future__ import annotations

from collections.abc import Iterator

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.errors import KeyringError

from perphedge.web.auth import KEYRING_SERVICE, KEYRING_USER, TOKEN_ENV, resolve_api_token


class MemoryKeyring(KeyringBackend):
    """A hand-written keyring holding passwords in a dict."""

    priority = 1  # type: ignore[assignment]

    def __init__(self, entries: dict[tuple[str, str], str], *, broken: bool = False) -> None:
        super().__init__()
        self.entries = entries
        self.broken = broken

    def get_password(self, service: str, username: str) -> str | None:
        if self.broken:
            raise KeyringError("locked")
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.entries.pop((service, username), None)


@pytest.fixture
def restore_keyring() -> Iterator[None]:
    before = keyring.get_keyring()
    yield
    keyring.set_keyring(before)


@pytest.mark.usefixtures("restore_keyring")
def test_the_environment_wins_then_the_keyring_then_none(monkeypatch: pytest.MonkeyPatch) -> None:
    keyring.set_keyring(MemoryKeyring({(KEYRING_SERVICE, KEYRING_USER): "from-keyring"}))
    monkeypatch.setenv(TOKEN_ENV, "from-env")
    token = resolve_api_token()
    assert token is not None
    assert token.get_secret_value() == "from-env"
    assert "from-env" not in repr(token)

    monkeypatch.delenv(TOKEN_ENV)
    token = resolve_api_token()
    assert token is not None
    assert token.get_secret_value() == "from-keyring"

    keyring.set_keyring(MemoryKeyring({}))
    assert resolve_api_token() is None
    keyring.set_keyring(MemoryKeyring({}, broken=True))
    assert resolve_api_token() is None  # a locked keyring means no token, not a crash
