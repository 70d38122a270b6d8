"""The fleet at speed: agent responses through the wazuh-queue transport, and fleet-table updates.

Plain script (not a test): prints rates and ratios against baselines measured in the same run.

    python bench/fleet.py [--responses 10000] [--updates 20000] [--rounds 3]

Part 1: N alerts, each firing one `local` response for an agent, through a real engine with
`--agent-transport wazuh-queue` to a real Unix datagram socket drained by another process
(remoted's part), from the first `handle_line` until every record is `sent` in the state file;
against raw `send()`s of the very same datagrams on a plain socket to the same reader
(target: ratio >= 0.5). The stage and the raw sends are each timed in `--rounds` rounds and the
best of each is kept (the machine is shared); the engine's heap is frozen once started, as
`arconsole run` does, and so is the bench's own input before each round.
Part 2: fleet-table updates per second from AR log alerts (rule 651), decoded by the intake's
decoder (`ar_lines.decode_json_line`) and applied to the table, against the engine's decision
throughput (`decode_alert_line` + `Decider.fired`) on 5710 alerts (target: ratio >= 0.8),
laid out as analysisd 4.14.7 writes them (`trigger`, member for member as `start-lab` wrote
one; until this session the bench decided 5710 lines laid out otherwise, `former_trigger`,
none of which the quick reading takes in one piece: about 2.7 times as slow, printed beside).
The AR lines are laid out as analysisd 4.14.7 writes them (a real 651 from the lab: rule first,
`full_log` holding the whole message, 2.4 KB here; the trigger's `firedtimes` counting up) and,
printed beside, as `alerts-ar-sample.json` shows one (key order as the indexer showed it, the
message in `full_log` cut to `{...}`: 1.3 KB), which the intake reads with the general decoder.
The two sides are unlike in two ways, both printed: the baseline decodes a 0.6 KB line (the
decode alone of each is printed beside it), and an update also appends its row to the rows log
while a decision writes nothing. The sides take turns of 1,000 lines (the neighbours on a shared
machine slow all alike). What the intake's decoder adds to a line that is not an AR one is
measured too: the baseline itself uses the general decoder, unchanged. `bench/fleet_floor.py`
splits an update into what it cannot do without, to show where the floor of this design lies.

Both the delivery records and the fleet rows are written to files beside the state file on
the way (the spool, the rows log) and indexed into SQLite later, in batches (when listed, at
start, past a size): that deferred cost per record is measured and printed too, with the
ratio it would give if it were paid inside the timed part.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import multiprocessing
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from arconsole.alerts.ar_lines import decode_json_line
from arconsole.alerts.jsonreader import decode_alert_line
from arconsole.engine.clock import ManualClock
from arconsole.engine.engine import Engine
from arconsole.engine.fleet_store import FleetStore
from arconsole.engine.options import EngineOptions

CONF = """<ossec_config>
  <cluster><node_name>node01</node_name></cluster>
  <command><name>firewall-drop</name><executable>firewall-drop</executable>
    <timeout_allowed>yes</timeout_allowed></command>
  <active-response><command>firewall-drop</command><location>local</location>
    <rules_id>5710</rules_id><timeout>600</timeout></active-response>
