"""`arconsole install-scripts HOME`: put the stock response scripts into a Wazuh-like home.

arconsole's own HOME may be new: it is made. `--agent HOME` is an installed agent's home,
which its installer made: a HOME that does not exist is a typo, refused (status 1, as for any
home the command cannot use) with nothing made.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "install-scripts", help="install the stock response scripts into a home",
        description="Writes firewall-drop, host-deny, route-null, firewalld-drop, "
        "disable-account and restart-wazuh into HOME/active-response/bin, as launchers of "
        "this arconsole's Python, started isolated and without site (python -IS) for a cheap "
        "start, with the folder of this arconsole written into them. They speak Wazuh's JSON "
        "protocol, so an ossec.conf written for Wazuh works unchanged. Existing files are "
        "kept unless --force.",
    )
    parser.add_argument("home", type=Path, metavar="HOME", help="the home, e.g. /var/ossec")
    parser.add_argument("--force", action="store_true", help="replace scripts that exist")
    parser.add_argument("--agent", action="store_true",
                        help="HOME is an installed Wazuh agent's (it must exist): write only "
                        "arconsole-reverse (POSIX sh)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from arconsole.commands.errors import path_failure
    from arconsole.safetext import literal

    home: Path = args.home
    if args.agent and _missing(home):
        print(f"arconsole install-scripts: no agent home at {literal(str(home))}: it does not "
              "exist (--agent writes into an installed agent's home, such as /var/ossec; "
              "nothing was made)", file=sys.stderr)
        return 1
    try:
        if args.agent:
            from arconsole.scripts.agent_reverse import SCRIPT_NAME, install_agent_scripts

            names: Iterable[str] = (SCRIPT_NAME,)
            written = install_agent_scripts(home, overwrite=args.force)
        else:
            from arconsole.scripts.install import STOCK_SCRIPTS, install_scripts

            names = STOCK_SCRIPTS
            written = install_scripts(home, overwrite=args.force)
    except (OSError, ValueError) as error:
        reason = (path_failure("install scripts into", home, error)
                  if isinstance(error, OSError) else str(error))
        print(f"arconsole install-scripts: {literal(reason)}", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    bin_dir = home / "active-response" / "bin"
    for name in names:
        if bin_dir / name not in written:
            print(f"kept {bin_dir / name} (it exists; --force replaces it)", file=sys.stderr)
    return 0


def _missing(home: Path) -> bool:
    """HOME (or a folder on the way to it) does not exist. Any other trouble (a file in the
    way, no permission) is left to the install, which says what it is."""
    try:
        os.stat(home)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return False
