"""The alert detail's "why": every `<active-response>` against this alert, as `explain` says.

The console decides again with the config it loaded itself (the same file the engine runs),
so it works the same whether the engine is in this process or attached over its socket.
"""

from __future__ import annotations

from rich.text import Text

from arconsole.config.model import Config
from arconsole.console.text import literal


def explain_alert(config: Config | None, raw: str, *, observe: bool = False,
                  transport: bool = False) -> Text:
    """`observe`: Wazuh's own execd runs the responses (`--mode observe`), so each firing
    response says what Wazuh will run and where, not what arconsole would run. `transport`:
    the engine delivers to agents, so an agent's response is not called undelivered."""
    from arconsole.alerts.jsonreader import decode_alert_line
    from arconsole.alerts.model import TOO_DEEP, AlertError
    from arconsole.engine.decide import Decider
    from arconsole.engine.outcome import deliveries, key_refusal

    if config is None:
        return Text("no config loaded yet: nothing to explain")
    try:
        alert = decode_alert_line(raw.encode("utf-8", "replace"))
    except AlertError as error:
        return literal(f"this alert cannot be decided: {error}")
    except RecursionError:
        return literal(f"this alert cannot be decided: {TOO_DEEP}")
    decision = Decider(config).decide(alert)
    if not decision.responses:
        return Text("the config has no <active-response> block: nothing can fire")
    text = Text(end="")
    for number, response in enumerate(decision.responses):
        data = response.to_json()
        if number:
            text.append("\n\n")
        verdict = "FIRES" if data["fires"] else "does not fire"
        text.append(f"{verdict:<14}", style="bold" if data["fires"] else "dim")
        name = data["name"] if data["command"] else "execd settings"
        text.append_text(literal(
            f"{name}  (<active-response> #{data['index']}, line {data['line']}, "
            + (f"command {data['command']}, " if data["command"] else "no <command>, ")
            + (f"timeout {data['timeout']}s" if data["stateful"] else "stateless") + ")"
        ))
        targets = data["targets"]
        if isinstance(targets, list) and targets:
            text.append("\n  targets: ")
            text.append_text(literal(", ".join(str(t) for t in targets)))
        if observe and data["fires"]:
            executable = response.response.executable or response.response.command or "?"
            refusal = key_refusal(executable, alert)
            for target in response.targets:
                text.append(f"\n  at {target}: ", style="bold")
                text.append_text(literal(wazuh_will_run(executable, target, refusal),
                                         limit=400))
        # What would follow: run here, not delivered (why), or the script refusing the alert.
        for delivery in () if observe else deliveries(response, alert, transport=transport):
            text.append(f"\n  at {delivery.target}: ", style="bold")
            text.append_text(literal(delivery.detail, limit=400))
        reasons = data["reasons"]
        if isinstance(reasons, list):
            for reason in reasons:
                text.append("\n  - ")
                text.append_text(literal(str(reason), limit=400))
    return text


def wazuh_will_run(executable: str, target: str, refusal: str | None) -> str:
    """What Wazuh's own dispatch does with a firing response at `target` (observe mode)."""
    where = ("on the manager" if target == "server" else "on every active agent"
             if target == "all" else f"on agent {target}")
    said = f"Wazuh will run active-response/bin/{executable} {where}"
    if refusal is not None:
        said += f"; the script stops at once: {refusal.removeprefix('fires, but ')}"
    return said
