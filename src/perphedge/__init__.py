"""perphedge: lock the value of crypto holdings with USDT-margined perpetuals."""

__version__ = "0.1.0"
