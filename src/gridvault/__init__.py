"""gridvault: a self-hosted energy-market data platform."""

__version__ = "0.1.0"
