"""One log line per engine event, for `arconsole run` (stderr) and the console's event tab."""

from __future__ import annotations

import time
from typing import TextIO

from arconsole.engine.bus import Subscription
from arconsole.engine.events import (
    AlertHandled,
    BacklogProgress,
    BlockChanged,
    ConfigLoaded,
    ConfigRejected,
    Event,
    InputError,
    Notice,
    OperatorAction,
    ScriptRan,
    StoreHealthChanged,
    Undelivered,
)
from arconsole.safetext import literal


def describe(event: Event) -> tuple[str, str]:
    """(level, text) for an event, with every control or invisible character escaped:
    alert fields (ids, agent, addresses, script output) are attacker-controlled."""
    level, text = _describe(event)
    return level, literal(text)


def _describe(event: Event) -> tuple[str, str]:
    if isinstance(event, AlertHandled):
        fired = ", ".join(event.fired) or "nothing"
        # Alerts that fire nothing are the bulk of a backlog: kept out of the default log.
        level = "info" if event.fired else "debug"
        return level, (f"alert {_safe(event.alert_id)} rule {_safe(event.rule_id)} "
                       f"level {event.level} srcip {_safe(event.srcip)} -> {fired}")
    if isinstance(event, InputError):
        return "warning", f"line {event.line} skipped: {event.error}"
    if isinstance(event, ScriptRan):
        status = "ok" if event.ok else (event.error or (
            "timed out" if event.timed_out else f"exit {event.returncode}"))
        reply = f" {event.reply}" if event.reply else ""
        key = f" key {_safe(event.key)}" if event.key else ""
        return ("info" if event.ok else "error"), (
            f"{event.action} {event.program}{key}{reply}: {status}")
    if isinstance(event, BlockChanged):
        block = event.block
        return ("error" if event.change == "failed" else "info"), (
            f"block {event.change}: {_safe(str(block.get('key')))} ({block.get('name')}, "
            f"{block.get('timeout')}s)" + (f": {block.get('last_error')}"
                                          if event.change == "failed" else ""))
    if isinstance(event, Undelivered):
        return "warning", (f"{event.response} for agent {event.target} (alert {event.alert_id}) "
                           "not delivered: no agent transport configured")
    if isinstance(event, ConfigLoaded):
        return "info", f"config generation {event.generation} loaded: {event.summary}"
    if isinstance(event, ConfigRejected):
        return "error", (f"config reload rejected ({event.errors} error(s)); keeping the last "
                         f"good config: {event.first_error}")
    if isinstance(event, Notice):
        return event.level, event.message
    if isinstance(event, StoreHealthChanged):
        # The Notice published with it is the one clear line; this is the console's state.
        return "debug", (f"store fault: {event.fault}" if event.fault is not None
                         else "store fault cleared")
    if isinstance(event, BacklogProgress):
        percent = event.done * 100 // max(1, event.total)
        return "progress", f"backlog {percent}% ({event.done}/{event.total} bytes)"
    if isinstance(event, OperatorAction):
        return ("info" if event.ok else "warning"), (
            f"operator {event.operator}: {event.action} {event.target}: {event.detail}")
    return "info", event.kind


def _safe(text: str | None) -> str:
    if text is None:
        return "-"
    escaped = text.encode("unicode_escape").decode("ascii")
    return escaped


class EventLogger:
    def __init__(self, stream: TextIO, *, quiet: bool = False, verbose: bool = False) -> None:
        self.stream = stream
        self.quiet = quiet
        self.verbose = verbose

    def line(self, text: str, level: str = "info") -> None:
        stamp = time.strftime("%Y/%m/%d %H:%M:%S")
        self.stream.write(f"{stamp} arconsole {level}: {text}\n")
        self.stream.flush()

    def event(self, event: Event) -> None:
        level, text = describe(event)
        if (level == "debug" and not self.verbose) or (self.quiet and level == "info"):
            return
        self.line(text, level)

    async def follow(self, subscription: Subscription) -> None:
        while True:
            self._write_batch(await subscription.next_batch())

    def flush(self, subscription: Subscription) -> None:
        self._write_batch(subscription.drain())

    def _write_batch(self, events: list[Event]) -> None:
        """One write and one flush for a whole batch: a backlog logs thousands at a time."""
        stamp = time.strftime("%Y/%m/%d %H:%M:%S")
        lines = []
        for event in events:
            level, text = describe(event)
            if (level == "debug" and not self.verbose) or (self.quiet and level == "info"):
                continue
            lines.append(f"{stamp} arconsole {level}: {text}\n")
        if lines:
            self.stream.write("".join(lines))
            self.stream.flush()
