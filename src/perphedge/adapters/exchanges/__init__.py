"""Exchanges through ccxt: venues, reply checks, refusals, ledgers, per-exchange quirks."""
