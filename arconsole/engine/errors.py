"""The engine's own errors, shared by the façade and its stages."""

from __future__ import annotations


class EngineError(Exception):
    """The engine cannot start (bad config, state file owned by another engine...)."""


class ReadOnlyError(EngineError):
    """A change was asked of an engine started read-only."""
