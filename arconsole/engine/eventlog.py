"""One log line per engine event, for `arconsole run` (stderr) and the console's event tab."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TextIO

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
from arconsole.wording import counted


def describe(event: Event) -> tuple[str, str]:
    """(level, text) for an event, with every control or invisible character escaped:
    alert fields (ids, agent, addresses, script output) are attacker-controlled."""
    level, text = _describe(event)
    return level, literal(text)


def _describe(event: Event) -> tuple[str, str]:
    describer = _DESCRIBERS.get(type(event))
    if describer is None:  # a subclass: the first kind it is an instance of
        describer = next((function for kind, function in _DESCRIBERS.items()
                          if isinstance(event, kind)), _kind_only)
    return describer(event)


def _alert_handled(event: AlertHandled) -> tuple[str, str]:
    fired = ", ".join(event.fired) or "nothing"
    # Alerts that fire nothing are the bulk of a backlog: kept out of the default log.
    level = "info" if event.fired else "debug"
    return level, (f"alert {_safe(event.alert_id)} rule {_safe(event.rule_id)} "
                   f"level {event.level} srcip {_safe(event.srcip)} -> {fired}")


def _input_error(event: InputError) -> tuple[str, str]:
    return "warning", f"line {event.line} skipped: {event.error}"


def _script_ran(event: ScriptRan) -> tuple[str, str]:
    if event.ok:  # a dry run's imagined run ran nothing: "ok" would say it worked
        status = "nothing run" if event.action.endswith("(dry-run)") else "ok"
    else:
        status = event.error or ("timed out" if event.timed_out else f"exit {event.returncode}")
    # The engine's answer to the script's check_keys ("continue" or "abort").
    reply = f", answered {event.reply}" if event.reply else ""
    key = f" key {_safe(event.key)}" if event.key else ""
    return ("info" if event.ok else "error"), (
        f"{event.action} {event.program}{key}{reply}: {status}")


def _block_changed(event: BlockChanged) -> tuple[str, str]:
    block = event.block
    return ("error" if event.change == "failed" else "info"), (
        f"block {event.change}: {_safe(str(block.get('key')))} ({block.get('name')}, "
        f"{block.get('timeout')}s)" + (f": {block.get('last_error')}"
                                      if event.change == "failed" else ""))


def _undelivered(event: Undelivered) -> tuple[str, str]:
    # "all" stands for every active agent when no --agents list names them.
    target = "all agents" if event.target == "all" else f"agent {event.target}"
    return "warning", (f"{event.response} for {target} (alert {event.alert_id}) "
                       "not delivered: no agent transport configured")


def _config_loaded(event: ConfigLoaded) -> tuple[str, str]:
    return "info", f"config generation {event.generation} loaded: {event.summary}"


def _config_rejected(event: ConfigRejected) -> tuple[str, str]:
    return "error", (f"config reload rejected ({counted(event.errors, 'error')}); keeping the last "
                     f"good config: {event.first_error}")


def _notice(event: Notice) -> tuple[str, str]:
    return event.level, event.message


def _store_health_changed(event: StoreHealthChanged) -> tuple[str, str]:
    # The Notice published with it is the one clear line; this is the console's state.
    return "debug", (f"store fault: {event.fault}" if event.fault is not None
                     else "store fault cleared")


def _backlog_progress(event: BacklogProgress) -> tuple[str, str]:
    percent = event.done * 100 // max(1, event.total)
    return "progress", f"backlog {percent}% ({event.done}/{event.total} bytes)"


def _operator_action(event: OperatorAction) -> tuple[str, str]:
    return ("info" if event.ok else "warning"), (
        f"operator {event.operator}: {event.action} {event.target}: {event.detail}")


def _kind_only(event: Event) -> tuple[str, str]:
    return "info", event.kind


# By exact type: a backlog describes a few events per alert, an isinstance chain costs.
_DESCRIBERS: dict[type[Event], Callable[[Any], tuple[str, str]]] = {
    AlertHandled: _alert_handled,
    InputError: _input_error,
    ScriptRan: _script_ran,
    BlockChanged: _block_changed,
    Undelivered: _undelivered,
    ConfigLoaded: _config_loaded,
    ConfigRejected: _config_rejected,
    Notice: _notice,
    StoreHealthChanged: _store_health_changed,
    BacklogProgress: _backlog_progress,
    OperatorAction: _operator_action,
}


_UNSEEN = "unseen"  # a level not met yet in this batch


def _safe(text: str | None) -> str:
    if text is None:
        return "-"
    if text.isascii() and text.isprintable() and "\\" not in text:
        return text  # what unicode_escape would give back unchanged: the common case
    return text.encode("unicode_escape").decode("ascii")


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
        lines: list[str] = []
        append = lines.append
        verbose, quiet = self.verbose, self.quiet
        # level -> the line's start, or None when that level is not logged
        prefixes: dict[str, str | None] = {}
        describers = _DESCRIBERS
        for event in events:
            if not verbose and type(event) is AlertHandled and not event.fired:
                continue  # debug (see _alert_handled): not worth formatting to drop
            describer = describers.get(type(event))
            level, text = _describe(event) if describer is None else describer(event)
            prefix = prefixes.get(level, _UNSEEN)
            if prefix is _UNSEEN:
                logged = not ((level == "debug" and not verbose) or (quiet and level == "info"))
                prefix = prefixes[level] = f"{stamp} arconsole {level}: " if logged else None
            if prefix is not None:
                # The common line is printable ASCII: literal() would give it back as it is.
                safe = text if text.isascii() and text.isprintable() else literal(text)
                append(f"{prefix}{safe}\n")
        if lines:
            self.stream.write("".join(lines))
            self.stream.flush()


class LineHandler(logging.Handler):
    """The follower's and the file watcher's own words (Python logging: a rotation, a file
    that cannot be read) as lines of the same log: without it Python printed the warnings
    bare, with no time or level, and dropped the rest."""

    def __init__(self, lines: EventLogger) -> None:
        super().__init__(logging.INFO)
        self._lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR:
            level = "error"
        elif record.levelno >= logging.WARNING:
            level = "warning"
        else:
            level = "info"
        if self._lines.quiet and level == "info":
            return
        try:
            self._lines.line(literal(record.getMessage()), level)
        except Exception:  # a log line must never stop the engine
            self.handleError(record)
