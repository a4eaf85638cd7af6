"""The one exception hierarchy; the CLI and the web layer translate it at the edge."""

from __future__ import annotations


class FeedsvcError(Exception):
    """Base of every error feedsvc raises on purpose."""


class ConfigError(FeedsvcError):
    """The configuration is unusable; ``problems`` lists each as ``key.path: message``."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: invalid configuration\n" + "\n".join(f"  {p}" for p in problems))


class ArticleError(FeedsvcError):
    """One article file cannot be published."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}")


class StoreUnavailable(FeedsvcError):
    """The index cannot be opened or read (not created yet, corrupt, or unreadable)."""


class WorkerDied(FeedsvcError):
    """A worker process ended without handing back its result (killed, out of memory): what
    was committed before stays, and the next scan or build carries on from there."""
