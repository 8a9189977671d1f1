"""Pure values and contract math: no I/O, no clock, no environment. Money is ``Decimal``."""
