"""The commented example configuration that ``perphedge init`` writes."""

from __future__ import annotations

EXAMPLE_CONFIG = """\
# perphedge configuration. Every key is checked; an unknown key is an error.
# API keys are NEVER written here: name the environment variables that hold them, or a keyring.

[store]
# Where decisions, orders, fills, funding and snapshots are recorded.
# Default: an SQLite file in your user data directory. PostgreSQL works too:
# url = "postgresql+psycopg://user@localhost/perphedge"

[service]
# How `perphedge serve` runs unattended (docs/service.md).
# log_file = "~/.local/state/perphedge/serve.log"  # also log here (JSON lines, rotated)
# lease_ttl = "3m"                    # a killed service's hedges are taken over after this

[alerts]
# Where alerts go: Apprise URLs (Telegram, Discord, Slack, e-mail, ntfy, webhooks ...).
# urls = ["json://127.0.0.1:9000/hook"]
# urls_env = "PERPHEDGE_ALERT_URLS"   # URLs carrying tokens: keep them in a variable
runway_below_pct = 15                 # alert when liquidation is within this price move
funding_cost_above_pct_per_year = 20
repeat_every = "1h"                   # repeat an alert that still holds at most this often
# heartbeat_url = "https://hc-ping.com/your-check-id"  # fetched after every cycle

[accounts.main]
exchange = "binanceusdm"              # a ccxt exchange id (binanceusdm, okx, bybit)
api_key_env = "PERPHEDGE_MAIN_API_KEY"       # the variable holding the key
api_secret_env = "PERPHEDGE_MAIN_API_SECRET" # the variable holding the secret
# api_passphrase_env = "PERPHEDGE_MAIN_API_PASSPHRASE"  # OKX only: its API passphrase
# keyring_service = "perphedge-main"  # or: keys in the OS keyring (entries api_key, api_secret)
# url = "http://127.0.0.1:8900"       # point at the local exchange (`perphedge exchange serve`)

[[hedges]]
name = "btc-holding"
account = "main"
asset = "BTC"
kind = "holding"                      # holding: short hedge; purchase: long hedge (lock a buy)
# What to hedge: the account's spot balance, a declared quantity, or a sum of several.
exposure = { source = "balance" }
# exposure = { source = "declared", quantity = "5" }
# exposure = { source = "sum", parts = [{ source = "balance" },
#                                       { source = "declared", quantity = "2" }] }
hedge_ratio = "1"                     # 1 = fully hedged
# instrument = "BTC/USDT:USDT"        # default: the asset's USDT perpetual
margin_mode = "isolated"              # isolated keeps a liquidation to this position
leverage = 2                          # 1-2x keeps the hedge far from liquidation
drift_band_pct = "2"                  # rebalance when hedge and spot differ by more than this
policy = "managed"                    # static | managed | reserve
# leverage_band = ["1.5", "2.5"]      # managed/reserve: set only to override the policy's triggers
                                      # (default: cut back to the target past 1.25x it, no buy-back
                                      # on dips: the choice docs/backtest.md measured)
# reserve_usdt = "50000"              # reserve: USDT kept aside to top up margin
decision_interval = "1m"              # how often the engine looks (30s, 1m, 1h ...)

[hedges.execution]
style = "market"                      # market | limit_chase | slices
max_order_notional = "250000"         # larger orders are sliced
slice_interval = "30s"
"""
