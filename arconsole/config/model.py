"""The ossec.conf model: what the engine and the console need, with source positions.

The loader (`arconsole.config.loader`) builds these objects; nothing here parses XML.
Every object is immutable so a loaded config can be shared between the engine, the console
and a reload in progress without copying.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from enum import IntFlag, StrEnum

from arconsole.config.diagnostics import Diagnostic, Severity


class Flavour(StrEnum):
    WAZUH = "wazuh"
    OSSEC = "ossec"


class Role(StrEnum):
    MANAGER = "manager"
    AGENT = "agent"


class LocationFlag(IntFlag):
    """The flags Wazuh derives from `<location>` by substring regex (spec 3.3)."""

    NONE = 0
    AS_ONLY = 1  # AS|analysisd|analysis-server|server
    REMOTE_AGENT = 2  # local
    SPECIFIC_AGENT = 4  # defined-agent
    ALL_AGENTS = 8  # all|any


@dataclass(frozen=True, slots=True)
class ConfigNode:
    """One element of the whole ossec.conf tree, for the console's config tree."""

    tag: str
    text: str | None
    line: int
    column: int
    attributes: tuple[tuple[str, str], ...] = ()
    children: tuple[ConfigNode, ...] = ()


@dataclass(frozen=True, slots=True)
class Command:
    """A `<command>` block (spec 2)."""

    name: str
    executable: str
    timeout_allowed: bool
    line: int
    column: int
    extra_args: str | None = None
    # OSSEC flavour: the fields the command expects ("srcip", "user", "filename").
    # Wazuh ignores <expect> since 4.2.0; it is still recorded here.
    expect: tuple[str, ...] = ()
    # Where the `<executable>` element starts (0 when absent), for diagnostics about the file.
    executable_line: int = 0
    executable_column: int = 0

    @property
    def extra_args_list(self) -> list[str]:
        """extra_args as Wazuh's JSON form sends them: strtok on spaces, no quoting (6.2)."""
        return self.extra_args.split() if self.extra_args else []

    def expects(self, field_name: str) -> bool:
        return field_name in self.expect


@dataclass(frozen=True, slots=True)
class ActiveResponse:
    """An `<active-response>` block (spec 3), kept or not.

    Every block of the file is kept in the model, in file order, so that `explain` can say
    why a disabled or dropped block never fires. `kept` is False for blocks Wazuh drops
    (disabled, defined-agent with agent id 0, agent-side switch blocks, invalid blocks) and
    `skip_reason` says why in plain words.
    """

    index: int  # 1-based position among all <active-response> elements, file order
    line: int
    column: int
    command: str | None = None
    location: str | None = None
    location_flags: LocationFlag = LocationFlag.NONE
    agent_id: str | None = None  # text as written
    agent_number: int = 0  # atoi(agent_id), as Wazuh reads it
    level: int = 0  # 0 = not set
    rules_id: str | None = None  # text as written
    rules_ids: tuple[int, ...] = ()  # parsed as Wazuh does (spec 5.3)
    rules_group: str | None = None
    timeout: int = 0  # effective seconds (zeroed without timeout_allowed in wazuh flavour)
    timeout_text: str | None = None
    disabled: bool = False
    repeated_offenders: str | None = None  # raw text, used only from the first block having it
    kept: bool = True
    skip_reason: str | None = None
    executable: str | None = None  # from the referenced <command>, None if unresolved
    extra_args: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """Wazuh's response name `<command><timeout>` (spec 3.4), e.g. `firewall-drop600`."""
        return f"{self.command or ''}{self.timeout}"

    @property
    def stateful(self) -> bool:
        return self.timeout != 0

    @property
    def agent_target(self) -> str:
        """The defined agent as a 3-digit id (`032` -> `032`, `32` -> `032`)."""
        return f"{self.agent_number:03d}"


@dataclass(frozen=True, slots=True, init=False)
class WhiteListEntry:
    """A `<global><white_list>` entry (spec 4).

    An entry that matched Wazuh's IPv4 regex (address, /CIDR or /netmask) is a network: its
    `first` address as an integer and its `prefix` length (`network` gives it as an
    `IPv4Network`; a network object per entry cost ~300 bytes, 20x the config's size for a
    white list of single addresses). Otherwise `first` is -1 and `pattern` holds the OSMatch
    pattern (without a leading `!`), matched as a case-insensitive substring with `^`, `$` and
    `|` against the srcip string. `negated` records a leading `!` (dropped by Wazuh 4.x for
    IPs; meaningful in OSSEC).
    """

    text: str
    line: int
    column: int
    pattern: str | None
    negated: bool
    first: int
    prefix: int

    def __init__(
        self, text: str, line: int, column: int, network: ipaddress.IPv4Network | None = None,
        pattern: str | None = None, negated: bool = False, *, first: int = -1, prefix: int = 0,
    ) -> None:
        if network is not None:
            first, prefix = int(network.network_address), network.prefixlen
        assign = object.__setattr__
        assign(self, "text", text)
        assign(self, "line", line)
        assign(self, "column", column)
        assign(self, "pattern", pattern)
        assign(self, "negated", negated)
        assign(self, "first", first)
        assign(self, "prefix", prefix)

    @property
    def network(self) -> ipaddress.IPv4Network | None:
        """The IPv4 network of an IP entry, None for a pattern."""
        return None if self.first < 0 else ipaddress.IPv4Network((self.first, self.prefix))

    @property
    def last(self) -> int:
        """The last address of an IP entry's network, as an integer."""
        return self.first + (1 << (32 - self.prefix)) - 1


@dataclass(frozen=True, slots=True)
class Config:
    path: str
    flavour: Flavour = Flavour.WAZUH
    role: Role = Role.MANAGER
    commands: tuple[Command, ...] = ()
    responses: tuple[ActiveResponse, ...] = ()
    white_list: tuple[WhiteListEntry, ...] = ()
    node_name: str = ""  # first <cluster><node_name>, sent as origin.name (6.3)
    # Repeated-offender timeouts in minutes, from the first block that has the option (7.5);
    # empty when unset or disabled (first value 0 or not a number).
    repeated_offenders: tuple[int, ...] = ()
    # The first <active-response><disabled> of the file switches execd off (3.5 item 2).
    execd_disabled: bool = False
    tree: tuple[ConfigNode, ...] = ()  # the <ossec_config> roots
    diagnostics: tuple[Diagnostic, ...] = field(default=())

    def command(self, name: str) -> Command | None:
        """The first command of that name in file order, as Wazuh resolves it."""
        for command in self.commands:
            if command.name == name:
                return command
        return None

    @property
    def active_responses(self) -> tuple[ActiveResponse, ...]:
        """The responses that can fire, in file order."""
        return tuple(r for r in self.responses if r.kept)

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity is Severity.ERROR)

    @property
    def ok(self) -> bool:
        return not self.errors
