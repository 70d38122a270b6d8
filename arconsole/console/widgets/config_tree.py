"""The config pane: the outline of `ossec.conf`, kept in place across reloads.

A reload rebuilds the tree from the new outline, then expands the same semantic paths and puts
the cursor back on the same path; items that are new or changed carry a mark. A node's children
are made when it is first expanded: a 1 MiB config is ~40,000 items, and making every node at
once held the loop (the embedded engine's too) for seconds at each load.
"""

from __future__ import annotations

from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from arconsole.config.diagnostics import Severity
from arconsole.console.config_outline import OutlineChanges, OutlineItem
from arconsole.console.text import literal


class ConfigTree(Tree[OutlineItem]):
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "config-tree--changed",
        "config-tree--error",
        "config-tree--warning",
        "config-tree--dim",
        "config-tree--title",
    }
    DEFAULT_CSS = """
    ConfigTree > .config-tree--changed { color: $config-changed; text-style: bold; }
    ConfigTree > .config-tree--error { color: $error; text-style: bold; }
    ConfigTree > .config-tree--warning { color: $warning; }
    ConfigTree > .config-tree--dim { color: $text-muted; }
    ConfigTree > .config-tree--title { text-style: bold; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("no config loaded", id=id)
        self.outline: OutlineItem | None = None
        self.changed: set[str] = set()
        self.show_root = True
        self.guide_depth = 2
        self._by_path: dict[str, TreeNode[OutlineItem]] = {}
        self._unmade: set[str] = set()  # paths of nodes whose children are not made yet
        self._styles: dict[str, Style] = {}

    def _style(self, name: str) -> Style:
        # Looked up once per load or theme: a lookup costs ~60 µs, and a label needs three.
        style = self._styles.get(name)
        if style is None:
            style = self._styles[name] = self.get_component_rich_style(
                f"config-tree--{name}", partial=True)
        return style

    def label_for(self, item: OutlineItem) -> Text:
        label = Text(no_wrap=True, end="")
        if item.path in self.changed:
            label.append("● ", style=self._style("changed"))
        label.append_text(literal(item.title, self._style("title") if item.children else ""))
        if item.detail:
            label.append("  ")
            label.append_text(literal(item.detail, self._style("dim"), limit=200))
        if item.line is not None:
            label.append(f"  :{item.line}", style=self._style("dim"))
        errors = [d for d in item.diagnostics if d.severity is Severity.ERROR]
        warnings = [d for d in item.diagnostics if d.severity is Severity.WARNING]
        if errors:
            label.append(f"  ✖ {errors[0].line}: ", style=self._style("error"))
            label.append_text(literal(errors[0].message, self._style("error"), limit=120))
        elif warnings:
            label.append(f"  ⚠ {warnings[0].line}: ", style=self._style("warning"))
            label.append_text(literal(warnings[0].message, self._style("warning"), limit=120))
        return label

    def show(self, outline: OutlineItem, *, mark_changes: bool = True,
             changes: OutlineChanges | None = None) -> None:
        """Display `outline`, keeping expansion and cursor by path; mark what changed
        (`changes` when computed already, off the loop, against the outline shown now)."""
        previous = self.outline
        first = previous is None
        expanded = {path for path, node in self._by_path.items() if node.is_expanded}
        cursor = self.cursor_node.data.path if self.cursor_node and self.cursor_node.data else None
        if not mark_changes:
            changes = OutlineChanges(set(), [])
        elif changes is None:
            changes = OutlineChanges.between(previous, outline)
        self.changed = changes.changed
        removed = changes.removed
        self.outline = outline
        self._styles = {}
        self.clear()
        self._by_path = {}
        self._unmade = set()
        self.root.set_label(self.label_for(outline))
        self.root.data = outline
        self._by_path[outline.path] = self.root
        if removed:
            holder = self.root.add(
                Text(f"Removed since the last load ({len(removed)})",
                     style=self._style("changed")),
                OutlineItem("removed", "removed"), expand=True,
            )
            for item in removed:
                holder.add_leaf(Text("− ") + self.label_for(item), item)
        for child in outline.children:
            self._add(self.root, child)
        wanted = expanded | ({item.path for item in outline.walk() if item.expand}
                             if first else set())
        leading: set[str] = set()
        _mark_leading(outline, wanted, leading)
        for node in list(self.root.children):
            self._restore(node, wanted, leading)
        self.root.expand()
        target = self._by_path.get(cursor) if cursor is not None else None
        if target is not None:
            self.call_after_refresh(self.move_cursor, target, animate=False)

    def _add(self, parent: TreeNode[OutlineItem], item: OutlineItem) -> None:
        label = self.label_for(item)
        if item.children:
            node = parent.add(label, item, expand=False)
            self._unmade.add(item.path)
        else:
            node = parent.add_leaf(label, item)
        self._by_path[item.path] = node

    def _make_children(self, node: TreeNode[OutlineItem]) -> None:
        item = node.data
        if item is None or item.path not in self._unmade:
            return
        self._unmade.discard(item.path)
        for child in item.children:
            self._add(node, child)

    def _restore(self, node: TreeNode[OutlineItem], wanted: set[str],
                 leading: set[str]) -> None:
        """Expand `node` when its path is wanted; make the children of every node that leads
        to a wanted path (an expanded node inside a collapsed one stays expanded)."""
        item = node.data
        if item is None or item.path not in leading:
            return
        self._make_children(node)
        for child in list(node.children):
            self._restore(child, wanted, leading)
        if item.path in wanted:
            node.expand()

    def _on_tree_node_expanded(self, event: Tree.NodeExpanded[OutlineItem]) -> None:
        self._make_children(event.node)

    def describe(self, item: OutlineItem | None) -> Text:
        """The whole of the selected item, wrapped, with what its name means: the detail
        line under the tree, so nothing needs a wider pane or a maximized one."""
        if item is None:
            return Text("select a node (1, then ↑ ↓): it is described here in full",
                        style=self._style("dim"))
        text = Text(end="")
        text.append_text(literal(item.title, self._style("title"), limit=300, wrap=True))
        if item.line is not None:
            text.append(f"  line {item.line}", style=self._style("dim"))
        if item.detail:
            text.append("\n")
            text.append_text(literal(item.detail, limit=600, wrap=True))
        for diagnostic in item.diagnostics[:2]:
            style = self._style("error" if diagnostic.severity is Severity.ERROR else "warning")
            text.append(f"\n{diagnostic.line}: ", style=style)
            text.append_text(literal(diagnostic.message, style, limit=300, wrap=True))
        if item.note:
            text.append("\n")
            text.append_text(literal(item.note, self._style("dim"), limit=600, wrap=True))
        return text

    def node_for(self, path: str) -> TreeNode[OutlineItem] | None:
        return self._by_path.get(path)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles = {}
        # Labels carry theme colours: rebuild them when the theme changes.
        for node in self._by_path.values():
            if node.data is not None and node.data.path != "removed":
                node.set_label(self.label_for(node.data))


def _mark_leading(item: OutlineItem, wanted: set[str], leading: set[str]) -> bool:
    """Add to `leading` the path of every item with children that is wanted or has a wanted
    item below it; True when `item` or something below it is wanted."""
    below = False
    for child in item.children:
        below = _mark_leading(child, wanted, leading) or below
    if item.children and (below or item.path in wanted):
        leading.add(item.path)
    return below or item.path in wanted
