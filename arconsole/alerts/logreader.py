"""Read OSSEC's classic `alerts.log` records into the same `Alert` model.

A record, as `OS_Log` writes it (`src/analysisd/alerts/log.c`):

    ** Alert 1571166477.30198: - syslog,sshd,invalid_login,...,pci_dss_10.2.4,
    2019 Oct 15 21:09:56 (agent) any->/var/log/secure
    [label: value lines]
    Rule: 5710 (level 5) -> 'sshd: Attempt to login using a non-existent user'
    Src IP: 18.18.18.18            (optional, then Src Port, Dst IP, Dst Port, User, in order)
    <full_log>
    <more lines: FIM attributes, dynamic fields, previous events>

The header carries the raw group string, so `group_string` is exact here. The record names an
agent by `(name) ip`, never by id: such alerts have `agent_id` None and `agent_name` set, and a
`local` response needs the agent directory to find the id. The manager's own events read
`hostname->location` and get agent `000`. `timestamp` comes from the epoch of the alert id, in
UTC (the date line is local time with no zone). `raw` is a JSON object in alerts.json shape.

Only the header lines are trusted for fields: a `Src IP:` line further down (inside a log
line or a FIM diff) is never read.

A whole record can be forged, though: OS_Log prints a record's dynamic fields after its
full_log as `key: value` lines, values as decoded, and a JSON log's string or a Windows
event's message holds real newlines; whoever controls one writes lines that begin with
`** Alert `, which a reader takes for a record of its own (any rule, level, agent, address).
What they do not choose is where that line lands: analysisd writes `ftell(alerts.log)` as the
offset part of each alert id (`__crt_ftell`), so a record followed in its file must start at
the byte its id names (`decode_alert_record`'s `start`), or it is refused as crafted. That
makes a forgery a guess, not impossible: alert ids reach agents (in every AR message), so on a
quiet manager the next offsets can be estimated and several forged headers tried at once;
follow alerts.json (newlines escaped) where that matters. A known false refusal: after an
external copytruncate of alerts.log, the first record analysisd writes may carry a stale offset.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime

from arconsole.alerts.groups import split_group_string
from arconsole.alerts.model import Alert, AlertError
from arconsole.safetext import literal

RECORD_START = "** Alert "
MAX_RECORD = 65536 * 4  # a record is bounded like a line is: larger ones are refused


def fits(size: int, line: int) -> bool:
    """Whether a line of `line` bytes may follow a record of `size` (newlines counted): both
    readers cut a record at the first line that does not fit, and drop the rest of it."""
    return size + 1 + line <= MAX_RECORD

# OS_Log writes the id's parts with %ld, the rule's id and level with %d: longer digit runs
# are no record's (and Python's int() refuses more than 4300 digits).
_HEADER = re.compile(r"\*\* Alert (\d{1,19})\.(\d{1,19}):( mail )? *- (.*)")
_DATE = re.compile(r"(\d{4}) ([A-Z][a-z]{2}) ([ 0-9]\d) (\d\d:\d\d:\d\d) (.*)")
_RULE = re.compile(r"Rule: (\d{1,10}) \(level (\d{1,10})\) -> '(.*)'")
_AGENT_LOCATION = re.compile(r"\(([^)]*)\) (\S+)->(.*)")
_FIM_PATH = re.compile(
    r"(?:Integrity checksum changed for: '(.*)'|File '(.*)' (?:added|modified|deleted))"
)
# The optional header fields, in the order OS_Log writes them: (prefix, alerts.json key).
_FIELDS: tuple[tuple[str, str | None], ...] = (
    ("Src IP: ", "srcip"),
    ("Src Location: ", None),
    ("Src Port: ", "srcport"),
    ("Dst IP: ", "dstip"),
    ("Dst Location: ", None),
    ("Dst Port: ", "dstport"),
    ("User: ", "dstuser"),
)


def iter_records(lines: Iterable[str]) -> Iterator[tuple[int, list[str]]]:
    """(first line number, lines) for each record; lines outside a record are skipped.

    A record runs from a `** Alert ` line to the next one; trailing blank lines are dropped,
    and so is the body from the first line that does not fit in MAX_RECORD (`fits`).
    """
    start = 0
    record: list[str] = []
    size = 0
    cut = False
    for number, line in enumerate(lines, 1):
        line = line.rstrip("\r\n")
        if line.startswith(RECORD_START):
            if record:
                yield start, _trim(record)
            start, record, size, cut = number, [line], len(line), False
        elif record and not cut:
            # Past MAX_RECORD the body is dropped: the fields are all in the first lines.
            # (Characters here, bytes in the follower: the same for the ASCII OS_Log writes.)
            cut = not fits(size, len(line))
            if not cut:
                record.append(line)
                size += 1 + len(line)
    if record:
        yield start, _trim(record)


def _trim(record: list[str]) -> list[str]:
    while record and not record[-1].strip():
        record.pop()
    return record


def read_alerts_log(lines: Iterable[str]) -> Iterator[tuple[int, Alert | AlertError]]:
    """(first line number, Alert or AlertError) for each record, in order."""
    for number, record in iter_records(lines):
        try:
            yield number, parse_record(record)
        except AlertError as error:
            yield number, error


def decode_alert_record(data: bytes, start: int | None = None) -> Alert:
    """One record as the record follower yields it (lines joined with newlines).

    `start` is the byte of its file the record starts at, when known: the id must name it.
    """
    if len(data) > MAX_RECORD:
        raise AlertError(f"record longer than {MAX_RECORD} bytes")
    alert = parse_record(data.decode("utf-8", "replace").split("\n"))
    if start is not None:
        named = int(alert.alert_id.rpartition(".")[2])
        if named != start:
            raise AlertError(
                f"crafted: the record's id names byte {named} of the file, and it starts at "
                f"byte {start}: analysisd writes each record's own offset, so these lines "
                "were written inside another record (a forged '** Alert' header)"
            )
    return alert


def parse_record(lines: Sequence[str]) -> Alert:
    """One record's lines as an Alert; AlertError when the header is not OS_Log's."""
    lines = [line.rstrip("\r") for line in lines]
    if len(lines) < 3:
        raise AlertError("alerts.log record too short")
    header = _HEADER.fullmatch(lines[0])
    if header is None:
        raise AlertError("not an alerts.log record header ('** Alert <epoch>.<id>: - groups')")
    epoch, offset, mail, group_string = header.groups()
    date = _DATE.fullmatch(lines[1])
    if date is None:
        raise AlertError("second line is not '<year> <Mon> <dd> <hh:mm:ss> <location>'")
    index = 2
    labels: list[tuple[str, str]] = []
    while index < len(lines) and not lines[index].startswith("Rule: "):
        key, sep, value = lines[index].partition(": ")
        if not sep:
            raise AlertError(f"unexpected line {index + 1} before 'Rule:'")
        labels.append((key, value))
        index += 1
    rule = _RULE.fullmatch(lines[index]) if index < len(lines) else None
    if rule is None:
        raise AlertError("no 'Rule: <id> (level <n>) -> ...' line")
    fields, full_log = _header_fields(lines, index + 1)
    groups, compliance = split_group_string(group_string)
    agent_name, agent_ip, agent_id, location = _split_location(date.group(5))
    alert_id = f"{int(epoch)}.{int(offset)}"
    try:
        when = datetime.fromtimestamp(int(epoch), UTC)
    except (OverflowError, OSError, ValueError):
        raise AlertError(f"alert id {literal(epoch)}: no date has that epoch") from None
    timestamp = when.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    filename = None
    if "syscheck" in groups and full_log is not None:
        fim = _FIM_PATH.match(full_log)
        if fim is not None:
            filename = fim.group(1) if fim.group(1) is not None else fim.group(2)
    raw = _raw_json(
        timestamp=timestamp, rule_id=rule.group(1), level=int(rule.group(2)),
        description=rule.group(3), mail=mail is not None, groups=groups, compliance=compliance,
        agent=(agent_id, agent_name, agent_ip), alert_id=alert_id, full_log=full_log,
        fields=fields, labels=labels, location=location, filename=filename,
    )
    return Alert(
        alert_id=alert_id,
        timestamp=timestamp,
        rule_id=rule.group(1),
        level=int(rule.group(2)),
        description=rule.group(3),
        groups=groups,
        group_string=group_string,
        agent_id=agent_id,
        agent_name=agent_name,
        srcip=fields.get("srcip"),
        dstuser=fields.get("dstuser"),
        location=location,
        raw=raw,
        full_log=full_log,
        filename=filename,
    )


def _header_fields(lines: Sequence[str], index: int) -> tuple[dict[str, str], str | None]:
    """The optional fields right after the Rule line (in OS_Log's order), then full_log."""
    fields: dict[str, str] = {}
    for prefix, key in _FIELDS:
        if index < len(lines) and lines[index].startswith(prefix):
            if key is not None:
                fields[key] = lines[index][len(prefix) :]
            index += 1
    full_log = lines[index] if index < len(lines) else None
    return fields, full_log


def _split_location(text: str) -> tuple[str | None, str | None, str | None, str]:
    """(agent name, agent ip, agent id, location) from `(name) ip->loc` or `host->loc`."""
    agent = _AGENT_LOCATION.fullmatch(text)
    if agent is not None:
        # An agent's event: alerts.log gives its name and address, never its id.
        return agent.group(1), agent.group(2), None, agent.group(3)
    host, arrow, location = text.partition("->")
    if arrow:
        return host, None, "000", location
    return None, None, None, text


def _raw_json(
    *,
    timestamp: str,
    rule_id: str,
    level: int,
    description: str,
    mail: bool,
    groups: tuple[str, ...],
    compliance: list[tuple[str, list[str]]],
    agent: tuple[str | None, str | None, str | None],
    alert_id: str,
    full_log: str | None,
    fields: dict[str, str],
    labels: list[tuple[str, str]],
    location: str,
    filename: str | None,
) -> bytes:
    """The record as an alerts.json object, keys in Wazuh's order (spec 10)."""
    rule: dict[str, object] = {
        "level": level, "description": description, "id": rule_id, "mail": mail,
        "groups": list(groups),
    }
    rule.update(compliance)
    document: dict[str, object] = {"timestamp": timestamp, "rule": rule}
    agent_id, agent_name, agent_ip = agent
    if agent_id is not None or agent_name is not None:
        agent_object: dict[str, object] = {}
        if agent_id is not None:
            agent_object["id"] = agent_id
        if agent_name is not None:
            agent_object["name"] = agent_name
        if agent_ip is not None and agent_ip != "any":
            agent_object["ip"] = agent_ip
        if labels:
            agent_object["labels"] = dict(labels)
        document["agent"] = agent_object
    document["id"] = alert_id
    if full_log is not None:
        document["full_log"] = full_log
    if filename is not None:
        document["syscheck"] = {"path": filename}
    if fields:
        document["data"] = dict(fields)
    document["location"] = location
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
