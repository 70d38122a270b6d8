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
    path = run.options.get("--hosts-deny")
    rule = rule_for(run.key)
    if run.system.demo:
        run.system.record({"edit": path, run.command: rule})
        return run.end()
    with run.lock(LOCK):
        target = os.path.realpath(path)  # rename over the file, not over a symlink to it
        try:
            with open(target, "rb") as handle:
                content = handle.read().decode("utf-8", "surrogateescape")
        except OSError:
            return run.fail(f"Could not open file '{path}'")
        lines = content.splitlines(keepends=True)
        present = [line for line in lines if line.strip() == rule]
        if run.command == Command.ADD:
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


def replace_atomically(target: str, data: bytes) -> None:
    """Give `target` the content `data` in one rename, keeping its mode and owner."""
    status = os.stat(target)
    folder, name = os.path.split(target)
    fd, temporary = _make_temporary(folder or ".", name)
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
    folder_fd = os.open(folder or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(folder_fd)  # the rename itself survives a crash
    finally:
        os.close(folder_fd)


def _make_temporary(folder: str, name: str) -> tuple[int, str]:
    """tempfile.mkstemp's guarantee without its import: a new file (O_EXCL, never through a
    symlink) under an unpredictable name in `folder`, mode 0600."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    for _ in range(100):
        temporary = os.path.join(folder, f".{name}.{os.urandom(8).hex()}")
        try:
            return os.open(temporary, flags, 0o600), temporary
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name in {folder}")