</ossec_config>
"""


def trigger(n: int, agent: str) -> dict[str, object]:
    """A 5710 as analysisd 4.14.7 writes it (member for member as `start-lab` wrote one:
    the rule's compliance arrays in the ruleset's order, `predecoder`, `data` in the order
    the sshd decoder extracts: srcip, srcport, srcuser)."""
    address = f"192.0.{n // 250 % 250}.{n % 250}"
    return {
        "timestamp": "2026-05-03T05:23:56.662+0000",
        "rule": {"level": 5, "description": "sshd: Attempt to login using a non-existent user",
                 "id": "5710", "firedtimes": n % 1000 + 1, "mail": False,
                 "groups": ["syslog", "sshd", "authentication_failed", "invalid_login"],
                 "gdpr": ["IV_35.7.d", "IV_32.2"], "gpg13": ["7.1"], "hipaa": ["164.312.b"],
                 "nist_800_53": ["AU.14", "AC.7", "AU.6"],
                 "pci_dss": ["10.2.4", "10.2.5", "10.6.1"],
                 "tsc": ["CC6.1", "CC6.8", "CC7.2", "CC7.3"]},
        "agent": {"id": agent, "name": f"agent-{agent}"},
        "manager": {"name": "wazuh"}, "id": f"1777785836.{n}",
        "full_log": f"May 03 05:23:56 host sshd[6854]: Invalid user ke from {address} "
                    "port 10013 ssh2",
        "predecoder": {"program_name": "sshd", "timestamp": "May 03 05:23:56",
                       "hostname": "host"},
        "decoder": {"parent": "sshd", "name": "sshd"},
        "data": {"srcip": address, "srcport": "10013", "srcuser": "ke"},
        "location": "/var/log/auth.log",
    }


def former_trigger(n: int, agent: str) -> dict[str, object]:
    """The 5710 this bench decided before (until this session): `data` written srcuser
    first, an agent `ip`, two compliance arrays, no `predecoder`. No line of it is its own
    re-encoding for the quick reading, so each takes its slower road: printed beside, to
    compare with the ratios measured against it."""
    alert = trigger(n, agent)
    rule = alert["rule"]
    assert isinstance(rule, dict)
    rule["firedtimes"] = 4
    for name in ("gpg13", "hipaa", "nist_800_53", "tsc", "gdpr"):
        del rule[name]
    rule["gdpr"] = ["IV_35.7.d", "IV_32.2"]
    del alert["predecoder"]
    address = f"192.0.{n // 250 % 250}.{n % 250}"
    alert["agent"] = {"id": agent, "name": f"agent-{agent}", "ip": "172.18.250.105"}
    alert["full_log"] = (f"May 03 05:23:56 host sshd[6854]: Invalid user ke from {address} "
                         "port 10013")
    alert["data"] = {"srcuser": "ke", "srcip": address, "srcport": "10013"}
    alert["location"] = "journald"
    return alert


def stringified(value: object) -> object:
    """As the manager's JSON decoder leaves `data.parameters.alert`: every scalar a string."""
    if isinstance(value, dict):
        return {k: stringified(v) for k, v in value.items()}
    if isinstance(value, list):
        return [stringified(v) for v in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def unique_address(n: int) -> str:
    """A key of its own for each of 16 million AR lines (each update adds a row)."""
    return f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"


def ar_alert(n: int) -> bytes:
    """An agent's 651 as `alerts-ar-sample.json` shows one (key order as the indexer showed it,
    the message in `full_log` cut short)."""
    agent = f"{n % 50 + 1:03d}"
    inner = trigger(n, agent)
    srcip = inner["data"]["srcip"] = unique_address(n)  # type: ignore[index]
    alert = {
        "agent": {"id": agent, "name": f"agent-{agent}"}, "manager": {"name": "wazuh"},
        "data": {"srcip": srcip, "origin": {"module": "wazuh-execd", "name": "node01"},
                 "version": "1", "command": "add",
                 "parameters": {"alert": stringified(inner), "extra_args": [],
                                "program": "active-response/bin/firewall-drop"}},
        "rule": {"firedtimes": 3, "mail": False, "level": 3, "pci_dss": ["11.4"],
                 "description": "Host Blocked by firewall-drop Active Response",
                 "groups": ["ossec", "active_response"], "id": "651"},
        "location": "/var/ossec/logs/active-responses.log",
        "decoder": {"parent": "ar_log_json", "name": "ar_log_json"},
        "id": f"1777785838.{n}", "timestamp": "2026-05-03T05:23:58.000+0000",
        "full_log": "2026/05/03 05:23:56 active-response/bin/firewall-drop: {...}",
    }
    return json.dumps(alert, separators=(",", ":")).encode()


def ar_alert_wazuh(n: int) -> bytes:
    """An agent's 651 as analysisd writes it in alerts.json (key order and `full_log` as in a
    real one from `start-lab`); the trigger fired `n % 1000 + 1` times (it counts up)."""
    agent = f"{n % 50 + 1:03d}"
    inner = trigger(n, agent)
    inner["rule"]["firedtimes"] = n % 1000 + 1  # type: ignore[index]
    srcip = inner["data"]["srcip"] = unique_address(n)  # type: ignore[index]
    message = {"version": 1, "origin": {"name": "node01", "module": "wazuh-execd"},
               "command": "add",
               "parameters": {"extra_args": [], "alert": inner,
                              "program": "active-response/bin/firewall-drop"}}
    alert = {
        "timestamp": "2026-05-03T05:23:58.577+0000",
        "rule": {"level": 3, "description": "Host Blocked by firewall-drop Active Response",
                 "id": "651", "firedtimes": n % 5000 + 1, "mail": False,
                 "groups": ["ossec", "active_response"], "pci_dss": ["11.4"],
                 "gpg13": ["4.13"], "gdpr": ["IV_35.7.d"], "nist_800_53": ["SI.4"],
                 "tsc": ["CC6.1", "CC6.8", "CC7.2", "CC7.3", "CC7.4"]},
        "agent": {"id": agent, "name": f"agent-{agent}"}, "manager": {"name": "wazuh"},
        "id": f"1777785838.{n}",
        "full_log": "2026/05/03 05:23:56 active-response/bin/firewall-drop: "
                    + json.dumps(message, separators=(",", ":")),
        "decoder": {"parent": "ar_log_json", "name": "ar_log_json"},
        "data": {"srcip": srcip, "version": "1",
                 "origin": {"name": "node01", "module": "wazuh-execd"}, "command": "add",
                 "parameters": {"extra_args": [], "alert": stringified(inner),
                                "program": "active-response/bin/firewall-drop"}},
        "location": "/var/ossec/logs/active-responses.log",
    }
    return json.dumps(alert, separators=(",", ":")).encode()


def drain(path: str, expected: int, ready: multiprocessing.synchronize.Event) -> None:
    """remoted's part: read datagrams until `expected` have arrived."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 1024 * 1024)
    sock.bind(path)
    ready.set()
    for _ in range(expected):
        sock.recv(70000)
    sock.close()


def with_reader(path: Path, count: int) -> multiprocessing.Process:
    ready = multiprocessing.Event()
    reader = multiprocessing.Process(target=drain, args=(str(path), count, ready))
    reader.start()
    ready.wait()
    return reader


def raw_sends(path: Path, datagrams: list[bytes], rounds: int) -> tuple[float, float]:
    """(sends per second of wall time, per second of this process's CPU time): the best
    round of each."""
    wall, cpu_rate = 0.0, 0.0
    for _ in range(rounds):
        reader = with_reader(path, len(datagrams))
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.connect(str(path))
        start, cpu = time.perf_counter(), time.process_time()
        for datagram in datagrams:
            sock.send(datagram)  # blocking: waits when the reader's queue is full
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        sock.close()
        reader.join()
        path.unlink()
        wall, cpu_rate = max(wall, len(datagrams) / elapsed), max(cpu_rate, len(datagrams) / cpu)
    return wall, cpu_rate


async def through_engine(home: Path, count: int, rounds: int
                         ) -> tuple[float, float, float, float, list[bytes]]:
    queue = home / "queue" / "alerts" / "ar"
    lines = [json.dumps(trigger(n, f"{n % 50 + 1:03d}"), separators=(",", ":")).encode()
             for n in range(count)]
    options = EngineOptions(
        config_path=home / "etc" / "ossec.conf", home=home,
        alerts_path=home / "logs" / "alerts" / "alerts.json",
        state_path=home / "var" / "state.db", watch_config=False, control_socket=False,
        agent_queue=queue, agents_file=home / "agents.json",
    )
    total = count * (1 + rounds)
    reader = with_reader(queue, total)
    engine = Engine(options, clock=ManualClock(1_700_000_000.0))
    await engine.start(follow=False)
    # As `arconsole run` does once started: the start-up heap out of the collector's sight.
    gc.freeze()
    delivery = engine.agent_delivery
    assert delivery is not None
    # (a) The whole engine: decode, decide, record, send, mark sent.
    start = time.perf_counter()
    for line in lines:
        await engine.handle_line(line)
    await engine.drain()
    await delivery.wait_idle()
    whole = count / (time.perf_counter() - start)
    # (b) The delivery stage alone, fed the decided responses: record, send, mark sent.
    # Best of `rounds` rounds, each with keys of its own (a repeat would send nothing).
    config = engine.config
    assert config is not None
    response = config.responses[0]
    stage = stage_cpu = 0.0
    for round_ in range(1, rounds + 1):
        alerts = [decode_alert_line(json.dumps(trigger(n, f"{n % 50 + 1:03d}"),
                                               separators=(",", ":")).encode())
                  for n in range(round_ * count, (round_ + 1) * count)]
        # The bench's own input (a real intake never holds 10,000 decoded alerts at once)
        # stays out of the collector's sight too.
        gc.freeze()
        start, cpu = time.perf_counter(), time.process_time()
        for alert in alerts:
            delivery.deliver(response, alert.agent_id or "001", alert, 1_700_000_000.0)
        await delivery.wait_idle()
        stage = max(stage, count / (time.perf_counter() - start))
        stage_cpu = max(stage_cpu, count / (time.process_time() - cpu))
        del alerts
        gc.unfreeze()
    cpu = time.process_time()
    assert delivery.store is not None
    indexed = delivery.store.catch_up()  # the deferred part: spool -> SQLite
    deferred = (time.process_time() - cpu) / max(indexed, 1)
    with FleetStore(engine.store) as fleet:
        records = fleet.deliveries("sent")
    await engine.stop()
    reader.join()
    queue.unlink()
    assert len(records) == total, f"{len(records)} of {total} sent"
    return whole, stage, stage_cpu, deferred, [r.datagram or b"" for r in records[:count]]


def router_cost(lines: list[bytes], rounds: int = 20) -> tuple[float, float]:
    """CPU seconds per line of `decode_alert_line` and of the intake's `decode_json_line` on
    lines that are not AR lines, taking turns (what the AR test adds to every other line)."""
    spent = {decode_alert_line: 0.0, decode_json_line: 0.0}
    for round_ in range(rounds):
        order = (decode_alert_line, decode_json_line)
        for decode in order if round_ % 2 else order[::-1]:
            cpu = time.process_time()
            for line in lines:
                decode(line)
            spent[decode] += time.process_time() - cpu
    return (spent[decode_alert_line] / rounds / len(lines),
            spent[decode_json_line] / rounds / len(lines))


def per_line(decode: object, lines: list[bytes]) -> float:
    """CPU seconds per line of `decode`."""
    assert callable(decode)
    cpu = time.process_time()
    for line in lines:
        decode(line)
    return (time.process_time() - cpu) / len(lines)


class Side(NamedTuple):
    """One measured side: per second of wall time and of CPU time."""

    wall: float
    cpu: float


class Clocks:
    """Wall and CPU time summed over the chunks of one side."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0
        self.count = 0

    def run(self, count: int, work: Callable[[], object]) -> None:
        start, cpu = time.perf_counter(), time.process_time()
        work()
        self.wall += time.perf_counter() - start
        self.cpu += time.process_time() - cpu
        self.count += count

    def side(self) -> Side:
        return Side(self.count / self.wall, self.count / self.cpu)


class FleetRun(NamedTuple):
    decisions: Side
    updates: Side  # AR lines as analysisd writes them
    updates_sample: Side  # AR lines as alerts-ar-sample.json shows one
    decisions_routed: Side  # the baseline's lines through the intake's decoder
    decisions_former: Side  # the 5710 lines this bench decided before (`former_trigger`)
    router: tuple[float, float]  # decode alone of the baseline's lines: general, intake's
    deferred: float  # CPU seconds per row to index the rows log into SQLite
    persisting: float  # CPU seconds per update in the rows log append (in `updates`)
    decode_ar: float
    decode_sample: float
    decode_trigger: float
    size_ar: int
    size_sample: int
    size_trigger: int


CHUNK = 1000  # lines per turn: the sides take turns, so the neighbours slow all alike


def fleet_vs_decisions(home: Path, count: int) -> FleetRun:
    """Turns of: the decisions, AR lines as analysisd writes them applied to the table (a new
    row each: keys never seen), the decisions through the intake's decoder, AR lines as the
    sample shows one."""

    async def run() -> FleetRun:
        options = EngineOptions(
            config_path=home / "etc" / "ossec.conf", home=home,
            alerts_path=home / "logs" / "alerts" / "alerts.json",
            state_path=home / "var" / "fleet-state.db", watch_config=False,
            control_socket=False,
        )
        engine = Engine(options, clock=ManualClock(1_700_000_000.0))
        await engine.start(follow=False)
        gc.freeze()  # as `arconsole run` does once started: the start-up heap out of sight
        decider = engine.intake.decider
        assert decider is not None
        fired = decider.fired
        fleet = engine.fleet
        observe = fleet.observe
        trigger_lines = [json.dumps(trigger(n, "001"), separators=(",", ":")).encode()
                         for n in range(count)]
        former_lines = [json.dumps(former_trigger(n, "001"), separators=(",", ":")).encode()
                        for n in range(count)]

        def decide(lines: list[bytes]) -> Callable[[], None]:
            def work() -> None:
                for line in lines:
                    fired(decode_alert_line(line))
            return work

        def decide_routed(lines: list[bytes]) -> Callable[[], None]:
            def work() -> None:
                for line in lines:
                    fired(decode_json_line(line))
            return work

        persisting = [0.0]  # CPU seconds in `flush` (the rows log) of the analysisd lines

        def update(lines: list[bytes], flushes: list[float] | None = None
                   ) -> Callable[[], None]:
            def work() -> None:
                for line in lines:
                    observe(decode_json_line(line), 1_700_000_000.0)
                cpu = time.process_time()
                fleet.flush()  # as at the end of the event loop's turn
                if flushes is not None:
                    flushes[0] += time.process_time() - cpu
            return work

        store = fleet.table.store
        assert store is not None
        wazuh_lines = [ar_alert_wazuh(n) for n in range(count)]
        sample_lines = [ar_alert(n) for n in range(count, 2 * count)]
        sides = {name: Clocks() for name in ("decide", "wazuh", "routed", "sample", "former")}
        for first in range(0, count, CHUNK):
            turn = slice(first, first + CHUNK)
            triggers = trigger_lines[turn]
            # What runs just before a side slows it (caches): the two decision sides swap
            # places every turn, so neither is always the one after the big AR lines.
            one, other = ("decide", "routed") if first // CHUNK % 2 == 0 else ("routed", "decide")
            work = {"decide": decide(triggers), "routed": decide_routed(triggers)}
            sides[one].run(len(triggers), work[one])
            sides["wazuh"].run(len(triggers), update(wazuh_lines[turn], persisting))
            sides[other].run(len(triggers), work[other])
            sides["sample"].run(len(triggers), update(sample_lines[turn]))
            sides["former"].run(len(triggers), decide(former_lines[turn]))
        cpu = time.process_time()
        indexed = store.catch_up_rows()  # the deferred part: rows log -> SQLite
        deferred = (time.process_time() - cpu) / max(indexed, 1)
        assert fleet.updates == 2 * count
        assert indexed == 2 * count, f"{indexed} row images of {2 * count}"
        assert len(store.load_rows()) == 2 * count
        await engine.stop()
        return FleetRun(sides["decide"].side(), sides["wazuh"].side(), sides["sample"].side(),
                        sides["routed"].side(), sides["former"].side(),
                        router_cost(trigger_lines[:2000]), deferred,
                        persisting[0] / count,
                        per_line(decode_json_line, wazuh_lines),
                        per_line(decode_alert_line, sample_lines),
                        per_line(decode_alert_line, trigger_lines),
                        len(wazuh_lines[0]), len(sample_lines[0]), len(trigger_lines[0]))

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--responses", type=int, default=10_000)
    parser.add_argument("--updates", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3,
                        help="delivery: best of this many rounds, stage and raw sends alike")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        for sub in ("etc", "queue/alerts", "logs/alerts", "var", "active-response/bin"):
            (home / sub).mkdir(parents=True)
        (home / "etc" / "ossec.conf").write_text(CONF)
        (home / "logs" / "alerts" / "alerts.json").touch()
        agents = [{"id": f"{n:03d}", "name": f"agent-{n:03d}", "status": "active",
                   "version": "Wazuh v4.14.7"} for n in range(1, 51)]
        (home / "agents.json").write_text(json.dumps(agents))
        engine_rate, stage_rate, stage_cpu, deferred, datagrams = asyncio.run(
            through_engine(home, args.responses, args.rounds))
        raw_rate, raw_cpu = raw_sends(home / "queue" / "alerts" / "ar", datagrams, args.rounds)
        ratio = stage_rate / raw_rate
        print(f"agent responses through the queue:  {stage_rate:,.0f}/s "
              "(delivery stage: recorded in the spool, sent, marked sent)")
        print(f"  whole engine, alert line to sent: {engine_rate:,.0f}/s "
              f"(ratio {engine_rate / raw_rate:.2f}: decode, decide, a task per alert)")
        print(f"raw datagram sends, same bytes:     {raw_rate:,.0f}/s")
        print(f"ratio {ratio:.2f} (target >= 0.5) {'OK' if ratio >= 0.5 else 'BELOW TARGET'}")
        # On a shared machine wall time swings with the neighbours; CPU time of this process
        # (the reader is another one) says what each side costs.
        print(f"  per CPU second: stage {stage_cpu:,.0f}/s, raw {raw_cpu:,.0f}/s, "
              f"ratio {stage_cpu / raw_cpu:.2f}")
        all_in = 1 / (1 / stage_cpu + deferred)
        print(f"  deferred: indexing the spool into SQLite {deferred * 1e6:.1f} us/record "
              f"(when listed, confirmed, at start); paid inline the CPU ratio would be "
              f"{all_in / raw_cpu:.2f}")
        fleet = fleet_vs_decisions(home, args.updates)
        decisions, updates = fleet.decisions, fleet.updates
        ratio = updates.wall / decisions.wall
        print(f"fleet-table updates from AR alerts: {updates.wall:,.0f}/s (intake's decode, "
              "trigger, bind, rows log; lines as analysisd writes them)")
        print(f"decisions (decode + fired):         {decisions.wall:,.0f}/s")
        print(f"ratio {ratio:.2f} (target >= 0.8) {'OK' if ratio >= 0.8 else 'BELOW TARGET'}")
        print(f"  per CPU second: updates {updates.cpu:,.0f}/s, decisions {decisions.cpu:,.0f}/s, "
              f"ratio {updates.cpu / decisions.cpu:.2f} (sides taking turns of {CHUNK} lines)")
        bare = 1 / (1 / updates.cpu - fleet.persisting)
        print(f"  of which the rows log append (a decision writes nothing): "
              f"{fleet.persisting * 1e6:.1f} us/update; without it the CPU ratio would be "
              f"{bare / decisions.cpu:.2f}")
        sample = fleet.updates_sample
        print(f"  lines as alerts-ar-sample.json shows one (indexer's key order, general "
              f"decoder): {sample.cpu:,.0f}/s per CPU second, ratio "
              f"{sample.cpu / decisions.cpu:.2f}")
        print(f"  decode alone: AR line {fleet.decode_ar * 1e6:.1f} us ({fleet.size_ar} B), "
              f"sample-shaped AR line {fleet.decode_sample * 1e6:.1f} us ({fleet.size_sample} B), "
              f"trigger line {fleet.decode_trigger * 1e6:.1f} us ({fleet.size_trigger} B)")
        former = fleet.decisions_former
        print(f"  decisions on the 5710 lines this bench used before (`former_trigger`: no "
              f"line its own re-encoding for the quick reading): {former.cpu:,.0f}/s per CPU "
              f"second; the updates' CPU ratio against them {updates.cpu / former.cpu:.2f}")
        routed = fleet.decisions_routed
        general, intake = fleet.router
        extra = (intake / general - 1) * 100
        print(f"  the intake's decoder on the baseline's lines: decisions {routed.cpu:,.0f}/s per "
              f"CPU second ({routed.cpu / decisions.cpu:.2f} of the baseline's); decode alone "
              f"{intake * 1e6:.2f} us vs {general * 1e6:.2f} us ({extra:+.1f}%, taking turns)")
        all_in = 1 / (1 / updates.cpu + fleet.deferred)
        print(f"  deferred: indexing the rows log into SQLite {fleet.deferred * 1e6:.1f} us/row "
              f"(distinct rows only; at start, past 16 MiB, when listed); paid inline the CPU "
              f"ratio would be {all_in / decisions.cpu:.2f}")


if __name__ == "__main__":
    main()
