"""How a script run is reported: counted, published as `ScriptRan`, failures kept in the
state file's event log. Shared by the dispatch stage (adds) and the block book (deletes)."""

from __future__ import annotations

import functools

from arconsole.config.executables import PROGRAM_DIR
from arconsole.engine.context import EngineContext
from arconsole.engine.events import ScriptRan
from arconsole.engine.executor import ScriptResult


@functools.lru_cache(maxsize=256)
def _program(executable: str) -> str:
    """The program a script's events name (one per response: a dry run names it per trigger)."""
    return f"{PROGRAM_DIR}/{executable}"


def describe_failure(result: ScriptResult) -> str:
    """One line: why a run failed, with the last line the script wrote to stderr, escaped."""
    if result.error:
        return result.error
    lines = result.stderr.decode("utf-8", "replace").strip().splitlines()
    said = f" ({lines[-1].encode('unicode_escape').decode('ascii')[:200]})" if lines else ""
    if result.timed_out:
        return "timed out and was killed" + said
    return f"exit {result.returncode}{said}"


class ScriptReporter:
    def __init__(self, context: EngineContext) -> None:
        self._context = context

    def ran(self, action: str, result: ScriptResult, key: str | None, reply: str | None) -> None:
        """A script finished: count it, publish it, and log it when it failed or complained."""
        context = self._context
        if result.ok:
            context.stats.scripts_ok += 1
        else:
            context.stats.scripts_failed += 1
        context.bus.publish(
            ScriptRan(
                at=context.clock.now(), action=action, program=result.program, key=key,
                reply=reply, returncode=result.returncode, timed_out=result.timed_out,
                ok=result.ok, error=result.error, stderr=result.stderr.decode("utf-8", "replace"),
                duration=result.ended_at - result.started_at,
            )
        )
        if (result.stderr or not result.ok) and context.store_or_none is not None:
            detail = describe_failure(result) if not result.ok else "ok"
            stderr = result.stderr.decode("utf-8", "replace").strip()
            context.keep_event(
                f"script-{action}",
                f"{result.program}: {detail}" + (f"; stderr: {stderr}" if stderr else ""),
            )

    def not_run(
        self, action: str, executable: str, key: str | None, reply: str | None,
        *, dry: bool = False, error: str | None = None,
    ) -> None:
        """A run that did not happen: a dry run's imagined one, or one refused before it ran."""
        context = self._context
        if not context.bus.has_subscribers:
            return  # nothing else to do: built for someone, or not at all
        context.bus.publish(
            ScriptRan(  # by position (at, action, program, key, reply, returncode, timed_out,
                # ok, error, stderr, duration): a dry-run backlog tells one per trigger
                context.clock.now(), action + " (dry-run)" if dry else action,
                _program(executable), key, reply, None, False, error is None, error,
                "", 0.0,
            )
        )
