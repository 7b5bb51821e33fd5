"""pantau: network-infrastructure and blankspot monitoring for local governments."""

__version__ = "0.1.0"
