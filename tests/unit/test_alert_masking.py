"""Alert URLs with tokens are never shown in full: not in channel names, not in errors."""

from __future__ import annotations

import pytest

from perphedge.adapters.notify.apprise_notifier import AppriseNotifier, configured_urls, mask_url
from perphedge.config.models import AlertsConfig
from perphedge.errors import InputError

TOKEN = "123456789:AAEhBOweik6ad9r_secret"  # noqa: S105 -- a made-up bot token


def test_a_telegram_token_is_masked() -> None:
    masked = mask_url(f"tgram://{TOKEN}/987654")
    assert TOKEN not in masked
    assert "secret" not in masked
    assert masked.startswith("tgram://")


def test_a_password_in_a_webhook_url_is_masked() -> None:
    assert mask_url("jsons://ops:hunter22@hooks.example/x") == "jsons://ops:****@hooks.example/x"


def test_a_failing_channel_is_reported_masked_and_never_raises() -> None:
    notifier = AppriseNotifier([f"json://ops:{TOKEN}@127.0.0.1:9/hook"])
    (delivery,) = notifier.send("title", "body")
    assert not delivery.ok
    assert TOKEN not in delivery.describe()
    assert "secret" not in delivery.describe()


def test_urls_from_the_environment_are_added(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PH_TEST_ALERT_URLS", "json://127.0.0.1:9/a, json://127.0.0.1:9/b")
    config = AlertsConfig(urls=["json://127.0.0.1:9/c"], urls_env="PH_TEST_ALERT_URLS")
    assert configured_urls(config) == ["json://127.0.0.1:9/c", "json://127.0.0.1:9/a",
                                       "json://127.0.0.1:9/b"]


def test_an_unset_urls_env_is_bad_input_naming_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PH_TEST_ALERT_URLS", raising=False)
    with pytest.raises(InputError, match=r"^alerts.urls_env: expected an environment variable"):
        configured_urls(AlertsConfig(urls_env="PH_TEST_ALERT_URLS"))


def test_an_unknown_scheme_is_bad_input_without_the_url() -> None:
    with pytest.raises(InputError) as err:
        AppriseNotifier([f"nosuchservice://{TOKEN}"])
    assert TOKEN not in str(err.value)
    assert "alerts.urls[0]" in str(err.value)


def test_a_token_in_a_plain_webhooks_path_is_masked_in_results() -> None:
    token = "8f14e45fceea167a5a36dedd4bea2543"  # noqa: S105 -- a made-up webhook token
    notifier = AppriseNotifier([f"json://127.0.0.1:9/hooks/{token}"])
    assert notifier.channels == ["json://127.0.0.1:9/hooks/8...3"]
    (delivery,) = notifier.send("title", "body")
    assert token not in delivery.describe()
