"""`arconsole install-scripts --agent HOME`: the agent-side helper `arconsole-reverse`."""

from __future__ import annotations

import sys
from pathlib import Path


def run_agent(home: Path, *, overwrite: bool) -> int:
    from arconsole.scripts.agent_reverse import SCRIPT_NAME, install_agent_scripts

    try:
        written = install_agent_scripts(home, overwrite=overwrite)
    except OSError as error:
        print(f"arconsole install-scripts: {error}", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    if not written:
        target = home / "active-response" / "bin" / SCRIPT_NAME
        print(f"kept {target} (it exists; --force replaces it)", file=sys.stderr)
    return 0
