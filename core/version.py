"""The version of daert, for HTTP agents, the API and migrations."""

__version__ = "0.1.0"
