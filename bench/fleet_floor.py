"""Where the floor of a fleet-table update lies, against the decision, in the same run.

Plain script (not a test):

    python bench/fleet_floor.py [--rounds 10] [--chunk 1000]

`bench/fleet.py` compares fleet-table updates from AR log alerts (rule 651 as analysisd 4.14.7
writes it, 2.3 KB) with decisions on the trigger alerts (rule 5710, 0.6 KB). This splits an
update into what it cannot do without, each timed in CPU time against the decision, the sides
taking turns of `--chunk` lines (the neighbours on a shared machine slow all alike); median and
range of the rounds:

- decode + length test: msgspec's typed decode of the AR line and its re-encoding (the test
  that no key was repeated): the least any reading with the quick readers' guarantees does;
- decode_json_line: the intake's whole reading (the Alert and the fleet's reading, both rules
  known by their bytes);
- decode + entry: and the fleet's entry (`read_ar_entry`: time, program, key, trigger);
- skeleton: the reading, then the least a new row needs (a dict entry, its image encoded);
- fused: every step of a new row's update (the checks, the caps' count, the binding, the row,
  the write-behind, the rows log append) written out in one loop, without the layers;
- update: the engine's own (`FleetStage.observe` + the turn's `flush`), as bench/fleet.py.

The decisions are on 5710 lines as analysisd 4.14.7 writes them (`bench.fleet.trigger`); those
bench/fleet.py decided until this session (`former_trigger`, none of which the quick reading
takes in one piece) are timed beside, and each ratio against them printed in brackets.

`fused` is a measurement only: it skips what no line of this bench reaches (refusals, caps
full, deletes, pruning, events) and so is the floor of this design in CPython, not a version
to ship. The ratios printed are decisions per update (target >= 0.8 for `update`).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from arconsole.alerts import ar_lines
from arconsole.alerts.ar_lines import decode_json_line, reading_of
from arconsole.alerts.jsonreader import decode_alert_line
from arconsole.engine.clock import ManualClock
from arconsole.engine.engine import Engine
from arconsole.engine.fleet_bounds import is_address
from arconsole.engine.fleet_records import FleetRow
from arconsole.engine.fleet_rowlog import encode_rows
from arconsole.engine.fleet_table import AR_GROUP, AR_RULE_IDS, alert_time, read_ar_entry
from arconsole.engine.options import EngineOptions
from bench.fleet import CONF, ar_alert_wazuh, former_trigger, trigger

Work = Callable[[list[bytes]], None]


async def measure(home: Path, rounds: int, chunk: int) -> dict[str, list[float]]:
    options = EngineOptions(
        config_path=home / "etc" / "ossec.conf", home=home,
        alerts_path=home / "logs" / "alerts" / "alerts.json",
        state_path=home / "var" / "floor-state.db", watch_config=False, control_socket=False)
    engine = Engine(options, clock=ManualClock(1_700_000_000.0))
    await engine.start(follow=False)
    gc.freeze()  # as `arconsole run` does once started
    decider = engine.intake.decider
    assert decider is not None
    fired, binder = decider.fired, decider.bound_responses
    fleet = engine.fleet
    observe = fleet.observe
    store = fleet.table.store
    assert store is not None
    log = store._rows_log
    assert log is not None
    sides = ("decode + length test", "decode_json_line", "decode + entry", "skeleton", "fused",
             "update")
    ar_lines_needed = rounds * chunk * len(sides)
    lines = [ar_alert_wazuh(n) for n in range(ar_lines_needed)]
    triggers = [json.dumps(trigger(n, "001"), separators=(",", ":")).encode()
                for n in range(rounds * chunk)]
    # The 5710 lines bench/fleet.py decided before (none its own re-encoding): how much of a
    # baseline is its lines' layout.
    former = [json.dumps(former_trigger(n, "001"), separators=(",", ":")).encode()
              for n in range(rounds * chunk)]
    decode, encode_into, buffer = ar_lines._decode, msgspec.json.Encoder().encode_into, bytearray()
    astuple = msgspec.structs.astuple
    rows: dict[tuple[str, str, str], FleetRow] = {}
    by_agent: dict[str, dict[tuple[str, str, str], None]] = {}
    bound: dict[tuple[str, int, str, str], tuple[int | None, int | None, str]] = {}

    def decide(chunk_lines: list[bytes]) -> None:
        for line in chunk_lines:
            fired(decode_alert_line(line))

    def decode_alone(chunk_lines: list[bytes]) -> None:
        for line in chunk_lines:
            encode_into(decode(line), buffer)
            if len(buffer) != len(line):
                raise AssertionError("not vouched for")

    def reading(chunk_lines: list[bytes]) -> None:
        for line in chunk_lines:
            decode_json_line(line)

    def entry(chunk_lines: list[bytes]) -> None:
        for line in chunk_lines:
            read_ar_entry(decode_json_line(line), 1.0)

    def skeleton(chunk_lines: list[bytes]) -> None:
        changed = []
        for line in chunk_lines:
            alert = decode_json_line(line)
            assert alert.agent_id is not None and alert.srcip is not None
            row = FleetRow(alert.agent_id, "firewall-drop", alert.srcip)
            rows[(alert.agent_id, "firewall-drop", alert.srcip)] = row
            changed.append(row)
        log.append([encode_rows([astuple(row) for row in changed])])

    def fused(chunk_lines: list[bytes]) -> None:
        dirty: dict[tuple[str, str, str], FleetRow] = {}
        for line in chunk_lines:
            alert = decode_json_line(line)
            if alert.rule_id not in AR_RULE_IDS or AR_GROUP not in alert.groups:
                continue
            found = reading_of(alert)
            agent, key = alert.agent_id, alert.srcip or alert.dstuser
            if found is None or not agent or not key or found.command != "add":
                continue
            path = found.program
            program = path[path.rfind("/") + 1:]
            at = alert_time(alert.timestamp) or 1.0
            ident = (agent, program, key)
            row = rows.get(ident)
            if row is None:
                if not is_address(key):
                    continue
                mine = by_agent.get(agent)
                if mine is None:
                    by_agent[agent] = {ident: None}
                else:
                    mine[ident] = None
                row = rows[ident] = FleetRow(agent, program, key, alert.agent_name or "", True,
                                             at, at, None, 1, last_rule=alert.rule_id)
            cause = found.trigger
            if cause is not None:
                row.trigger_rule = cause.rule_id
                row.trigger_description = cause.description
                row.trigger_timestamp = found.trigger_timestamp
                binding = (cause.rule_id, cause.level, cause.group_string, program)
                known = bound.get(binding)
                if known is None:
                    names = [r.name for r in binder(cause) if r.executable == program]
                    known = bound[binding] = (600, 600, ",".join(names))
                row.timeout_min, row.timeout_max, row.responses = known
            dirty[ident] = row
        log.append([encode_rows([astuple(row) for row in dirty.values()])])

    def update(chunk_lines: list[bytes]) -> None:
        for line in chunk_lines:
            observe(decode_json_line(line), 1_700_000_000.0)
        fleet.flush()

    works: dict[str, Work] = dict(zip(sides, (decode_alone, reading, entry, skeleton, fused,
                                               update), strict=True))
    spent: dict[str, list[float]] = {name: [] for name in ("decide", "decide former",
                                                            *sides)}
    at = 0
    for round_ in range(rounds):
        turn = triggers[round_ * chunk:(round_ + 1) * chunk]
        order = sides if round_ % 2 == 0 else sides[::-1]
        for number, name in enumerate(order):
            if number % 2 == 0:  # the decisions between every other side
                cpu = time.process_time()
                decide(turn)
                spent["decide"].append((time.process_time() - cpu) / chunk)
            elif number == 1:
                cpu = time.process_time()
                decide(former[round_ * chunk:(round_ + 1) * chunk])
                spent["decide former"].append((time.process_time() - cpu) / chunk)
            cpu = time.process_time()
            works[name](lines[at:at + chunk])
            spent[name].append((time.process_time() - cpu) / chunk)
            at += chunk
    await engine.stop()
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--chunk", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        for sub in ("etc", "logs/alerts", "var"):
            (home / sub).mkdir(parents=True)
        (home / "etc" / "ossec.conf").write_text(CONF)
        (home / "logs" / "alerts" / "alerts.json").touch()
        spent = asyncio.run(measure(home, args.rounds, args.chunk))
    decide = sorted(spent.pop("decide"))
    decide_median = decide[len(decide) // 2]
    print(f"decision (decode + fired, 5710 line): {decide_median * 1e6:.2f} us median "
          f"({decide[0] * 1e6:.2f}-{decide[-1] * 1e6:.2f}), CPU time")
    other = sorted(spent.pop("decide former"))
    other_median = other[len(other) // 2]
    print(f"  on bench/fleet.py's former 5710 lines (`former_trigger`): {other_median * 1e6:.2f}"
          f" us ({other[0] * 1e6:.2f}-{other[-1] * 1e6:.2f}); the update's ratio against "
          f"them below in brackets")
    for name, values in spent.items():
        values.sort()
        median = values[len(values) // 2]
        print(f"  {name:22s} {median * 1e6:5.2f} us ({values[0] * 1e6:.2f}-"
              f"{values[-1] * 1e6:.2f})  decisions per it: {decide_median / median:.2f} "
              f"[{other_median / median:.2f}]")


if __name__ == "__main__":
    main()
