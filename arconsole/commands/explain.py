"""`arconsole explain CONFIG [ALERTS]`: which responses each alert fires, and why.

Reads alerts.json lines or alerts.log records (detected from the first line) from a file or
stdin, and for every alert reports every `<active-response>` of CONFIG in file order: whether
it fires, the plain-language reasons, and where it would run.

Exit status: 0 when every alert was read, 1 when some lines or records could not be read
(each is reported and skipped), 2 when CONFIG, ALERTS or the agents file cannot be read.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from arconsole.commands.explain_report import JsonlReport, TextReport
    from arconsole.config.model import Config
    from arconsole.engine.decide import Decider


def closing_notes(flavour: str, alerts_file: str) -> tuple[str, ...]:
    """The text report's closing note, true for the config's flavour ("wazuh" or "ossec")
    and the alerts file read ("alerts.json" or "alerts.log").

    Wazuh documents <log_alert_level> as the lowest level stored to alerts.log and/or
    alerts.json. OSSEC's analysisd (ossec-hids src/analysisd/analysisd.c, rules.c) writes an
    alert to alerts.log, and alerts.json with <jsonout_output>, only when the rule's level
    reaches it (DO_LOGALERT), runs the rule's responses either way, and binds none to a
    no_ar rule (Rule_AddAR)."""
    if flavour == "ossec":
        daemon, product = "ossec-analysisd", "OSSEC"
        source = ("in OSSEC's source, <alerts><log_alert_level> is the lowest level of alert "
                  "written to alerts.log (and to alerts.json, with <jsonout_output>)")
    else:
        daemon, product = "Wazuh", "Wazuh"
        written = "alerts.json" if alerts_file == "alerts.json" else "alerts.log and alerts.json"
        source = ("as Wazuh documents them, <alerts><log_alert_level> is the lowest level of "
                  f"alert written to {written}")
    return (
        f"arconsole sees only what reaches {alerts_file}. {daemon} runs a rule's responses "
        f"when the rule matches, whether or not the alert is written: {source}, so a response "
        f"bound to a lower-level rule runs in {product} but is never seen here; and a rule "
        f"with <options>no_ar</options> never triggers an active response in {product}, yet "
        "its alerts look like any other here.",
    )


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "explain",
        help="show which responses each alert fires, and why",
        description="For each alert (alerts.json lines or alerts.log records), list every "
        "<active-response> of CONFIG in file order: whether it fires, why, and where it runs.",
        epilog="Exit status: 0 all alerts read; 1 some could not be read (reported, skipped); "
        "2 CONFIG, ALERTS or --agents unreadable.",
    )
    parser.add_argument("config", type=Path, metavar="CONFIG", help="ossec.conf")
    parser.add_argument(
        "alerts", nargs="?", default="-", metavar="ALERTS",
        help="alerts.json or alerts.log file, or - for stdin (default)",
    )
    parser.add_argument(
        "--format", choices=["jsonl", "text"], default=None,
        help="jsonl: one JSON object per alert; text: a report for people "
        "(default: text on a terminal, jsonl otherwise)",
    )
    parser.add_argument(
        "--flavour", choices=["wazuh", "ossec"], default="wazuh",
        help="decide as Wazuh 4.x (default) or as OSSEC 3.x",
    )
    parser.add_argument(
        "--agents", type=Path, metavar="FILE",
        help='JSON array of {"id": "001", "name": "web-01", "status": "active"}, for '
        "location all (without it, all is reported as [\"all\"])",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from arconsole.commands.explain_report import JsonlReport, TextReport
    from arconsole.config.loader import ConfigReadError, load_config
    from arconsole.config.model import Flavour
    from arconsole.engine.agents import AgentDirectory, AgentsFileError, load_agents
    from arconsole.engine.decide import Decider

    try:
        config = load_config(args.config, flavour=Flavour(args.flavour))
    except ConfigReadError as error:
        return _fail(f"cannot read {args.config}: {error}")
    agents: AgentDirectory | None = None
    if args.agents is not None:
        try:
            agents = load_agents(args.agents)
        except AgentsFileError as error:
            return _fail(str(error))
    _warn_config_errors(config)
    try:
        stream = _open_alerts(args.alerts)
    except OSError as error:
        return _fail(f"cannot read {args.alerts}: {error.strerror or error}")
    if stream is sys.stdin.buffer and sys.stdin.isatty():
        # Otherwise a forgotten ALERTS looks like a hang.
        print("arconsole explain: reading alerts from stdin (paste alerts.json lines, end "
              "with ctrl+d; or name a file: arconsole explain CONFIG ALERTS)", file=sys.stderr)
    text = args.format == "text" or (args.format is None and sys.stdout.isatty())
    report: JsonlReport | TextReport = (
        TextReport(sys.stdout, config) if text else JsonlReport(sys.stdout)
    )
    decider = Decider(config, agents)
    try:
        unreadable, alerts_file = explain_stream(stream, decider, report)
        flavour = config.flavour.value
        report.finish(closing_notes(flavour, alerts_file or (
            "alerts.log" if flavour == "ossec" else "alerts.json")))
    except BrokenPipeError:
        # The reader went away (`explain ... | head`): stop quietly, as other tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()
    return 1 if unreadable else 0


def explain_stream(
    stream: IO[bytes], decider: Decider, report: JsonlReport | TextReport
) -> tuple[int, str | None]:
    """Decide every alert of `stream` into `report`; returns how many could not be read, and
    the kind of file read ("alerts.json" or "alerts.log"; None for an empty stream)."""
    from arconsole.alerts.detect import AlertFormat, detect_format
    from arconsole.alerts.jsonreader import MAX_LINE, read_alerts_json
    from arconsole.alerts.logreader import read_alerts_log
    from arconsole.alerts.model import AlertError

    lines = _bounded_lines(stream, MAX_LINE + 2)
    leading: list[bytes] = []
    for line in lines:
        leading.append(line)
        if line.strip():
            break
    if not leading:
        return 0, None
    chained = _chain(leading, lines)
    if detect_format(leading[-1]) is AlertFormat.LOG:
        alerts_file = "alerts.log"
        results = read_alerts_log(line.decode("utf-8", "replace") for line in chained)
    else:
        alerts_file = "alerts.json"
        results = read_alerts_json(chained)
    unreadable = 0
    for number, result in results:
        if isinstance(result, AlertError):
            unreadable += 1
            report.error(number, str(result))
        else:
            report.decision(number, decider.decide(result))
    return unreadable, alerts_file


def _bounded_lines(stream: IO[bytes], limit: int) -> Iterator[bytes]:
    """The lines of `stream`, a line longer than `limit` cut there (and refused later), so
    one endless line cannot fill the memory."""
    while line := stream.readline(limit):
        if len(line) == limit and not line.endswith(b"\n"):
            while (rest := stream.readline(limit)) and not rest.endswith(b"\n"):
                pass
        yield line


def _chain(first: list[bytes], rest: Iterable[bytes]) -> Iterator[bytes]:
    yield from first
    yield from rest


def _fail(message: str) -> int:
    """One line on stderr, escaped (a newline or an escape code in a path cannot break or
    forge it); exit status 2: an input cannot be read."""
    from arconsole.safetext import literal

    print(f"arconsole explain: {literal(message)}", file=sys.stderr)
    return 2


def _open_alerts(name: str) -> IO[bytes]:
    if name == "-":
        return sys.stdin.buffer
    return open(name, "rb")  # closed by run()


_ERRORS_SHOWN = 5  # the rest are check's to list


def _warn_config_errors(config: Config) -> None:
    errors = config.errors
    if not errors:
        return
    from arconsole.config.model import Flavour
    from arconsole.safetext import literal
    from arconsole.wording import counted

    daemon = "Wazuh" if config.flavour is Flavour.WAZUH else "OSSEC"
    print(
        f"arconsole explain: {literal(str(config.path))} has {counted(len(errors), 'error')}; "
        f"{daemon} would refuse to start with it. The decisions below use the blocks that could "
        "be read.",
        file=sys.stderr,
    )
    for error in errors[:_ERRORS_SHOWN]:
        print(literal(f"  {config.path}:{error.line}:{error.column}: {error.message} "
                      f"[{error.code}]"), file=sys.stderr)
    if len(errors) > _ERRORS_SHOWN:
        print(literal(f"  ... and {len(errors) - _ERRORS_SHOWN} more: arconsole check "
                      f"{config.path}"), file=sys.stderr)
