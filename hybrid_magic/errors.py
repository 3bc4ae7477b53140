"""Errors a user can fix. The magic prints their message on one line, without a traceback.

Anything that is not a HybridError is a bug and keeps its traceback.
"""


class HybridError(Exception):
    """Base class: the message says what went wrong and how to fix it."""


class UsageError(HybridError):
    """Bad magic options, empty cell, invalid numbers."""


class ModelNotFoundError(HybridError):
    """Unknown model name, missing path, unreachable hub id."""


class BackendUnavailableError(HybridError):
    """The requested backend's library is not installed."""


class ContextOverflowError(HybridError):
    """The prompt does not fit the local model's context."""


class CloudError(HybridError):
    """The cloud call failed: no key, bad key, server down, timeout, rate limit."""


class LedgerError(HybridError):
    """The ledger could not be read (history, status, audit); runs and answers go on."""
