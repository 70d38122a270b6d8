"""firewall-drop: drop every packet from the alert's srcip (Wazuh's default-firewall-drop.c).

Key: srcip (spec 8.3). Delete removes exactly what add inserted:
- iptables (ip6tables for IPv6): add runs `-I INPUT -s IP -j DROP` and the same for FORWARD,
  delete the same with `-D`. Add first asks `-C` and inserts only into the chains that lack
  the rule, so an add that repairs a half-removed block does not double the other half. When
  the second insert fails the first is taken back. A rule that is already gone at delete is
  logged, not an error.
- nft, when iptables is absent: a table `inet arconsole` whose input and forward chains drop the
  sources held in the sets `blocked4` and `blocked6`. Add creates the table if needed and puts
  the address into its set, in one transaction; delete takes the address out and removes the
  table once both sets are empty.

check (see arconsole.scripts.protocol): in force when the rule is in both chains (iptables,
`-C`), or when the address is in its set and both chains hold the set's drop rule (nft);
"missing" names the first part that is gone.

extra_args:
  --backend auto|iptables|nft   auto (default): iptables when found on the search path, else nft.
  --search-path, --lock-wait    see arconsole.scripts.options.
A missing firewall binary is logged and the run ends with status 0, as in Wazuh (spec 8.7).
The lock `fw-drop` is shared with firewalld-drop, as Wazuh shares its lock folder.
"""

from __future__ import annotations

from arconsole.scripts.options import Option
from arconsole.scripts.protocol import EXIT_OK, CheckState, Command, ip_version
from arconsole.scripts.runner import Run, run_script
from arconsole.scripts.system import Outcome, not_accessible

LOCK = "fw-drop"
BACKEND = Option("--backend", "auto", ("auto", "iptables", "nft"))
CHAINS = ("INPUT", "FORWARD")
NFT_TABLE = "arconsole"
NFT_SETS = {4: "blocked4", 6: "blocked6"}
# Idempotent: `add` keeps what exists, the flushes stop the drop rules from piling up, and
# `nft -f` applies the whole file as one transaction, so the chains are never without them.
NFT_SETUP = f"""add table inet {NFT_TABLE}
add set inet {NFT_TABLE} blocked4 {{ type ipv4_addr; }}
add set inet {NFT_TABLE} blocked6 {{ type ipv6_addr; }}
add chain inet {NFT_TABLE} input {{ type filter hook input priority -1; policy accept; }}
add chain inet {NFT_TABLE} forward {{ type filter hook forward priority -1; policy accept; }}
flush chain inet {NFT_TABLE} input
flush chain inet {NFT_TABLE} forward
add rule inet {NFT_TABLE} input ip saddr @blocked4 drop
add rule inet {NFT_TABLE} input ip6 saddr @blocked6 drop
add rule inet {NFT_TABLE} forward ip saddr @blocked4 drop
add rule inet {NFT_TABLE} forward ip6 saddr @blocked6 drop
"""


def main(argv: list[str]) -> int:
    return run_script(argv, drop, key="srcip", options=(BACKEND,), check=True)


def drop(run: Run) -> int:
    version = ip_version(run.key)
    assert version in NFT_SETS  # the key passed validation
    backend = run.options.get("--backend")
    iptables_name = "iptables" if version == 4 else "ip6tables"
    if backend != "nft":
        iptables = run.system.which(iptables_name)
        if iptables is not None:
            with run.lock(LOCK):
                return _iptables(run, iptables_name, iptables)
        run.log(not_accessible(iptables_name))
        if backend == "iptables":
            return EXIT_OK
    nft = run.system.which("nft")
    if nft is None:
        run.log(not_accessible("nft"))
        return EXIT_OK
    with run.lock(LOCK):
        return _nft(run, nft, NFT_SETS[version])


class _Unreadable(Exception):
    """The firewall could not be asked (the message is the log line)."""


