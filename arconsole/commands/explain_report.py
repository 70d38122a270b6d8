"""The two outputs of `arconsole explain`: JSON lines for programs, a report for people."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from typing import TextIO

from arconsole.alerts.model import Alert
from arconsole.config.model import Config
from arconsole.engine.decide import AlertDecision, ResponseDecision
from arconsole.engine.outcome import (
    NOT_DELIVERED,
    SCRIPT_REFUSES,
    WOULD_RUN,
    deliveries,
    summary,
)
from arconsole.safetext import literal
from arconsole.wording import counted

_OUTCOME_WORDS = ((WOULD_RUN, "would run"), (NOT_DELIVERED, "not delivered"),
                  (SCRIPT_REFUSES, "refused by the script"))


def _outcome_words(counts: Counter[str]) -> str:
    """`: 1 would run, 2 not delivered` (targets), or nothing when nothing fired."""
    words = [f"{counts[outcome]} {text}" for outcome, text in _OUTCOME_WORDS if counts[outcome]]
    return f" ({', '.join(words)})" if words else ""


def _responses_of(document: dict[str, object]) -> list[dict[str, object]]:
    responses = document["responses"]
    assert isinstance(responses, list)
    return responses


class JsonlReport:
    """One JSON object per alert, in input order; ASCII-only so any terminal shows it safely."""

    def __init__(self, out: TextIO) -> None:
        self._out = out

    def decision(self, line: int, decision: AlertDecision) -> None:
        document = decision.to_json(line)
        # Added fields (the existing ones are a contract): what each response would do here.
        for response, shown in zip(decision.responses, _responses_of(document), strict=True):
            found = deliveries(response, decision.alert)
            shown["outcome"] = summary(found)
            shown["deliveries"] = [delivery.to_json() for delivery in found]
        self._write(document)

    def error(self, line: int, message: str) -> None:
        self._write({"line": line, "error": message})

    def finish(self, notes: Sequence[str]) -> None:
        self._out.flush()

    def _write(self, obj: dict[str, object]) -> None:
        self._out.write(json.dumps(obj, separators=(",", ":")) + "\n")
        self._out.flush()  # one alert at a time, so `tail -f alerts.json | explain` works


class TextReport:
    """A compact report: one header per alert, one line per response (reasons for firing
    ones), and a summary. Every alert field is escaped before it reaches the terminal."""

    def __init__(self, out: TextIO, config: Config) -> None:
        self._out = out
        self._config = config
        self._alerts = 0
        self._errors = 0
        self._fired: Counter[str] = Counter()
        self._outcomes: Counter[str] = Counter()
        self._write(
            f"{literal(config.path)}: {counted(len(config.responses), '<active-response> block')}"
            f", flavour {config.flavour}, "
            f"{counted(len(config.white_list), 'white-list entry', 'white-list entries')}\n"
        )

    def decision(self, line: int, decision: AlertDecision) -> None:
        self._alerts += 1
        alert = decision.alert
        parts = [f"rule {literal(alert.rule_id)} level {alert.level}"]
        if alert.agent_id is not None:
            parts.append(f"agent {literal(alert.agent_id)}"
                         + (f" ({literal(alert.agent_name)})" if alert.agent_name else ""))
        elif alert.agent_name is not None:
            parts.append(f"agent '{literal(alert.agent_name)}' (id unknown)")
        if alert.srcip is not None:
            parts.append(f"srcip {literal(alert.srcip)}")
        if alert.dstuser is not None:
            parts.append(f"dstuser {literal(alert.dstuser)}")
        alert_id = literal(alert.alert_id) or "(no id)"
        lines = [f"\nline {line}: alert {alert_id}: " + ", ".join(parts)]
        fired = decision.fired
        if not decision.responses:
            lines.append("  (the config has no <active-response>)")
        before = Counter(self._outcomes)
        for response in decision.responses:
            lines.extend(self._response_lines(response, alert))
        self._fired.update(response.response.name for response in fired)
        lines.append(f"  => {len(fired)} of {len(decision.responses)} fire"
                     + _outcome_words(self._outcomes - before))
        self._write("\n".join(lines) + "\n")

    def _response_lines(self, decision: ResponseDecision, alert: Alert) -> list[str]:
        response = decision.response
        # A block without <command> has no response name (Wazuh's would read "0").
        name = response.name if response.command else "(no <command>)"
        label = f"#{response.index} {literal(name)} (line {response.line})"
        if not decision.fires:
            return [f"  -  {label}: {decision.reasons[-1] if decision.reasons else 'no'}"]
        kind = f"stateful {response.timeout} s" if response.stateful else "stateless"
        where = ", ".join("manager" if t == "server" else t for t in decision.targets)
        lines = [f"  +  {label} -> {where} [{kind}]"]
        lines.extend(f"       {reason}" for reason in decision.reasons)
        for delivery in deliveries(decision, alert):
            self._outcomes[delivery.outcome] += 1
            lines.append(f"       => {delivery.detail}")
        return lines

    def error(self, line: int, message: str) -> None:
        self._alerts += 1
        self._errors += 1
        self._write(f"\nline {line}: unreadable: {literal(message)}\n")

    def finish(self, notes: Sequence[str]) -> None:
        fired = ", ".join(f"{name} x{count}" for name, count in sorted(self._fired.items()))
        # The unreadable lines are not alerts: "1 alert(s), 1 unreadable" was one line.
        read = counted(self._alerts - self._errors, "alert")
        summary = (f"\n{read}, {self._errors} unreadable; "
                   f"fired: {fired or 'nothing'}{_outcome_words(self._outcomes)}\n")
        self._write(summary + "".join(f"note: {note}\n" for note in notes))

    def _write(self, text: str) -> None:
        self._out.write(text)
        self._out.flush()
