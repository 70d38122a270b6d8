"""Who is acting: recorded with every manual action in the audit log."""

from __future__ import annotations

import getpass
import os


def current_operator() -> str:
    """The local user name, plus the SSH client address when the session came over SSH."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = f"uid:{os.getuid()}"
    ssh_client = ssh_client_address()
    return f"{user} from {ssh_client}" if ssh_client else user


def ssh_client_address() -> str | None:
    """The address the operator's own SSH session comes from (never block it by accident)."""
    words = os.environ.get("SSH_CLIENT", "").split()
    return words[0] if words else None
