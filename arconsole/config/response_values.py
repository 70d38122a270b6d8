"""Reading and judging the values of one `<active-response>` (spec 3.1, 5.3, 5.4, 7.5)."""

from __future__ import annotations

import itertools

from arconsole.config.element_options import BlockOptions, ReadContext
from arconsole.config.findings import Findings, quoted, space_hint
from arconsole.config.model import ConfigNode, Flavour, LocationFlag
from arconsole.config.values import (
    LOCATION_WORDS,
    c_atoi,
    describe_route,
    location_flags,
    location_tokens,
    str_is_num,
)

MAX_LEVEL = 20  # what analysisd accepts
MAX_RULE_LEVEL = 16  # what rules can have
MAX_REPEATED_OFFENDERS = 5


def read_level(options: BlockOptions, context: ReadContext) -> int:
    """`<level>`: digits only (`OS_StrIsNum`), 0..20, else error 1235; 0 when unset."""
    text = options.text("level")
    if text is None:
        return 0
    node = options.last["level"]
    if not str_is_num(text) or c_atoi(text).value > MAX_LEVEL:
        context.findings.error(
            "1235", node, f"Invalid value for element 'level': {quoted(text)}.",
            space_hint(text) or "a rule level: a whole number from 1 to 16")
        return 0
    return c_atoi(text).value


def level_invalid(options: BlockOptions) -> bool:
    """A `<level>` that is error 1235 (already reported)."""
    text = options.text("level")
    return text is not None and (not str_is_num(text) or c_atoi(text).value > MAX_LEVEL)


def judge_level(level: int, options: BlockOptions, findings: Findings) -> None:
    node = options.last.get("level")
    if node is None or level_invalid(options):
        return
    if level == 0:
        findings.warning(
            "AR-LEVEL", node,
            "<level> 0 (or empty) sets no level filter: the block binds by <rules_group> and "
            "<rules_id> only", "rule levels go from 1 to 16; remove <level> if no filter is meant")
    elif level > MAX_RULE_LEVEL:
        findings.warning(
            "AR-LEVEL", node,
            f"<level> {level} is above 16, the highest rule level: the level filter never "
            "matches", "rule levels go from 1 to 16")


def read_disabled(options: BlockOptions, context: ReadContext) -> bool:
    text = options.text("disabled")
    if text is None:
        return False
    if text not in ("yes", "no"):
        context.findings.error("1235", options.last["disabled"],
                               f"Invalid value for element 'disabled': {quoted(text)}.",
                               space_hint(text) or "use yes or no")
    return text == "yes"


def read_timeout(options: BlockOptions, findings: Findings | None) -> int:
    """`<timeout>` through `atoi` (seconds, no unit); judged when `findings` is given (F4)."""
    text = options.text("timeout")
    if text is None:
        return 0
    result = c_atoi(text)
    if findings is None:
        return result.value
    node = options.last["timeout"]
    if not result.digits:
        findings.error(
            "AR-TIMEOUT", node,
            f"<timeout>{quoted(text)}</timeout> is not a number: Wazuh reads it as 0 and the "
            "response is never reversed", "give the block duration in seconds, e.g. 600")
    elif result.value <= 0:
        findings.error(
            "AR-TIMEOUT", node,
            f"<timeout> must be a positive number of seconds, not {result.value} (Wazuh "
            "accepts it silently)", "remove <timeout> for a response that is never reversed")
    elif result.rest.strip():
        findings.warning(
            "AR-TIMEOUT-UNIT", node,
            f"<timeout>{quoted(text)}</timeout> is read as {result.value} seconds: Wazuh has no "
            "unit suffixes", "write the duration in seconds, e.g. 600 for 10 minutes")
    return result.value


def judge_rules_id(text: str, ids: tuple[int, ...], ignored: tuple[str, ...],
                   node: ConfigNode, findings: Findings) -> None:
    if not ignored:
        return
    read = ", ".join(str(i) for i in ids) if ids else "no rule id at all"
    skipped = " and ".join(f"'{quoted(piece.strip())}'" for piece in ignored)
    if any("\n" in piece for piece in ignored):
        hint = "write the ids on one line: Wazuh stops at a line break"
    elif any("-" in piece for piece in ignored):
        hint = "ranges are not supported: list every id, separated by commas"
    else:
        hint = "separate rule ids with commas"
    findings.warning("AR-RULES-ID", node,
                     f"<rules_id>{quoted(text)}</rules_id> is read as {read}: Wazuh ignores "
                     f"{skipped}", hint)


def group_problem(pattern: str) -> str | None:
    """Why a `rules_group` can never match, or None (OS_Regex rules, spec 5.4)."""
    from arconsole.osregex import compile_osregex

    compiled = compile_osregex(pattern)
    if compiled.error is not None:
        return f"it is not a valid OS_Regex ({compiled.error})"
    alternatives = [alt for alt in _alternatives(pattern) if alt.strip("^$")]
    if not alternatives:
        return "it is empty"
    return None


