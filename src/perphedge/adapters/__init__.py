"""The only code that does I/O: bundled files, exchanges (ccxt), the store, notifiers."""
