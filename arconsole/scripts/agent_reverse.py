"""`arconsole-reverse`, the agent-side helper that ends a block early (issue 14 item 4).

Agents have no Python, so it is POSIX sh. The manager sends it ad hoc (`!arconsole-reverse`,
fleet.md F3) with `extra_args` = [program, key]; it logs the message as Wazuh's scripts do
(so the manager sees it arrive), checks program and key against strict patterns, and runs
`active-response/bin/<program>` with a `delete` message for the key. No eval, no word
splitting of received text, every expansion quoted; it prints nothing on stdout, so execd
expects no check_keys line (spec 7.3 step 8).
"""

from __future__ import annotations

from pathlib import Path

from arconsole.scripts.install import make_bin_dir, write_script

SCRIPT_NAME = "arconsole-reverse"

SCRIPT = r"""#!/bin/sh
# arconsole-reverse: run active-response/bin/PROGRAM's delete for KEY on this agent.
# Sent by arconsole through the manager's queue as the ad-hoc command "!arconsole-reverse",
# with parameters.extra_args = ["PROGRAM", "KEY"]. Written by `arconsole install-scripts --agent`.
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH
LC_ALL=C
export LC_ALL
NAME=active-response/bin/arconsole-reverse

# execd starts us with the home as working directory and argv[0] relative; else find it.
case $0 in
    */active-response/bin/*) cd "${0%/active-response/bin/*}" 2>/dev/null || exit 1 ;;
esac
[ -d active-response/bin ] || cd "$(dirname "$0")/../.." 2>/dev/null || exit 1
LOG=logs/active-responses.log

log() {
    printf '%s %s: %s\n' "$(date '+%Y/%m/%d %H:%M:%S')" "$NAME" "$1" >> "$LOG" 2>/dev/null
}

IFS= read -r line || [ -n "$line" ] || { log "Cannot read input from stdin"; exit 1; }
if [ "${#line}" -gt 65536 ]; then log "Invalid input format"; exit 1; fi
log "$line"

# The message as execd passes it on (keys in this order, cJSON's unformatted print).
args=$(printf '%s\n' "$line" | sed -n \
 's/^{"version":1,"origin":{"name":"[^"]*","module":"[^"]*"},"command":"[a-z_]*","parameters":{"extra_args":\["\([^"\\]*\)","\([^"\\]*\)"\],.*$/\1\
\2/p')
program=$(printf '%s\n' "$args" | sed -n 1p)
key=$(printf '%s\n' "$args" | sed -n 2p)

# Strict patterns: a program file name, an address or a user name; nothing else.
case $program in
    ''|.*|-*|*[!A-Za-z0-9._-]*|arconsole-reverse) log "Invalid program '$program'"; exit 1 ;;
esac
case $key in
    ''|-*|*[!A-Za-z0-9.:_@-]*) log "Invalid key"; exit 1 ;;
esac
if [ "${#program}" -gt 128 ] || [ "${#key}" -gt 255 ]; then log "Invalid key"; exit 1; fi
if [ ! -f "active-response/bin/$program" ] || [ ! -x "active-response/bin/$program" ]; then
    log "No such program: active-response/bin/$program"
    exit 1
fi

# An address goes where the stock scripts read it (data.srcip), anything else as the user.
case $key in
    *[!0-9A-Fa-f.:]*) field=dstuser ;;
    *[.:]*) field=srcip ;;
    *) field=dstuser ;;
esac
message='{"version":1,"origin":{"name":"arconsole-reverse","module":"arconsole"},"command":"delete","parameters":{"extra_args":[],"alert":{"data":{"'$field'":"'$key'"}},"program":"active-response/bin/'$program'"}}'
printf '%s\n' "$message" | "active-response/bin/$program" >/dev/null 2>&1
status=$?
log "Ended: active-response/bin/$program delete $key (exit $status)"
exit 0
"""


def install_agent_scripts(home: Path, *, overwrite: bool = False) -> list[Path]:
    """Write `HOME/active-response/bin/arconsole-reverse` (0750) with the stock launchers'
    safe writer and folder mode (scripts/install.py); the paths written."""
    target = make_bin_dir(home) / SCRIPT_NAME
    return [target] if write_script(target, SCRIPT, overwrite) else []
