"""What a key takes from the focused pane's selection: the text the copy key copies (alert,
block, log line or config node), the address and node the block key offers."""

from __future__ import annotations

import json

from textual.widget import Widget

from arconsole.console.widgets.alerts_view import AlertsView
from arconsole.console.widgets.blocks_view import BlocksView
from arconsole.console.widgets.config_tree import ConfigTree
from arconsole.console.widgets.log_view import LogView


def selected_text(focused: Widget | None) -> tuple[str, str]:
    """(text, what it is); ("", "") when the focused widget has nothing selected."""
    if isinstance(focused, AlertsView):
        row = focused.selected_alert
        return (row.raw, f"alert {row.alert_id}") if row else ("", "")
    if isinstance(focused, BlocksView):
        block = focused.selected_block()
        return ((json.dumps(block.to_json(), indent=2), f"block {block.key}")
                if block else ("", ""))
    if isinstance(focused, LogView):
        return focused.current_line or "", "the log line"
    if isinstance(focused, ConfigTree):
        node = focused.cursor_node
        if node is not None and node.data is not None:
            item = node.data
            line = f" (line {item.line})" if item.line is not None else ""
            return f"{item.title} {item.detail}".strip() + line, "the config node"
    return "", ""


def block_target(focused: Widget | None) -> tuple[str, str]:
    """(address, node) offered to block by hand: the selected alert's address and node, the
    selected block's node; empty where nothing is selected (the dialog asks)."""
    address, node = "", ""
    if isinstance(focused, AlertsView) and focused.selected_alert is not None:
        address = focused.selected_alert.srcip or ""
        node = focused.selected_alert.node
    elif isinstance(focused, BlocksView):
        block = focused.selected_block()
        node = block.node if block is not None else ""
    return address, node
