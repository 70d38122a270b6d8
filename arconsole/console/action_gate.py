"""Which of the main screen's actions a key may run now, and which the footer shows."""

from __future__ import annotations

from arconsole.console.flows import READ_ONLY_WORDS

# Actions that change engine state: hidden when read-only; their keys then say so.
WRITE_ACTIONS = frozenset(READ_ONLY_WORDS)
ALWAYS_SHOWN = frozenset({"copy"})  # dialogs copy too


def action_state(action: str, *, dialog_open: bool, read_only: bool,
                 linked: bool) -> bool | None:
    """Textual's check_action answer: True runs and shows, None shows it disabled, False
    hides it. A dialog over the screen hides all but copy; write actions are hidden when
    read-only (the `refuse` bindings then say why) and disabled until an engine is linked."""
    if action not in ALWAYS_SHOWN and dialog_open:
        return False  # a dialog is open: the footer behind it lists only what works
    if action in WRITE_ACTIONS:
        if read_only:
            return False  # hidden; the `refuse` bindings say why the key does nothing
        return True if linked else None
    if action == "refuse":
        return read_only
    return True