def _alternatives(pattern: str) -> list[str]:
    """Split on `|` not escaped by a backslash."""
    parts: list[str] = []
    current: list[str] = []
    escaped = False
    for char in pattern:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            current.append(char)
            escaped = True
        elif char == "|":
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def judge_rules_group(text: str, node: ConfigNode, findings: Findings) -> bool:
    """Warn about a group pattern that cannot match or likely means something else.

    Returns whether the pattern can match at all.
    """
    problem = group_problem(text)
    if problem is not None:
        findings.warning("AR-GROUP-REGEX", node,
                         f"<rules_group>{quoted(text)}</rules_group> never matches: {problem}",
                         "groups are separated by '|', e.g. sshd,|authentication_failed,")
        return False
    for alternative in _alternatives(text):
        body = alternative.strip().rstrip("$")
        inner = body.rstrip(",")
        if "," in inner:
            first, _, second = inner.partition(",")
            findings.warning(
                "AR-GROUP-COMMA", node,
                f"<rules_group> '{quoted(alternative)}' matches only a group string holding "
                f"'{quoted(body)}' in that order, not either group",
                f"to match either group write {first},|{second},")
            break
    return True


def judge_location(text: str, node: ConfigNode, findings: Findings) -> LocationFlag:
    """Flags of a `location`, warning about words that are not locations (substring match)."""
    flags = location_flags(text)
    if flags == LocationFlag.NONE:
        return flags
    for token in location_tokens(text):
        if token.lower() in LOCATION_WORDS:
            continue
        token_flags = location_flags(token)
        if token_flags:
            reads = describe_route(token_flags)
            findings.warning(
                "AR-LOCATION-WORD", node,
                f"location word '{quoted(token)}' is not a location: Wazuh matches <location> "
                f"by substring, so it reads as {_flag_words(token_flags)}, which runs on {reads}",
                "use local, server, defined-agent or all")
        else:
            findings.warning("AR-LOCATION-WORD", node,
                             f"location word '{quoted(token)}' means nothing to Wazuh: ignored",
                             "use local, server, defined-agent or all")
    routes = [flag for flag in (LocationFlag.AS_ONLY, LocationFlag.REMOTE_AGENT,
                                LocationFlag.SPECIFIC_AGENT, LocationFlag.ALL_AGENTS)
              if flags & flag]
    if len(routes) > 1:
        findings.warning(
            "AR-LOCATION-MIX", node,
            f"<location>{quoted(text)}</location> names several places, but Wazuh sends each "
            f"response to one only: here {describe_route(flags)}",
            "write one <active-response> per place (for example one with server and one "
            "with all)")
    return flags


def _flag_words(flags: LocationFlag) -> str:
    words = []
    if flags & LocationFlag.AS_ONLY:
        words.append("server")
    if flags & LocationFlag.REMOTE_AGENT:
        words.append("local")
    if flags & LocationFlag.SPECIFIC_AGENT:
        words.append("defined-agent")
    if flags & LocationFlag.ALL_AGENTS:
        words.append("all")
    return " + ".join(words)


def judge_repeated_offenders(node: ConfigNode, findings: Findings) -> None:
    """F1/F4: at most 5 values, each a positive whole number of minutes, increasing."""
    text = node.text or ""
    pieces = [piece.strip() for piece in text.split(",")]
    values = [piece for piece in pieces if piece]
    if not values:
        findings.error("AR-RO-VALUE", node,
                       "empty <repeated_offenders>: execd reads nothing and escalation is off",
                       "list up to 5 increasing timeouts in minutes, e.g. 30,60,120")
        return
    if len(values) > MAX_REPEATED_OFFENDERS:
        kept = text.split(",", 4)[4].strip()
        findings.error(
            "AR-RO-COUNT", node,
            f"<repeated_offenders> has {len(values)} values; at most 5 are allowed (Wazuh "
            f"reads the 5th piece '{quoted(kept)}' as {c_atoi(kept).value} and drops the rest)",
            "keep 5 values at most")
    numbers: list[int] = []
    for position, piece in enumerate(values):
        result = c_atoi(piece)
        if not result.digits or result.rest.strip():
            consequence = (": Wazuh reads 0 there and switches repeat-offender escalation off "
                           "entirely" if position == 0 and not result.digits else "")
            findings.error("AR-RO-VALUE", node,
                           f"<repeated_offenders> value '{quoted(piece)}' is not a whole number "
                           f"of minutes{consequence}",
                           "write minutes as whole numbers, e.g. 30,60,120")
        elif result.value <= 0:
            consequence = (": a first value of 0 switches repeat-offender escalation off"
                           if position == 0 and result.value == 0 else
                           " (Wazuh accepts it silently)")
            findings.error("AR-RO-VALUE", node,
                           f"<repeated_offenders> values must be positive minutes, not "
                           f"{result.value}{consequence}",
                           "write minutes as positive whole numbers, e.g. 30,60,120")
        else:
            numbers.append(result.value)
    for before, after in itertools.pairwise(numbers):
        if after < before:
            findings.warning(
                "AR-RO-ORDER", node,
                f"<repeated_offenders> goes down from {before} to {after} minutes: a worse "
                "offender gets a shorter block", "list the timeouts in increasing order")
            break


def binds_anything(level: int, group: str | None, group_ok: bool, ids: tuple[int, ...],
                   flavour: Flavour) -> bool:
    """Whether a block can bind any rule at all (spec 5.3, M11)."""
    level_ok = 1 <= level <= MAX_RULE_LEVEL
    if ids:
        return True
    if flavour is Flavour.WAZUH and level != 0 and group is not None:
        return level_ok and group_ok
    return level_ok or (group is not None and group_ok)
