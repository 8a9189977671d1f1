"""A local Binance-compatible USDⓈ-M and spot REST API over the one account simulator.

The server (:mod:`perphedge.exchange.server`) speaks Binance's wire format, auth and error
codes so that the real ccxt client runs end to end on this machine; every balance, position,
margin, funding and liquidation change is made by :class:`perphedge.sim.account.SimAccount`.
See ``docs/local_exchange.md``.
"""
