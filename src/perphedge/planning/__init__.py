"""Pure decisions: (hedge spec, observed state) → plans and actions. Shared by backtest and live."""
