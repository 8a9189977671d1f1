"""perphedge: lock the value of crypto holdings with USDT-margined perpetuals, and keep the hedge alive."""

__version__ = "0.1.0"
