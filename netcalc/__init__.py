"""netcalc: a command-line calculator for neural-network designs."""

__version__ = "0.1.0"
