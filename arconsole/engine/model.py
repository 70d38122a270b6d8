"""Engine data: blocks, operator actions and read positions. Plain data, no behaviour."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from arconsole.frozen import fast_copy_with, fast_init, fast_replace


class BlockState(StrEnum):
    ACTIVE = "active"
    REVERSING = "reversing"
    REVERSED = "reversed"
    FAILED = "failed"  # the add or the delete failed; kept and shown, never forgotten
    UNTRACKED = "untracked"  # stateful script printed no check_keys line (spec 1.4 item 5)


class Protocol(StrEnum):
    JSON = "json"  # Wazuh >= 4.2: JSON on stdin, check_keys handshake (spec 7.3, 8)
    ARGV = "argv"  # OSSEC / Wazuh < 4.2: argv words, no pipes (spec 9)


@dataclass(frozen=True, slots=True)
class Block:
    """A stateful response in force: Wazuh's timeout-list entry, persisted.

    `key` is execd's rkey: `<script basename>-<key>-<key>...` (spec 7.3 step 9) for the JSON
    protocol, `<path><srcip>` for argv (spec 9.2). `delete_message` is the stored message of the
    first alert with `"command":"delete"` (JSON), or the argv words with `delete` (argv, as a
    JSON array); it is what reverses the block, even after the config changed.
    Times are Unix seconds (float). `started_at` is when the add took effect and the block
    ends exactly at `expires_at = started_at + timeout` (execd compares whole seconds and
    reverses 0-2 s late; arconsole reverses on time).
    """

    key: str
    command: str  # <command><name>
    name: str  # response name, e.g. firewall-drop600
    executable: str  # file name in active-response/bin
    protocol: Protocol
    target: str  # "server" or an agent id
    srcip: str | None
    user: str | None
    started_at: float
    timeout: int  # seconds, after repeated-offender escalation
    offences: int  # repeated-offender count for the key when this was last set
    delete_message: bytes
    state: BlockState = BlockState.ACTIVE
    alert_id: str | None = None
    rule_id: str | None = None
    restored: bool = False  # restored from the state file at start (fail2ban's "restored")
    manual: bool = False  # added by an operator
    last_error: str | None = None
    dry_run: bool = False  # imagined by a dry run: never enforced, never reversed for real

    @property
    def expires_at(self) -> float:
        return self.started_at + self.timeout

    def expired(self, now: float) -> bool:
        return now >= self.expires_at

    def with_(self, **changes: object) -> Block:
        return _copy_block(self, **changes)  # dataclasses.replace, ~2.5x cheaper

    def refreshed(self, started_at: float, timeout: int, offences: int) -> Block:
        """A trigger's refresh of this block in force (execd's `abort`): its time starts again
        with its (escalated) timeout and count; no longer the block restored at start. Same
        as `with_(started_at=..., timeout=..., offences=..., restored=False)`, cheaper: most
        triggers of a backlog are refreshes."""
        return _refresh_block(self, started_at, timeout, offences, False)

    def to_json(self) -> dict[str, object]:
        return {
            "key": self.key,
            "command": self.command,
            "name": self.name,
            "executable": self.executable,
            "protocol": str(self.protocol),
            "target": self.target,
            "srcip": self.srcip,
            "user": self.user,
            "state": str(self.state),
            "started_at": self.started_at,
            "expires_at": self.expires_at,
            "timeout": self.timeout,
            "offences": self.offences,
            "alert_id": self.alert_id,
            "rule_id": self.rule_id,
            "restored": self.restored,
            "manual": self.manual,
            "last_error": self.last_error,
            "dry_run": self.dry_run,
        }


fast_init(Block)  # built or copied for every trigger: a backlog makes thousands a second
_copy_block = fast_replace(Block)
_refresh_block = fast_copy_with(Block, "started_at", "timeout", "offences", "restored")


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """An operator action: who did what, and exactly which command ran."""

    at: float
    operator: str  # user name, plus " from <SSH_CLIENT>" when set
    action: str  # reverse, extend, add, reverse-all...
    target: str  # block key or address
    detail: str  # the exact command run and its outcome


@dataclass(frozen=True, slots=True)
class ActionResult:
    """The outcome of an operator action (or a reversal), exactly as printed and audited."""

    ok: bool
    action: str
    target: str
    detail: str
    block: Block | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "action": self.action,
            "target": self.target,
            "detail": self.detail,
            "block": self.block.to_json() if self.block else None,
        }
