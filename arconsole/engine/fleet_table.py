"""The fleet table: every agent's blocks, followed from the agents' own active-response logs.

An agent's execd runs a script, the script logs the message it got, logcollector ships the line
and the manager raises rules 650-658 (JSON, `ar_log_json`) or 600-607 (legacy, `ar_log`), group
`active_response` (fleet.md F2). From those alerts alone a row of (agent, program, key) is
kept: `add` starts it or refreshes it (execd reset its timer), `delete` ends it. The timeout is
not in the message; it follows from the manager's config: the responses whose executable is the
program and which bind the trigger alert (`data.parameters.alert`, every scalar a string there)
give it, as a range when there are several, or "unknown" when none does.

States: `active`; `lifted` after a delete; `overdue` when the expected end plus 30 s has passed
without a delete (agent offline or stopped?). Nothing here runs anything.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

import msgspec

from arconsole.alerts.ar_lines import (
    Unvouched,
    lone_trigger,
    read_ar_fields,
    reading_of,
    trigger_of,
)
from arconsole.alerts.crafted import DECISION_KEYS, crafted_keys
from arconsole.alerts.jsonreader import decode_alert_line
from arconsole.alerts.model import Alert, AlertError
from arconsole.config.model import ActiveResponse
from arconsole.engine.agent_messages import REVERSE_SCRIPT
from arconsole.engine.fleet_bounds import (
    PER_AGENT_ACTIVE,
    STALE_AFTER,
    TOTAL_ACTIVE,
    FleetBounds,
    Ident,
)
from arconsole.engine.fleet_store import FleetRow, FleetStore
from arconsole.safetext import literal

AR_RULES = frozenset({*range(600, 608), *range(650, 659)})
AR_GROUP = "active_response"
OVERDUE_GRACE = 30.0
EXECD_TICK = 1.0  # execd checks its timers once a second (spec 7.4)
LIFTED_KEEP = 10_000  # lifted rows kept at most (the newest)
LIFTED_RETENTION = 24 * 3600.0  # lifted rows older than this are dropped
AGE_CHECK_EVERY = 600.0  # how often (alert time) old lifted rows are looked for


class ArLogEntry(msgspec.Struct, frozen=True, gc=False):
    """What one AR log alert says: agent, program, key, add or delete, and its trigger.
    (A msgspec Struct: one is built per AR alert, on the fleet table's hot path.)"""

    agent: str
    agent_name: str
    program: str
    key: str
    command: str  # add | delete
    rule_id: str
    at: float  # the manager's time of the alert
    trigger: Alert | None  # data.parameters.alert's rule, as an alert (None for legacy lines)
    origin_module: str
    trigger_timestamp: str = ""  # data.parameters.alert.timestamp


_NONE = msgspec.Raw(b"null")


class _Trigger(msgspec.Struct):
    timestamp: str = ""
    rule: msgspec.Raw = _NONE  # decoded on its own: its members' order is read from it


class _Params(msgspec.Struct):
    program: str = ""
    alert: msgspec.Raw = _NONE


class _Origin(msgspec.Struct):
    module: str = ""


class _Data(msgspec.Struct):
    command: str | None = None
    srcip: str | None = None
    dstuser: str | None = None
    parameters: _Params | None = None
    origin: _Origin | None = None
    script: str | None = None  # legacy ar_log
    type: str | None = None  # legacy ar_log


class _Agent(msgspec.Struct):
    id: str = ""
    name: str = ""


class _ArLine(msgspec.Struct):
    timestamp: str = ""
    agent: _Agent | None = None
    data: _Data | None = None


_decode_ar = msgspec.json.Decoder(_ArLine).decode
_decode_trigger = msgspec.json.Decoder(_Trigger).decode
_TRIGGERS_LIMIT = 4096  # bindings remembered (`FleetTable._bound`) before starting over
AR_RULE_IDS = frozenset(str(number) for number in AR_RULES)
# The keys a fleet row is read from, beside a decision's (`crafted.DECISION_KEYS`): checked
# exactly (repeats, other cases, NULs) when the typed reading cannot vouch for a line.
FLEET_KEYS: dict[str, Any] = {**DECISION_KEYS, "data": {
    **(DECISION_KEYS["data"] or {}),
    "command": None, "script": None, "type": None, "origin": {"module": None},
    "parameters": {"program": None,
                   "alert": {"timestamp": None, "rule": DECISION_KEYS["rule"]}}}}
_INT_FIELDS = ("level", "firedtimes")


def is_ar_log_alert(alert: Alert) -> bool:
    """Rules 600-607 / 650-658 in group active_response (cheap: rule id first)."""
    return alert.rule_id in AR_RULE_IDS and AR_GROUP in alert.groups


def alert_time(timestamp: str) -> float | None:
    """Seconds since the epoch of an alert's `timestamp` (`2026-05-03T05:23:56.662+0000`)."""
    try:  # the C parser, when it reads the zone (3.11 reads Wazuh's `+0000`)
        parsed = dt.datetime.fromisoformat(timestamp)
    except ValueError:
        parsed = None
    if parsed is not None and parsed.tzinfo is not None:
        return parsed.timestamp()
    try:
        return dt.datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
    except ValueError:
        try:
            return dt.datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%S%z").timestamp()
        except ValueError:
            return None


def program_name(path: str) -> str:
    """`active-response/bin/firewall-drop` -> `firewall-drop` (legacy paths are absolute)."""
    return path[path.rfind("/") + 1:]


def trigger_alert(raw: bytes) -> Alert | None:
    """`data.parameters.alert` as an Alert, as far as the fleet row needs it: timestamp,
    rule id, level, description and groups (the rest of the alert is not read). The JSON
    decoder made every scalar a string there (`"level":"5"`): numbers get their type back."""
    found, timestamp = _shared_trigger(raw)
    return msgspec.structs.replace(found, timestamp=timestamp) if found else None


def _shared_trigger(raw: bytes) -> tuple[Alert | None, str]:
    """(the trigger's rule as an Alert, the trigger's timestamp): the Alert `ar_lines`
    shares between the triggers of one rule (`trigger_of`), or, for a rule written in a way
    it cannot vouch for (spaces, a member unknown there), one made for this trigger alone;
    an odd shape (a number where the groups belong) is read whole."""
    try:
        trigger = _decode_trigger(raw)
    except (msgspec.ValidationError, msgspec.DecodeError):
        trigger = None
    if trigger is not None:
        written = bytes(trigger.rule)
        if written == b"null":
            return None, trigger.timestamp
        try:
            return trigger_of(written), trigger.timestamp
        except Unvouched:
            pass
        try:
            # The keys the binding reads were checked exactly (`checked_entry`).
            return lone_trigger(written), trigger.timestamp
        except (msgspec.ValidationError, msgspec.DecodeError):
            pass
    whole = _whole_trigger(raw)  # an odd shape: read it whole, as before
    return whole, whole.timestamp if whole is not None else ""


def _whole_trigger(raw: bytes) -> Alert | None:
    try:
        document: Any = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return None
    if not isinstance(document, dict) or not isinstance(document.get("rule"), dict):
        return None
    rule = document["rule"]
    for name in _INT_FIELDS:
        value = rule.get(name)
        if isinstance(value, str) and value.strip().isdigit():
            rule[name] = int(value)
    try:
        return decode_alert_line(msgspec.json.encode(document))
    except AlertError:
        return None


def read_ar_log_alert(alert: Alert, received_at: float) -> ArLogEntry | None:
    """The fleet entry an AR log alert stands for, or None if it names no block;
    `AlertError` when a key the fleet reads is crafted (`checked_entry`)."""
    if not is_ar_log_alert(alert):
        return None
    return read_ar_entry(alert, received_at)


def read_ar_entry(alert: Alert, received_at: float) -> ArLogEntry | None:
    """`read_ar_log_alert` for an alert known to be an AR log alert. The agent, the key
    (data.srcip, else data.dstuser) and the timestamp come from the intake's Alert; the rest
    from the reading the intake made of the same line (`ar_lines.reading_of`), else from one
    typed reading that vouches for every key it reads (`read_ar_fields`). A line neither can
    vouch for (legacy text, another shape, repeated or re-cased keys) is checked exactly first:
    the fleet's keys are a decision's (binding) and a reverse's (agent, program, key), so a
    key read one way here and another way by the agent's script is refused, never guessed:
    `AlertError("crafted: ...")`, which the intake counts and skips as any refused line."""
    agent_id = alert.agent_id
    if agent_id:
        reading = reading_of(alert) or read_ar_fields(alert.raw)
        if reading is not None:
            command = reading.command
            program = program_name(reading.program)
            key = alert.srcip or alert.dstuser
            if (command != "add" and command != "delete") or not program or not key:
                return None
            return ArLogEntry(
                agent_id, alert.agent_name or "", program, key, command, alert.rule_id,
                alert_time(alert.timestamp) or received_at, reading.trigger,
                reading.origin_module, reading.trigger_timestamp)
    return checked_entry(alert, received_at)


def checked_entry(alert: Alert, received_at: float) -> ArLogEntry | None:
    """The entry of an AR log alert the typed reading could not vouch for: refused when a
    key the fleet reads is ambiguous between JSON readers (`crafted_keys` on `FLEET_KEYS`:
    `AlertError("crafted: ...")`, a bad line), else read leniently (legacy text 600-607
    included)."""
    reason = crafted_keys(alert.raw, FLEET_KEYS)
    if reason is not None:
        raise AlertError(f"crafted: {reason}")
    try:
        line = _decode_ar(alert.raw)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    data = line.data
    agent = line.agent
    if data is None or agent is None or not agent.id:
        return None
    trigger = None
    module = trigger_timestamp = ""
    if data.parameters is not None:  # JSON (650-658)
        command = data.command or ""
        program_path = data.parameters.program
        trigger, trigger_timestamp = _shared_trigger(bytes(data.parameters.alert))
        module = data.origin.module if data.origin else ""
    else:  # legacy text (600-607)
        command = data.type or ""
        program_path = data.script or ""
    return _entry(alert, received_at, agent, command, program_path, data.srcip or data.dstuser,
                  trigger, module, line.timestamp, trigger_timestamp)


def _entry(alert: Alert, received_at: float, agent: _Agent, command: str, program_path: str,
           key: str | None, trigger: Alert | None, module: str,
           timestamp: str, trigger_timestamp: str) -> ArLogEntry | None:
    program = program_name(program_path)
    if command not in ("add", "delete") or not program or not key:
        return None
    at = alert_time(timestamp) or received_at
    return ArLogEntry(agent.id, agent.name, program, key, command, alert.rule_id, at, trigger,
                      module, trigger_timestamp)


Binder = Callable[[Alert], Iterable[ActiveResponse]]


class FleetTable:
    """Rows by (agent, program, key); persisted through `FleetStore` when one is given."""

    def __init__(self, store: FleetStore | None = None, *, write_behind: bool = False,
                 lifted_keep: int = LIFTED_KEEP, lifted_retention: float = LIFTED_RETENTION,
                 per_agent: int = PER_AGENT_ACTIVE, total: int = TOTAL_ACTIVE,
                 tell: Callable[[str], None] | None = None) -> None:
        self._store = store
        # Active rows: keys of the program's shape, capped per agent and in all (fleet_bounds).
        self.bounds = FleetBounds(per_agent=per_agent, total=total, evictable_at=evictable_at,
                                  tell=tell)
        # Lifted rows are history: kept a day, and at most `lifted_keep` of them, so AR lines
        # for ever new keys (spoofed add + delete pairs) cannot grow the table without bound.
        self._lifted_keep = lifted_keep
        self._lifted_retention = lifted_retention
        self._lifted: dict[tuple[str, str, str], float] = {}  # in the order they were lifted
        self._next_age_check = -float("inf")
        self._forget: set[tuple[str, str, str]] = set()  # pruned, still to delete from store
        # write_behind: rows changed in one event-loop turn are saved together at its end
        # (a burst of AR alerts costs one transaction, as the block book's group commit).
        self._write_behind = write_behind
        self._dirty: dict[tuple[str, str, str], FleetRow] = {}
        self.rows: dict[tuple[str, str, str], FleetRow] = {}
        # (trigger's rule id, level, group string, program) -> (timeout_min, timeout_max,
        # responses) under `_bound_by`:
        # the binding depends on the trigger's rule and the config only (a new binder, a
        # new config: forgotten).
        self._bound: dict[tuple[str, int, str, str], tuple[int | None, int | None, str]] = {}
        self._bound_by: Binder | None = None
        if store is not None:
            for row in store.load_rows():
                self.rows[(row.agent, row.program, row.key)] = row
            lifted = [row for row in self.rows.values() if not row.active]
            lifted.sort(key=lambda row: row.lifted_at or 0.0)
            self._lifted = {(row.agent, row.program, row.key): row.lifted_at or 0.0
                            for row in lifted}
            for ident, row in self.rows.items():
                if row.active:
                    self.bounds.added(ident)

    @property
    def store(self) -> FleetStore | None:
        return self._store

    def flush(self) -> None:
        """Save the rows changed since the last flush, in one transaction; then delete the
        pruned ones (after, so a pruned row's last image saved here does not bring it back;
        a row added again since it was pruned is kept)."""
        dirty, self._dirty = self._dirty, {}
        if dirty and self._store is not None:
            self._store.save_rows(dirty.values())
        forget = [ident for ident in self._forget if ident not in self.rows]
        self._forget.clear()
        if forget and self._store is not None:
            self._store.forget_rows(forget)

    def _prune(self, now: float) -> None:
        """Drop the oldest lifted rows past the count, and (once in a while) the old ones.
        Done in batches: each pruning folds the rows log into the state file."""
        over = len(self._lifted) - self._lifted_keep
        aged = now >= self._next_age_check
        if over < max(1, self._lifted_keep // 10) and not aged:
            return
        if aged:
            self._next_age_check = now + AGE_CHECK_EVERY
        cutoff = now - self._lifted_retention
        pruned: list[tuple[str, str, str]] = []
        for ident, lifted_at in self._lifted.items():
            if len(self._lifted) - len(pruned) > self._lifted_keep or lifted_at < cutoff:
                pruned.append(ident)
            else:
                break
        for ident in pruned:
            del self._lifted[ident]
            self.rows.pop(ident, None)
            self._dirty.pop(ident, None)
        if not pruned or self._store is None:
            return
        self._forget.update(pruned)
        if not self._write_behind:
            self.flush()
        elif not self._dirty:
            asyncio.get_running_loop().call_soon(self.flush)

    def apply(self, entry: ArLogEntry, binder: Binder | None) -> FleetRow | None:
        """Update the table with one AR log entry; the row it changed (None for the
        reverse helper's own line, which confirms a delivery but is no block)."""
        program = entry.program
        if program == REVERSE_SCRIPT:
            return None
        agent = entry.agent
        key = entry.key
        ident = (agent, program, key)
        rows = self.rows
        row = rows.get(ident)
        at = entry.at
        if entry.command == "add":
            if row is not None and row.active:  # a repeat: execd reset its timer
                row.adds += 1
                row.last_added = at
                row.agent_name = entry.agent_name or row.agent_name
                row.last_rule = entry.rule_id
            else:
                victims = self.bounds.admit(ident, rows, at)  # (counts it active)
                if victims is None:
                    return None  # not the program's key shape, or over a cap (counted, told)
                for victim in victims:
                    self._drop(victim)
                if row is None:
                    row = rows[ident] = FleetRow(agent, program, key, entry.agent_name, True,
                                                 at, at, None, 1, last_rule=entry.rule_id)
                else:  # lifted, and added again
                    row.agent_name = entry.agent_name or row.agent_name
                    row.last_rule = entry.rule_id
                    row.active = True
                    row.first_added = row.last_added = at
                    row.adds = 1
                    row.lifted_at = None
                    self._lifted.pop(ident, None)
            trigger = entry.trigger
            if trigger is not None:
                row.trigger_rule = trigger.rule_id
                row.trigger_description = trigger.description
                row.trigger_timestamp = entry.trigger_timestamp
                binding = (trigger.rule_id, trigger.level, trigger.group_string, program)
                bound = self._bound.get(binding) if binder == self._bound_by else None
                row.timeout_min, row.timeout_max, row.responses = (
                    bound if bound is not None else self._binding(binding, trigger, binder))
        else:
            if row is None:
                # A delete of a block never seen lifts nothing; a row for it would let spoofed
                # rule-652 lines grow the table (and the state file) without bound.
                return None
            row.agent_name = entry.agent_name or row.agent_name
            row.last_rule = entry.rule_id
            if row.active:
                self.bounds.ended(ident)
            row.active = False
            row.lifted_at = at
            self._lifted.pop(ident, None)
            self._lifted[ident] = at
        store = self._store
        if store is not None:  # at once, or with the rest of the turn's rows (`flush`)
            if not self._write_behind:
                store.save_row(row)
            else:
                dirty = self._dirty
                if not dirty:
                    asyncio.get_running_loop().call_soon(self.flush)
                dirty[ident] = row
        if not row.active:
            self._prune(at)
        return row

    def _drop(self, ident: Ident) -> None:
        """An active row dropped to make room under a cap (it is overdue): gone from the
        table and, at the next flush, from the state file."""
        self.rows.pop(ident, None)
        self.bounds.ended(ident)
        self._dirty.pop(ident, None)
        if self._store is None:
            return
        self._forget.add(ident)
        if not self._write_behind:
            self.flush()
        elif not self._dirty:
            asyncio.get_running_loop().call_soon(self.flush)

    def _binding(self, key: tuple[str, int, str, str], trigger: Alert, binder: Binder | None
                 ) -> tuple[int | None, int | None, str]:
        """(timeout_min, timeout_max, responses) of the responses running `key[3]` that
        `binder` binds to the trigger, remembered under `key` (what the binding reads of an
        alert, `Decider._binding`, and the program) until the binder changes."""
        if binder is None:
            return None, None, ""
        if binder != self._bound_by or len(self._bound) >= _TRIGGERS_LIMIT:
            self._bound_by = binder
            self._bound.clear()
        timeouts: list[int] = []
        names: list[str] = []
        for response in binder(trigger):
            if response.executable == key[3]:
                timeouts.append(response.timeout or 0)
                names.append(response.name)
        bound = (min(timeouts) if timeouts else None, max(timeouts) if timeouts else None,
                 ",".join(names))
        self._bound[key] = bound
        return bound

    def get(self, agent: str, program: str, key: str) -> FleetRow | None:
        return self.rows.get((agent, program, key))

    def find(self, row_key: str) -> FleetRow | None:
        """By `AGENT:program-key`; AmbiguousRowKey when it splits into more than one row.

        Both program and key may hold `-` and both are the agents' (attacker's) text: a row
        (`firewall`, `drop-IP`) reads the same as (`firewall-drop`, `IP`). Taking the first
        would let a planted row capture the operator's reverse, so every match is collected.
        """
        agent, _, rest = row_key.partition(":")
        found = [row for (row_agent, program, key), row in self.rows.items()
                 if row_agent == agent and rest == f"{program}-{key}"]
        if len(found) > 1:
            raise AmbiguousRowKey(row_key, found)
        return found[0] if found else None


class AmbiguousRowKey(ValueError):
    """`AGENT:program-key` names more than one reported row; the candidates, escaped."""

    def __init__(self, row_key: str, rows: list[FleetRow]) -> None:
        candidates = "; ".join(f"program {literal(row.program)!r} key {literal(row.key)!r}"
                               for row in rows)
        super().__init__(f"ambiguous: {literal(row_key)} names {len(rows)} reported blocks "
                         f"({candidates}); not reversed, reverse it on the agent itself")
        self.rows = rows


def expected_end(row: FleetRow) -> tuple[float, float] | None:
    """(earliest, latest) end of an active row, or None when its timeout is unknown or 0."""
    if row.last_added is None or row.timeout_max is None or row.timeout_max == 0:
        return None
    low = row.timeout_min if row.timeout_min else row.timeout_max
    return row.last_added + low, row.last_added + row.timeout_max + EXECD_TICK


def evictable_at(row: FleetRow) -> float:
    """When an active row may give its place to a new one under a cap: once overdue, or,
    when its end is unknown or never comes, `STALE_AFTER` after its last add."""
    end = expected_end(row)
    if end is not None:
        return end[1] + OVERDUE_GRACE
    return (row.last_added or 0.0) + STALE_AFTER


def row_state(row: FleetRow, now: float) -> str:
    """`active`, `lifted`, or `overdue` (expected end + 30 s passed without a delete)."""
    if not row.active:
        return "lifted"
    end = expected_end(row)
    if end is not None and now > end[1] + OVERDUE_GRACE:
        return "overdue"
    return "active"


def describe_end(row: FleetRow) -> str:
    """The expected end as operators read it: a time, a range of times, or "unknown"."""
    end = expected_end(row)
    if end is None:
        return "unknown" if row.timeout_max is None else "never (stateless)"
    low, high = (dt.datetime.fromtimestamp(t).strftime("%H:%M:%S") for t in end)
    return low if row.timeout_min == row.timeout_max else f"{low}..{high}"


def consequence(row: FleetRow) -> str:
    """fleet.md F3: what an early reversal of a block held by the agent's execd leaves."""
    end = expected_end(row)
    if end is None:
        return "the agent keeps its own timer (its end is unknown); a repeat before then is " \
               "not re-blocked"
    until = dt.datetime.fromtimestamp(end[1]).strftime("%H:%M:%S")
    return f"the agent keeps its own timer until {until}; a repeat before then is not re-blocked"
