"""What keeps the fleet table bounded when agents' AR log alerts are spoofed with ever new keys.

Everything in an AR log alert is the attacker's: a log line written on an agent decodes as a
rule-651 `add` as well as a real one. Active and overdue rows are kept (dropping them would hide
the "overdue" signal), so three rules bound them, and the operator is told of each once:

1. A row is kept only for a key of the program's shape: an address for the address programs
   (`firewall-drop`, `host-deny`...: their scripts block nothing else; an `add` line with another
   key is logged by the script before it gives up, fleet.md F2), a user name for
   `disable-account`, and for any other program what the agent's `arconsole-reverse` takes.
2. At most `per_agent` active rows per agent and `total` in all. A new row over a cap takes
   the place of the oldest row past its expected end (overdue), or of one whose end is unknown
   or never comes (stateless) once it is `STALE_AFTER` old; with none such, it is refused.
   Rows within their expected end, the genuine blocks, are never dropped for a new one.
3. The refusals and drops are counted (`status` → `fleet`, the console's blocks header).

Making room looks at the rows of the agent (or all rows) once and drops a tenth of the cap's
worth of the oldest overdue rows, so a flood costs a scan per tenth of the cap; when none is
overdue it remembers when the first one can be, and refuses without looking until then.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterator, Mapping
from socket import AF_INET

from arconsole.engine.fleet_store import FleetRow
from arconsole.safetext import literal

Ident = tuple[str, str, str]  # (agent, program, key)
PER_AGENT_ACTIVE = 5_000
TOTAL_ACTIVE = 50_000
STALE_AFTER = 24 * 3600.0  # a row with no known end may be replaced after this long

# The stock programs by what they key on (Windows agents run them as `<name>.exe`).
_ADDRESS_PROGRAMS = frozenset({"firewall-drop", "firewalld-drop", "host-deny", "route-null",
                               "ipfw", "pf", "npf", "netsh", "nftables"})
_USER_PROGRAMS = frozenset({"disable-account"})
_pton = socket.inet_pton
# Wazuh's own test of a user name (analysisd), without a leading `-`.
_USER = re.compile(r"[a-zA-Z._0-9@?][a-zA-Z._0-9@?-]{0,255}").fullmatch
# What the agent's arconsole-reverse takes (`agent_messages.reverse_refusal`).
_REVERSIBLE = re.compile(r"[A-Za-z0-9.:_@][A-Za-z0-9.:_@-]{0,254}").fullmatch


_ARTICLE = {"address": "an address", "user name": "a user name",
            "address or user name": "an address or a user name"}


def _is_ipv4(key: str) -> bool:
    """A dotted quad as the scripts' own test (inet_pton) takes it: four decimal numbers up
    to 255, no leading zero."""
    try:
        _pton(AF_INET, key)
    except (OSError, ValueError):  # ValueError: a NUL in the text
        return False
    return True


def is_address(key: str) -> bool:
    if _is_ipv4(key):
        return True
    if ":" not in key or len(key) > 45 or "%" in key:
        # `%`: Python takes any text after it as an IPv6 scope (`::1%$(id)`, `::1%\n`);
        # the scripts' own address test (inet_pton) takes none.
        return False
    try:
        ipaddress.ip_address(key)
    except ValueError:
        return False
    return True


def key_shape(program: str) -> str:
    """What `program` keys on: `address`, `user name`, or `address or user name`."""
    base = program.removesuffix(".exe")
    if base in _ADDRESS_PROGRAMS:
        return "address"
    return "user name" if base in _USER_PROGRAMS else "address or user name"


def key_fits(program: str, key: str) -> bool:
    shape = key_shape(program)
    if shape == "address":
        return is_address(key)
    if shape == "user name":
        return _USER(key) is not None
    return _REVERSIBLE(key) is not None


class FleetBounds:
    """The active rows by agent, the caps on them, and the counts the operator is shown."""

    def __init__(self, *, per_agent: int = PER_AGENT_ACTIVE, total: int = TOTAL_ACTIVE,
                 evictable_at: Callable[[FleetRow], float],
                 tell: Callable[[str], None] | None = None) -> None:
        self.per_agent = per_agent
        self.total = total
        self._evictable_at = evictable_at
        self._tell = tell or (lambda message: None)
        self.by_agent: dict[str, dict[Ident, None]] = {}  # active rows (an ordered set)
        self.active = 0
        self.refused_bad_key = 0
        self.refused_over_cap = 0
        self.evicted = 0
        self._quiet_until: dict[str | None, float] = {}  # scope -> nothing evictable before
        self._told: set[str] = set()  # episodes told (cleared when one ends)

    def counts(self) -> dict[str, int]:
        """What `status` shows under `fleet`."""
        return {"active": self.active, "agents": len(self.by_agent),
                "per_agent_cap": self.per_agent, "total_cap": self.total,
                "refused_bad_key": self.refused_bad_key,
                "refused_over_cap": self.refused_over_cap, "evicted_overdue": self.evicted}

    def added(self, ident: Ident) -> None:
        """The row became active."""
        rows = self.by_agent.get(ident[0])
        if rows is None:
            rows = self.by_agent[ident[0]] = {}
        if ident not in rows:
            rows[ident] = None
            self.active += 1

    def ended(self, ident: Ident) -> None:
        """The row is no longer active (lifted, or dropped)."""
        rows = self.by_agent.get(ident[0])
        if rows is None or ident not in rows:
            return
        del rows[ident]
        self.active -= 1
        if not rows:
            del self.by_agent[ident[0]]
            self._quiet_until.pop(ident[0], None)

    def admit(self, ident: Ident, rows: Mapping[Ident, FleetRow], now: float
              ) -> list[Ident] | None:
        """May the row `ident` (agent, program, key) become active at `now`? If so it counts
        as active from now (`added`), and the rows to drop first (oldest overdue) are
        returned, the caller drops them (`ended`); None when it is refused (counted, told
        once)."""
        agent, program, key = ident
        if not _is_ipv4(key) and not key_fits(program, key):  # (an IPv4 fits every shape)
            self.refused_bad_key += 1
            if "bad key" not in self._told:
                self._told.add("bad key")
                self._tell(f"fleet table: an AR alert of agent {literal(agent)} names "
                           f"{literal(program)} with key {literal(key)!r}, which is not "
                           f"{_ARTICLE[key_shape(program)]}: no row kept for it, nor for any "
                           "other such alert (counted in status: fleet.refused_bad_key)")
            return None
        victims: list[Ident] = []
        mine = self.by_agent.get(agent)
        if mine is not None and len(mine) >= self.per_agent:
            found = self._room(agent, lambda: iter(mine), rows, now, self.per_agent)
            if found is None:
                self._refuse(f"agent {literal(agent)}", self.per_agent)
                return None
            victims += found
        if self.active - len(victims) >= self.total:
            chosen = set(victims)
            found = self._room(None, lambda: (ident for active in self.by_agent.values()
                                              for ident in active if ident not in chosen),
                               rows, now, self.total)
            if found is None:
                self._refuse("all agents", self.total)
                return None
            victims += found
        if self._told:
            self._episode_over(f"agent {literal(agent)}")
            self._episode_over("all agents")
        self.added(ident)
        return victims

    def _room(self, scope: str | None, idents: Callable[[], Iterator[Ident]],
              rows: Mapping[Ident, FleetRow], now: float, cap: int) -> list[Ident] | None:
        """The oldest overdue rows of `idents()`, up to a tenth of the cap; None if none."""
        if now < self._quiet_until.get(scope, -float("inf")):
            return None
        overdue: list[tuple[float, Ident]] = []
        soonest = float("inf")
        for ident in idents():
            at = self._evictable_at(rows[ident])
            if at < now:
                overdue.append((at, ident))
            elif at < soonest:
                soonest = at
        if not overdue:
            self._quiet_until[scope] = soonest
            return None
        overdue.sort()
        victims = [ident for _, ident in overdue[:max(1, cap // 10)]]
        self.evicted += len(victims)
        where = "all agents" if scope is None else f"agent {literal(scope)}"
        if f"evicted {where}" not in self._told:
            self._told.add(f"evicted {where}")
            self._tell(f"fleet table: {where} reached the cap of {cap:,} active rows: "
                       f"{len(victims):,} overdue ones dropped (oldest first) to keep new ones; "
                       "counted in status: fleet.evicted_overdue")
        return victims

    def _refuse(self, where: str, cap: int) -> None:
        self.refused_over_cap += 1
        if where not in self._told:
            self._told.add(where)
            self._tell(f"fleet table: {where} reached the cap of {cap:,} active rows and none "
                       "is overdue: new rows are refused until some end or become overdue "
                       "(spoofed AR alerts? counted in status: fleet.refused_over_cap)")

    def _episode_over(self, where: str) -> None:
        if where in self._told:
            self._told.discard(where)
            self._tell(f"fleet table: {where} below the cap again; new rows are kept")
