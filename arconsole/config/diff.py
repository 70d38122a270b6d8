"""What changed between two loaded configs, for reload logs and the console.

Only the responses that can fire (`Config.active_responses`) are compared, so disabling a
block shows as a removal. A response is identified by what it does: command, where it runs
(location flags, and the agent for defined-agent), filters (level, rules_group, the parsed
rule ids), timeout, executable and extra_args. Matching goes in three passes:

1. responses with identical content are the same response (wherever they moved in the file);
2. a leftover new response and a leftover old one with the same command are one response
   *changed* (same position first, then file order), with the differing options listed;
3. what is still left over is *added* (new) or *removed* (old).

Changes outside the responses (white list, repeated_offenders, execd switch, node name,
flavour, role) are listed as short phrases in `settings`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from arconsole.config.model import ActiveResponse, Config, Flavour, LocationFlag
from arconsole.config.responses import defined_target

_FIELDS = ("command", "location", "agent", "level", "rules_group", "rules_id", "timeout",
           "executable", "extra_args")


def _content(response: ActiveResponse, flavour: Flavour) -> tuple[object, ...]:
    agent = (defined_target(response, flavour)  # ossec: `1` and `001` are two agents
             if response.location_flags & LocationFlag.SPECIFIC_AGENT else None)
    return (response.command, response.location_flags, agent, response.level,
            response.rules_group, response.rules_ids, response.timeout, response.executable,
            response.extra_args)


@dataclass(frozen=True, slots=True)
class ResponseChange:
    old: ActiveResponse
    new: ActiveResponse
    fields: tuple[str, ...]  # the options that differ, names as in ossec.conf

    def describe(self) -> str:
        return f"{self.new.name} (line {self.new.line}): {', '.join(self.fields)} changed"


@dataclass(frozen=True, slots=True)
class ConfigDiff:
    added: tuple[ActiveResponse, ...] = ()
    removed: tuple[ActiveResponse, ...] = ()
    changed: tuple[ResponseChange, ...] = ()
    settings: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.settings)

    def summary(self) -> str:
        """For example "2 responses added, 1 removed, 0 changed"."""
        noun = "response" if len(self.added) == 1 else "responses"
        text = (f"{len(self.added)} {noun} added, {len(self.removed)} removed, "
                f"{len(self.changed)} changed")
        if self.settings:
            text += "; " + "; ".join(self.settings)
        return text

    def lines(self) -> list[str]:
        """One line per difference, for a log or a detail view."""
        lines = [f"+ {r.name} (line {r.line})" for r in self.added]
        lines += [f"- {r.name} (was line {r.line})" for r in self.removed]
        lines += [f"~ {change.describe()}" for change in self.changed]
        lines += [f"* {setting}" for setting in self.settings]
        return lines


def diff_configs(old: Config, new: Config) -> ConfigDiff:
    by_content: dict[tuple[object, ...], list[ActiveResponse]] = {}
    for response in old.active_responses:
        by_content.setdefault(_content(response, old.flavour), []).append(response)
    new_left: list[ActiveResponse] = []
    for response in new.active_responses:
        twins = by_content.get(_content(response, new.flavour))
        if twins:
            twins.pop(0)
        else:
            new_left.append(response)
    left = {id(r) for twins in by_content.values() for r in twins}
    old_left = [r for r in old.active_responses if id(r) in left]
    changed: list[ResponseChange] = []
    added: list[ActiveResponse] = []
    for response in new_left:
        same_command = [o for o in old_left if o.command == response.command]
        partner = next((o for o in same_command if o.index == response.index),
                       same_command[0] if same_command else None)
        if partner is None:
            added.append(response)
        else:
            old_left.remove(partner)
            changed.append(ResponseChange(partner, response,
                                          _differences(partner, response, old, new)))
    return ConfigDiff(tuple(added), tuple(old_left), tuple(changed), _settings(old, new))


def _differences(old: ActiveResponse, new: ActiveResponse, old_config: Config,
                 new_config: Config) -> tuple[str, ...]:
    before = _content(old, old_config.flavour)
    after = _content(new, new_config.flavour)
    return tuple(name for name, was, now in zip(_FIELDS, before, after, strict=True)
                 if was != now)


def _settings(old: Config, new: Config) -> tuple[str, ...]:
    settings: list[str] = []
    old_entries = [e.text for e in old.white_list]
    new_entries = [e.text for e in new.white_list]
    gained = [t for t in new_entries if t not in old_entries]
    lost = [t for t in old_entries if t not in new_entries]
    if gained or lost:
        settings.append("white list " + " ".join([*(f"+{t}" for t in gained),
                                                   *(f"-{t}" for t in lost)]))
    if old.repeated_offenders != new.repeated_offenders:
        settings.append(f"repeated_offenders {_minutes(old.repeated_offenders)} -> "
                        f"{_minutes(new.repeated_offenders)}")
    if old.execd_disabled != new.execd_disabled:
        settings.append("execd switched " + ("off" if new.execd_disabled else "on"))
    if old.node_name != new.node_name:
        settings.append(f"node_name '{old.node_name}' -> '{new.node_name}'")
    if old.flavour != new.flavour:
        settings.append(f"flavour {old.flavour} -> {new.flavour}")
    if old.role != new.role:
        settings.append(f"role {old.role} -> {new.role}")
    return tuple(settings)


def _minutes(values: Sequence[int]) -> str:
    return ",".join(str(v) for v in values) if values else "off"
