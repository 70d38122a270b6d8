"""The config as an outline: what the config tree shows, built without Textual.

`<active-response>` and `<command>` blocks come first with their meaningful fields, then the
white list, the diagnostics of `check`, and the whole `ossec.conf` element tree. Every item
has a *semantic path* (`responses/2`, `tree/ossec_config[0]/global[0]/white_list[1]`) that
survives a reload, so expansion, cursor and "what changed" are computed by path.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from arconsole.config.diagnostics import Diagnostic, Severity
from arconsole.config.model import ActiveResponse, Command, Config, ConfigNode
from arconsole.wording import counted


@dataclass(slots=True)
class OutlineItem:
    path: str
    title: str  # the main words (escaped when drawn)
    detail: str = ""  # dimmer words after the title
    line: int | None = None
    signature: tuple[object, ...] = ()
    diagnostics: list[Diagnostic] = field(default_factory=list)
    children: list[OutlineItem] = field(default_factory=list)
    expand: bool = False  # expanded on first display
    note: str = ""  # an explanation for the detail line under the tree (never in the tree)

    def walk(self) -> Iterator[OutlineItem]:
        """This item and every item below it, depth first, in order (without a generator per
        level: a big config's tree is walked a few times at each load)."""
        stack = [self]
        while stack:
            item = stack.pop()
            yield item
            stack.extend(reversed(item.children))


def response_title(response: ActiveResponse) -> str:
    """Wazuh's name for the response (`firewall-drop600`); a block without a `<command>` is
    execd's settings block (disabled, repeated_offenders), not a response."""
    if not response.command:
        return f"execd settings (no <command>, #{response.index})"
    return response.name


def response_note(response: ActiveResponse) -> str:
    """What the name means, and why a response is not used."""
    if not response.command:
        note = ("An <active-response> without <command> is execd's own settings "
                "(disabled, repeated_offenders, ca_store): it never fires.")
    elif response.stateful:
        note = (f"{response.name} is Wazuh's name for this response: its command "
                f"{response.command} followed by its timeout ({response.timeout} s). Logs, "
                f"blocks and execd's keys use it; the block is reversed after "
                f"{response.timeout} s.")
    else:
        note = (f"{response.name} is Wazuh's name for this response: its command "
                f"{response.command} followed by its timeout, 0: stateless, it runs once and "
                "is never reversed.")
    if not response.kept:
        note += f" NOT USED: {response.skip_reason or 'dropped'}."
    return note


def _response_detail(response: ActiveResponse) -> str:
    if not response.command:
        return "not a response" + ("" if response.kept else
                                   f"  NOT USED: {response.skip_reason or 'dropped'}")
    parts = [response.location or "no location"]
    if response.level:
        parts.append(f"level>={response.level}")
    if response.rules_id:
        parts.append(f"rules {response.rules_id}")
    if response.rules_group:
        parts.append(f"group {response.rules_group}")
    parts.append(f"timeout {response.timeout}s" if response.timeout else "stateless")
    if not response.kept:
        parts.append(f"NOT USED: {response.skip_reason or 'dropped'}")
    return "  ".join(parts)


def _response_item(response: ActiveResponse) -> OutlineItem:
    fields: list[tuple[str, object]] = [
        ("command", response.command),
        ("executable", response.executable or "(unresolved)"),
        ("location", response.location),
        ("agent_id", response.agent_id),
        ("level", response.level or None),
        ("rules_id", response.rules_id),
        ("rules_group", response.rules_group),
        ("timeout", response.timeout_text if response.timeout_text is not None else None),
        ("effective timeout", f"{response.timeout}s"),
        ("disabled", "yes" if response.disabled else None),
        ("repeated_offenders", response.repeated_offenders),
        ("extra_args", " ".join(response.extra_args) or None),
        ("skipped", response.skip_reason if not response.kept else None),
    ]
    path = f"responses/{response.index}"
    children = [
        OutlineItem(f"{path}/{name}", name, str(value), signature=(str(value),))
        for name, value in fields
        if value is not None
    ]
    return OutlineItem(
        path=path,
        title=response_title(response),
        detail=_response_detail(response),
        line=response.line,
        signature=tuple(str(v) for _, v in fields),
        children=children,
        note=response_note(response),
    )


def _command_item(command: Command, occurrence: int) -> OutlineItem:
    path = f"commands/{command.name}#{occurrence}"
    fields: list[tuple[str, object]] = [
        ("executable", command.executable),
        ("timeout_allowed", "yes" if command.timeout_allowed else "no"),
        ("extra_args", command.extra_args),
        ("expect", ",".join(command.expect) or None),
    ]
    detail = command.executable + ("  timeout allowed" if command.timeout_allowed else "")
    note = (f"Runs active-response/bin/{command.executable}; "
            + ("its responses may set a <timeout>, and are then reversed."
               if command.timeout_allowed else
               "timeout_allowed is no: its responses are stateless, never reversed."))
    return OutlineItem(
        path=path,
        title=command.name,
        detail=detail,
        note=note,
        line=command.line,
        signature=tuple(str(v) for _, v in fields),
        children=[
            OutlineItem(f"{path}/{name}", name, str(value), signature=(str(value),))
            for name, value in fields
            if value is not None
        ],
    )


def _tree_items(nodes: tuple[ConfigNode, ...], parent: str) -> list[OutlineItem]:
    items: list[OutlineItem] = []
    counts: dict[str, int] = {}
    for node in nodes:
        number = counts.get(node.tag, 0)
        counts[node.tag] = number + 1
        path = f"{parent}/{node.tag}[{number}]"
        attributes = " ".join(f'{k}="{v}"' for k, v in node.attributes)
        title = f"<{node.tag}{' ' + attributes if attributes else ''}>"
        text = (node.text or "").strip()
        items.append(
            OutlineItem(
                path=path,
                title=title,
                detail=text,
                line=node.line,
                signature=(node.tag, text, node.attributes),
                children=_tree_items(node.children, path),
            )
        )
    return items


def _subtree_lines(node: ConfigNode) -> set[int]:
    lines = {node.line}
    for child in node.children:
        lines |= _subtree_lines(child)
    return lines


def _raw_blocks(config: Config, tag: str) -> dict[int, set[int]]:
    """Line of each `<tag>` element -> the lines its subtree spans."""
    found: dict[int, set[int]] = {}

    def visit(nodes: tuple[ConfigNode, ...]) -> None:
        for node in nodes:
            if node.tag == tag:
                found[node.line] = _subtree_lines(node)
            visit(node.children)

    visit(config.tree)
    return found


def _attach(items: list[OutlineItem], diagnostics: tuple[Diagnostic, ...],
            spans: dict[int, set[int]]) -> None:
    """Give each item the diagnostics that fall in the lines its element spans."""
    for item in items:
        if item.line is None:
            continue
        span = spans.get(item.line, {item.line})
        item.diagnostics.extend(d for d in diagnostics if d.line in span)


def _attach_to_tree(items: list[OutlineItem], diagnostics: tuple[Diagnostic, ...]) -> None:
    by_line: dict[int, list[Diagnostic]] = {}
    for diagnostic in diagnostics:
        by_line.setdefault(diagnostic.line, []).append(diagnostic)
    best: dict[int, OutlineItem] = {}  # the deepest element starting on each line
    for root in items:
        for item in root.walk():
            if item.line in by_line:
                best[item.line] = item
    for line, item in best.items():
        item.diagnostics.extend(by_line[line])


def build_outline(config: Config, *, generation: int | None = None) -> OutlineItem:
    responses = [_response_item(r) for r in config.responses]
    seen: dict[str, int] = {}
    commands = []
    for command in config.commands:
        occurrence = seen.get(command.name, 0)
        seen[command.name] = occurrence + 1
        commands.append(_command_item(command, occurrence))
    white_list = [
        OutlineItem(f"white_list/{i}", entry.text, "", line=entry.line,
                    signature=(entry.text,))
        for i, entry in enumerate(config.white_list)
    ]
    diagnostics = [
        OutlineItem(
            f"diagnostics/{i}",
            f"{d.line}:{d.column} {d.severity} [{d.code}]",
            d.message + (f" (hint: {d.hint})" if d.hint else ""),
            line=d.line,
            signature=(d.severity, d.code, d.message),
            diagnostics=[d],
        )
        for i, d in enumerate(config.diagnostics)
    ]
    tree = _tree_items(config.tree, "tree")
    _attach(responses, config.diagnostics, _raw_blocks(config, "active-response"))
    _attach(commands, config.diagnostics, _raw_blocks(config, "command"))
    _attach_to_tree(tree, config.diagnostics)
    errors = sum(1 for d in config.diagnostics if d.severity is Severity.ERROR)
    warnings = sum(1 for d in config.diagnostics if d.severity is Severity.WARNING)
    sections = [
        OutlineItem("responses", f"Active responses ({len(responses)})", children=responses,
                    expand=True),
        OutlineItem("commands", f"Commands ({len(commands)})", children=commands, expand=True),
        OutlineItem("white_list", f"White list ({len(white_list)})", children=white_list),
        OutlineItem("diagnostics", f"Diagnostics ({counted(errors, 'error')}, "
                    f"{counted(warnings, 'warning')})",
                    children=diagnostics, expand=bool(errors)),
        OutlineItem("tree", "ossec.conf", children=tree),
    ]
    detail = f"{config.flavour} {config.role}  {config.path}"
    if generation is not None:
        detail = f"gen {generation}  {detail}"
    name = config.path.rsplit("/", 1)[-1]
    return OutlineItem("", name, detail, children=sections, expand=True)


def changed_paths(old: OutlineItem | None, new: OutlineItem) -> set[str]:
    """Paths that are new, or whose own content changed, since `old` (none on a first load)."""
    if old is None:
        return set()
    before = {item.path: item.signature for item in old.walk()}
    return {
        item.path
        for item in new.walk()
        if item.path and (item.path not in before or before[item.path] != item.signature)
    }


def removed_items(old: OutlineItem | None, new: OutlineItem) -> list[OutlineItem]:
    """Items of `old` that `new` no longer has (only the topmost of a removed subtree)."""
    if old is None:
        return []
    now = {item.path for item in new.walk()}
    removed: list[OutlineItem] = []

    def visit(item: OutlineItem) -> None:
        if item.path and item.path not in now:
            removed.append(item)
            return
        for child in item.children:
            visit(child)

    visit(old)
    return removed


@dataclass(frozen=True, slots=True)
class OutlineChanges:
    """What a load changed since the outline shown: marked paths, and removed items."""

    changed: set[str]
    removed: list[OutlineItem]

    @classmethod
    def between(cls, old: OutlineItem | None, new: OutlineItem) -> OutlineChanges:
        return cls(changed_paths(old, new), removed_items(old, new))
