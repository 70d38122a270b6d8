"""The element loop shared by `<command>` and `<active-response>` (spec 2, 3.1 step 1)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from arconsole.config.findings import Findings
from arconsole.config.hints import suggest
from arconsole.config.model import ConfigNode, Flavour, Role


@dataclass(frozen=True, slots=True)
class ReadContext:
    flavour: Flavour
    role: Role
    findings: Findings


@dataclass(slots=True)
class BlockOptions:
    """A block's options by name: Wazuh keeps the last of repeated ones (it strdup's each).

    Kept small (a big file holds thousands of blocks, all alive until the whole-file checks):
    every occurrence of an option is found again in the block when asked for.
    """

    block: ConfigNode
    last: dict[str, ConfigNode] = field(default_factory=dict)
    # Known option names that misspelt elements of this block probably meant.
    meant: tuple[str, ...] = ()

    def every(self, name: str) -> list[ConfigNode]:
        """Each `<name>` option of the block, in file order."""
        return [child for child in self.block.children if child.tag == name] \
            if name in self.last else []

    def text(self, name: str) -> str | None:
        node = self.last.get(name)
        if node is None:
            return None
        return node.text or ""

    def has(self, name: str) -> bool:
        return name in self.last

    def missing(self, name: str) -> bool:
        """Absent or empty, and not explained by a misspelt element (reported already)."""
        return not self.text(name) and name not in self.meant


def read_options(
    block: ConfigNode,
    known: Iterable[str],
    findings: Findings,
    *,
    repeatable: Iterable[str] = (),
    elsewhere: Mapping[str, str] | None = None,
) -> BlockOptions:
    """Sort a block's children into options; report unknown, nested and repeated ones.

    `elsewhere` maps option names valid in another flavour or role to the reason they are
    invalid here, for a better message than "did you mean".
    """
    known_names = tuple(known)
    repeatable_names = set(repeatable)
    options = BlockOptions(block)
    for child in block.children:
        name = child.tag
        if name not in known_names:
            reason = (elsewhere or {}).get(name)
            guess = suggest(name, known_names)
            if guess is not None and reason is None:
                options.meant += (guess,)
            hint = reason or (f"did you mean <{guess}>?" if guess else
                              "valid here: " + ", ".join(f"<{n}>" for n in known_names))
            findings.error("1230", child,
                           f"Invalid element in the configuration: '{name}'.", hint)
            continue
        if child.children:
            findings.error("AR-NESTED", child,
                           f"<{name}> holds elements, but it takes a plain value",
                           f"write <{name}>value</{name}>")
        earlier = options.last.get(name)
        if earlier is not None and name not in repeatable_names:
            findings.warning(
                "AR-DUP-OPTION", earlier,
                f"<{name}> is given again at line {child.line}; Wazuh uses the last one",
                f"keep a single <{name}>")
        options.last[name] = child
    return options
