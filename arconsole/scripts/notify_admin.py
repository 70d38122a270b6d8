"""notify-admin: a custom response for the sample home; it records the alert and changes nothing.

Stateless (no check_keys): each alert that fires it adds one line to active-responses.log
naming the rule id, level and description, so an operator can see a custom response at work.
The alert's text is attacker-controlled, so it is written JSON-quoted: a newline in a
description can never forge a log line that the manager's ruleset would read as a block.

extra_args: --search-path, --lock-wait (accepted, unused).
"""

from __future__ import annotations

from arconsole.scripts.protocol import compact_json
from arconsole.scripts.runner import Run, run_script


def main(argv: list[str]) -> int:
    return run_script(argv, notify, key=None)


def notify(run: Run) -> int:
    alert = run.message.alert
    rule = alert.get_object("rule") if alert else None
    fields = {name: _scalar(rule.get(name) if rule else None)
             for name in ("id", "level", "description")}
    run.log(f"Notify admin: rule {fields['id']} level {fields['level']}: {fields['description']}")
    return run.end()


def _scalar(value: object) -> str:
    """A JSON scalar as JSON text; an object or array (a crafted alert) as a placeholder."""
    if value is None or isinstance(value, str | int | float | bool):
        return compact_json(value)
    return '"(not a scalar)"'
