"""Faithful loopback fakes of exchange APIs, backed by perphedge's own simulator."""