def _iptables(run: Run, name: str, iptables: str) -> int:
    def rule(flag: str, chain: str) -> list[str]:
        return [iptables, flag, chain, "-s", run.key, "-j", "DROP"]

    def present(chain: str) -> bool:
        """Is the rule in `chain`? (False in demo mode, where nothing is asked.)"""
        outcome = run.system.query(rule("-C", chain))
        if outcome is None or outcome.returncode == 1:  # 1: "Bad rule (does a matching...)"
            return False
        if not outcome.ok:
            raise _Unreadable(_unable(name, outcome))
        return True

    try:
        if run.command == Command.CHECK:
            for chain in CHAINS:
                if not present(chain):
                    return run.answer(CheckState.MISSING, f"no {name} rule in {chain}")
            return run.answer(CheckState.IN_FORCE)
        if run.command == Command.ADD:
            inserted: list[str] = []
            for chain in CHAINS:
                if present(chain):
                    continue
                outcome = run.system.change(rule("-I", chain))
                if not outcome.ok:
                    for done in inserted:  # half a block is worse than none
                        run.system.change(rule("-D", done))
                    return run.fail(_unable(name, outcome))
                inserted.append(chain)
            return run.end()
    except _Unreadable as error:
        return run.fail(str(error))
    for chain in CHAINS:
        outcome = run.system.change(rule("-D", chain))
        if outcome.returncode == 1 and "matching rule" in outcome.output:
            run.log(f"No {name} rule drops {run.key} in {chain}: nothing to delete")
        elif not outcome.ok:
            return run.fail(_unable(name, outcome))
    return run.end()


def _nft(run: Run, nft: str, set_name: str) -> int:
    element = ["inet", NFT_TABLE, set_name, "{", run.key, "}"]
    if run.command == Command.CHECK:
        return _nft_check(run, nft, set_name, element)
    if run.command == Command.ADD:
        script = NFT_SETUP + " ".join(["add", "element", *element]) + "\n"
        outcome = run.system.change([nft, "-f", "-"], stdin_text=script)
        if not outcome.ok:
            return run.fail(_unable("nft", outcome))
        return run.end()
    outcome = run.system.change([nft, "delete", "element", *element])
    if not outcome.ok:
        if "No such file or directory" not in outcome.output:
            return run.fail(_unable("nft", outcome))
        run.log(f"No nft element {run.key} in {NFT_TABLE} {set_name}: nothing to delete")
    _remove_table_when_empty(run, nft)
    return run.end()


def _nft_check(run: Run, nft: str, set_name: str, element: list[str]) -> int:
    listing = run.system.query([nft, "list", "table", "inet", NFT_TABLE])
    assert listing is not None  # demo checks are answered before the action runs
    if not listing.ok:
        if "No such file or directory" in listing.output:
            return run.answer(CheckState.MISSING, f"no nft table inet {NFT_TABLE}")
        return run.fail(_unable("nft", listing))
    drop = f"{'ip' if set_name == NFT_SETS[4] else 'ip6'} saddr @{set_name} drop"
    rules = _nft_chain_rules(listing.stdout)
    for chain in ("input", "forward"):
        if drop not in rules.get(chain, ()):
            return run.answer(CheckState.MISSING, f"no rule '{drop}' in nft chain {chain}")
    member = run.system.query([nft, "get", "element", *element])
    assert member is not None
    if not member.ok:
        if "No such file or directory" in member.output:
            return run.answer(CheckState.MISSING, f"{run.key} is not in nft set {set_name}")
        return run.fail(_unable("nft", member))
    return run.answer(CheckState.IN_FORCE)


def _nft_chain_rules(listing: str) -> dict[str, list[str]]:
    """The rule lines of each chain in the text of `nft list table`."""
    rules: dict[str, list[str]] = {}
    current: list[str] | None = None
    for raw in listing.splitlines():
        line = raw.strip()
        if line.startswith("chain ") and line.endswith("{"):
            current = rules.setdefault(line[len("chain "):-1].strip(), [])
        elif line == "}":
            current = None
        elif current is not None:
            current.append(line)
    return rules


def _remove_table_when_empty(run: Run, nft: str) -> None:
    for set_name in NFT_SETS.values():
        listing = run.system.query([nft, "list", "set", "inet", NFT_TABLE, set_name])
        if listing is None or not listing.ok or "elements =" in listing.stdout:
            return  # demo mode, no table, or addresses still blocked
    outcome = run.system.change([nft, "delete", "table", "inet", NFT_TABLE])
    if not outcome.ok:
        run.log(f"Unable to remove the empty nft table inet {NFT_TABLE}: {outcome.output}")


def _unable(name: str, outcome: Outcome) -> str:
    return f"Unable to run {name} (exit code {outcome.returncode}): {outcome.output}"
