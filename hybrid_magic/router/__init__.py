"""Routing: signals (pure measurements) and policies (signals -> Decision)."""
from .policy import POLICIES, Policy, PolicyParams, decide, register_policy
from . import default_router  # noqa: F401  (registers the default policy)
from .privacy import Finding, find_sensitive, redact
from .signals import DuringMonitor, Thresholds, after_signals

__all__ = [
    "POLICIES", "Policy", "PolicyParams", "decide", "register_policy",
    "Finding", "find_sensitive", "redact",
    "DuringMonitor", "Thresholds", "after_signals",
]
