"""The one simulated exchange: Decimal account state for backtest, paper and local venues."""
