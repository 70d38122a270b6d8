"""host-deny: deny the alert's srcip every TCP-wrapped service (Wazuh's host-deny.c).

Key: srcip (spec 8.3). Add appends `ALL:<ip>` to hosts.deny (`ALL:[<ip>]` for IPv6: the
brackets are how tcp_wrappers reads an IPv6 address; Wazuh writes it bare, which tcpd cuts at
the first colon). An identical line already there gives "IP %s already exists on '%s'", as in
Wazuh. Delete removes exactly the lines equal to that rule; Wazuh removes every line that merely
contains the address as text, including other people's rules for 11.2.3.45 when it deletes
1.2.3.4.

Every change rewrites the file atomically: the new content goes to a temporary file made by
mkstemp in the file's own folder (never a predictable name: CVE-2014-5284), keeps the file's
mode and owner, is synced, then renamed over it. Runs are serialised by the lock `host-deny`.

extra_args:
  --hosts-deny PATH           the file to edit (default /etc/hosts.deny).
  --search-path, --lock-wait  see arconsole.scripts.options.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from arconsole.scripts.options import Option
from arconsole.scripts.protocol import Command, ip_version
from arconsole.scripts.runner import Run, run_script

LOCK = "host-deny"
HOSTS_DENY = Option("--hosts-deny", "/etc/hosts.deny")


def main(argv: list[str]) -> int:
    return run_script(argv, deny, key="srcip", options=(HOSTS_DENY,))


def rule_for(ip: str) -> str:
    return f"ALL:[{ip}]" if ip_version(ip) == 6 else f"ALL:{ip}"


def deny(run: Run) -> int:
    path = Path(run.options.get("--hosts-deny"))
    rule = rule_for(run.key)
    if run.system.demo:
        run.system.record({"edit": str(path), run.command.value: rule})
        return run.end()
    with run.lock(LOCK):
        target = Path(os.path.realpath(path))  # rename over the file, not over a symlink to it
        try:
            content = target.read_bytes().decode("utf-8", "surrogateescape")
        except OSError:
            return run.fail(f"Could not open file '{path}'")
        lines = content.splitlines(keepends=True)
        present = [line for line in lines if line.strip() == rule]
        if run.command is Command.ADD:
            if present:
                return run.fail(f"IP {run.key} already exists on '{path}'")
            separator = "" if not content or content.endswith("\n") else "\n"
            new_content = f"{content}{separator}{rule}\n"
        else:
            if not present:
                run.log(f"Rule '{rule}' not found on '{path}': nothing to delete")
                return run.end()
            new_content = "".join(line for line in lines if line.strip() != rule)
        try:
            replace_atomically(target, new_content.encode("utf-8", "surrogateescape"))
        except OSError as error:
            return run.fail(f"Unable to write file '{path}': {error.strerror}")
    return run.end()


def replace_atomically(target: Path, data: bytes) -> None:
    """Give `target` the content `data` in one rename, keeping its mode and owner."""
    status = target.stat()
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        try:
            os.write(fd, data)
            os.fchmod(fd, status.st_mode & 0o7777)
            if os.geteuid() == 0:
                os.fchown(fd, status.st_uid, status.st_gid)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, target)
    except BaseException:
        if os.path.lexists(temporary):
            os.unlink(temporary)
        raise
    folder = os.open(target.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(folder)  # the rename itself survives a crash
    finally:
        os.close(folder)
