"""Operator actions: confirm → run in the background → tell the outcome.

Each flow captures its target when the key is pressed (the block, as an immutable `BlockInfo`),
asks in a dialog that names exactly what will run, acts through the link *by key*, and tells
what the engine answered: one toast per action (one summary for a bulk action), a line in the
event log, and the blocks pane's subtitle. Read-only refusals are said here too, so a key
that cannot act never does nothing silently (the engine refuses anyway).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

from arconsole.config.executables import PROGRAM_DIR
from arconsole.config.model import Config
from arconsole.console.screens.dialogs import (
    BulkReverseScreen,
    ConfirmScreen,
    ExtendScreen,
    Facts,
    ManualBlock,
    ManualBlockScreen,
)
from arconsole.console.text import escape_text
from arconsole.durations import format_remaining
from arconsole.engine.link import BlockInfo, EngineLink, Outcome
from arconsole.engine.model import BlockState
from arconsole.engine.multilink import MultiLink

if TYPE_CHECKING:
    from textual.screen import Screen

RESULTS_KEPT = 200
INFO_TOAST_SECONDS = 5
ERROR_TOAST_SECONDS = 10

# What each write action is called in a read-only refusal ("read-only: reversing is off").
READ_ONLY_WORDS = {
    "reverse_block": "reversing",
    "bulk_reverse": "reversing",
    "extend_block": "extending",
    "manual_block": "blocking",
    "reload_config": "reloading the config",
}


def stamp(at: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at))


class FlowHost(Protocol):
    """What the flows need from the screen that runs them."""

    link: EngineLink | None
    config: Config | None
    operator: str
    last_result: str

    def clock(self) -> float: ...

    def push_dialog(self, screen: Screen[Any], callback: Callable[[Any], None]) -> None:
        ...

    def run_job(self, job: Awaitable[None]) -> None: ...

    def toast(self, text: str, *, error: bool) -> None: ...

    def log_lines(self, lines: Sequence[str]) -> None: ...


class ActionFlows:
    """The operator's write actions, each from key press to told outcome."""

    def __init__(self, host: FlowHost) -> None:
        self.host = host
        self.results: deque[Outcome] = deque(maxlen=RESULTS_KEPT)  # newest last

    # ------------------------------------------------------------------ facts

    def remaining(self, block: BlockInfo) -> str:
        if block.state is BlockState.UNTRACKED:
            return "never expires (untracked)"
        now = self.host.clock()
        left = int(max(0.0, block.expires_at - now))
        return f"{format_remaining(left)} at {stamp(now)}"

    def block_facts(self, block: BlockInfo) -> Facts:
        return [
            ("key", block.key),
            ("address/user", block.who),
            ("remaining", self.remaining(block)),
            ("state", str(block.state)),
            ("response", f"{block.name} (command {block.command}, target {block.target})"),
            ("offences", str(block.offences)),
        ]

    # ------------------------------------------------------------------ flows

    def refuse_read_only(self, action: str) -> None:
        """A write key pressed in read-only mode: say so instead of doing nothing."""
        word = READ_ONLY_WORDS.get(action, "changing anything")
        self.host.toast(f"read-only: {word} is off", error=True)

    def reverse(self, block: BlockInfo) -> None:
        """Ask to reverse exactly `block` (as captured now), then reverse it by key."""
        if block.on_agent:
            self.reverse_on_agent(block)
            return
        program = f"{PROGRAM_DIR}/{block.executable}"
        runs = (f"{program} delete (argv)" if block.protocol == "argv"
                else f"{program} with the stored delete message")
        if block.dry_run:
            runs = f"nothing (dry run): would run {runs}"
        facts = [*self.block_facts(block), ("runs", runs)]
        self.host.push_dialog(
            ConfirmScreen("Reverse this block now?", facts, "Reverse",
                          note="The block is lifted now and its timer dropped. "
                               "Written to the audit log."),
            partial(self._confirmed, "reverse", [block.key]),
        )

    def reverse_on_agent(self, block: BlockInfo) -> None:
        """A block on an agent: the delete runs there, through the agent's queue; for a block
        Wazuh's own execd holds, say what its timer still does (fleet.md F3)."""
        agent = block.target_label
        facts: Facts = [
            ("key", block.key),
            ("address/user", block.who),
            ("agent", agent),
            ("held by", "arconsole (its own timer)" if not block.held_by_agent
             else "the agent's execd (Wazuh's own timer)"),
            ("remaining", self.remaining(block) if block.counts_down else "unknown"),
            ("runs", f"!arconsole-reverse on agent {block.target}: "
                     f"{PROGRAM_DIR}/{block.executable} delete {block.who}"),
        ]
        if block.held_by_agent:
            consequence = block.note or ("the agent keeps its own timer; a repeat before then "
                                         "is not re-blocked")
            note = (f"The block is lifted on agent {agent} now, but {consequence}. "
                    "Written to the audit log.")
        else:
            note = (f"arconsole's timer is dropped and the block is lifted on agent {agent}. "
                    "Written to the audit log.")
        self.host.push_dialog(
            ConfirmScreen("Reverse this block on the agent?", facts, "Reverse", note=note),
            partial(self._confirmed, "reverse", [block.key]),
        )

    def bulk_reverse(self, keys: list[str], filter_text: str) -> None:
        self.host.push_dialog(BulkReverseScreen(keys, filter_text),
                              partial(self._confirmed, "bulk reverse", keys))

    def _confirmed(self, action: str, keys: list[str], answer: object) -> None:
        if answer:
            self.run_reverse(keys)
        else:
            self.host.last_result = f"{action} cancelled"

    def run_reverse(self, keys: list[str]) -> None:
        self.host.run_job(self._reverse(keys))

    async def _reverse(self, keys: list[str]) -> None:
        link = self._link()
        try:
            outcomes = await link.reverse(keys, self.host.operator)
        except Exception as error:
            self._refused("reverse", ", ".join(keys), error)
            return
        self.show_outcomes(outcomes)

    def extend(self, block: BlockInfo) -> None:
        key = block.key
        if block.on_agent:
            self.host.toast("a block on an agent cannot be extended from here: its timer is "
                            "the agent's or arconsole's delivery's", error=True)
            return

        def extended(seconds: object) -> None:
            if isinstance(seconds, int) and seconds > 0:
                self.host.run_job(self._extend(key, seconds))
            else:
                self.host.last_result = "extend cancelled"

        self.host.push_dialog(ExtendScreen(self.block_facts(block)), extended)

    async def _extend(self, key: str, seconds: int) -> None:
        try:
            outcome = await self._link().extend(key, seconds, self.host.operator)
        except Exception as error:
            self._refused("extend", key, error)
            return
        self.show_outcomes([outcome])

    def manual_block(self, address: str, node: str = "") -> None:
        """Ask what to block; with several engines attached, on which node too (`node`, the
        selected row's, is offered first)."""
        config = self.host.config
        commands = [c.name for c in config.commands] if config else []
        default = "firewall-drop" if "firewall-drop" in commands else None
        link = self.host.link
        nodes = list(link.links) if isinstance(link, MultiLink) else []
        self.host.push_dialog(ManualBlockScreen(commands, address=address, command=default,
                                                nodes=nodes, node=node or None),
                              self._manual_requested)

    def _manual_requested(self, request: object) -> None:
        if not isinstance(request, ManualBlock):
            self.host.last_result = "block cancelled"
            return
        executable = None
        if self.host.config is not None:
            command = self.host.config.command(request.command)
            executable = command.executable if command else None
        facts: Facts = [
            *([("node", request.node)] if request.node else []),
            ("address", request.address),
            ("command", request.command),
            ("for", format_remaining(request.seconds)),
            ("runs", f"{PROGRAM_DIR}/{executable or '?'} add, then its check_keys handshake"),
            ("operator", self.host.operator),
        ]
        self.host.push_dialog(
            ConfirmScreen("Block this address now?", facts, "Block",
                          note="A white-listed address or your own SSH client is refused. "
                               "Written to the audit log."),
            partial(self._manual_confirmed, request),
        )

    def _manual_confirmed(self, request: ManualBlock, answer: object) -> None:
        if not answer:
            self.host.last_result = "block cancelled"
            return
        self.host.run_job(self._add(request))

    async def _add(self, request: ManualBlock) -> None:
        try:
            link = self._link()
            if isinstance(link, MultiLink):  # several engines: the one the operator chose
                outcome = await link.add(request.command, request.address, self.host.operator,
                                         timeout=request.seconds, force=False,
                                         node=request.node or None)
            else:
                outcome = await link.add(request.command, request.address, self.host.operator,
                                         timeout=request.seconds, force=False)
        except Exception as error:
            self._refused("add", request.address, error)
            return
        self.show_outcomes([outcome])

    def reload(self) -> None:
        self.host.run_job(self._reload())

    async def _reload(self) -> None:
        try:
            ok = await self._link().reload()
        except Exception as error:
            self._refused("reload", "config", error)
            return
        self.host.toast("config reloaded" if ok else "config reload rejected: see the banner",
                        error=not ok)

    # ------------------------------------------------------------------ outcomes

    def _link(self) -> EngineLink:
        link = self.host.link
        if link is None:
            raise RuntimeError("no engine is attached yet")
        return link

    def _refused(self, action: str, target: str, error: BaseException) -> None:
        text = f"{action} {target}: REFUSED: {error}"
        self.results.append(Outcome(ok=False, action=action, target=target, detail=str(error)))
        self.host.last_result = escape_text(text, limit=200)
        self.host.toast(self.host.last_result, error=True)
        self.host.log_lines([f"{stamp(self.host.clock())} error   {text}"])

    def show_outcomes(self, outcomes: Sequence[Outcome]) -> None:
        """Keep each outcome; tell them in one toast (a summary when there are several)."""
        if not outcomes:
            return
        texts = []
        for outcome in outcomes:
            self.results.append(outcome)
            mark = "done" if outcome.ok else "FAILED"
            texts.append(f"{outcome.action} {outcome.target}: {mark}: {outcome.detail}")
        failed = [text for text, outcome in zip(texts, outcomes, strict=True) if not outcome.ok]
        if len(outcomes) == 1:
            summary = texts[0]
        else:
            summary = (f"{outcomes[0].action} {len(outcomes)} blocks: "
                       f"{len(outcomes) - len(failed)} done"
                       + (f", {len(failed)} FAILED" if failed else ""))
        self.host.last_result = escape_text(summary if len(outcomes) > 1 else texts[-1],
                                            limit=200)
        # One line each (escaped apart: escaping the joined text turned the breaks into \n).
        parts = [summary] if len(outcomes) == 1 else [summary, *failed[:3]]
        limit = 600 // len(parts)
        self.host.toast("\n".join(escape_text(part, limit=limit) for part in parts),
                        error=bool(failed))
