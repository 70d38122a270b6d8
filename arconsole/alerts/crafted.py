"""The exact check for alerts.json lines whose decision keys are ambiguous between JSON readers.

msgspec keeps the last of a repeated key and matches names exactly; the response scripts read
the alert as Wazuh's cJSON does: the first key, compared case-insensitively (ASCII letters only,
`arconsole/scripts/protocol.py`). A key on a decision path that is repeated in its object, or
written in another case, would be checked as one value and acted on as another (issue 11
item 2). A key holding a NUL (`\\u0000`) is, to cJSON, the C string before it: `"srcip\\u0000x"` is
`srcip` to the scripts and another key to msgspec, so it counts as a spelling of `srcip`.
`crafted_keys` says why a line is such a line, from every member of every object on
the paths, repeats kept. It is the reference the decoder's quick tests are held to
(`jsonreader`), and it runs only when they cannot vouch for a line.
"""

from __future__ import annotations

import json
from typing import TypeAlias

from arconsole.alerts.groups import COMPLIANCE
from arconsole.safetext import literal

# Every key a decision or a response script reads, by object, as written by Wazuh. `None`
# ends a path; a dict goes on into the value (spec 8.3: the Windows fields come first).
_Tree: TypeAlias = "dict[str, _Tree | None]"
DECISION_KEYS: _Tree = {
    "id": None,
    "timestamp": None,
    "location": None,
    "rule": {
        "id": None, "level": None, "description": None, "groups": None,
        **{name: None for name, _ in COMPLIANCE},
    },
    "agent": {"id": None, "name": None},
    "data": {
        "srcip": None,
        "dstuser": None,
        "win": {"eventdata": {"ipAddress": None, "destinationIp": None}},
    },
    "syscheck": {"path": None},
}


class _Members(list[tuple[str, object]]):
    """A JSON object's members in order, repeats kept (as cJSON holds them)."""


def crafted_keys(line: bytes, keys: _Tree = DECISION_KEYS) -> str | None:
    """Why the line's decision keys are ambiguous between JSON readers, or None.

    A key on a decision path (`keys`, by default `DECISION_KEYS`) that is repeated in its
    object, or written in another case (cJSON compares names case-insensitively), is reported
    with its path; the text is escaped for a log line.
    """
    try:
        document = json.loads(line, object_pairs_hook=_Members)
    except RecursionError:
        return "the JSON is nested too deeply to check its keys"
    except ValueError:
        return None  # not JSON: the decoder says so itself
    if not isinstance(document, _Members):
        return None
    return _ambiguity(document, keys, "")


def _ambiguity(members: _Members, tree: _Tree, path: str) -> str | None:
    by_name: dict[str, list[tuple[str, object]]] = {}
    for key, value in members:
        by_name.setdefault(_cjson_name(key), []).append((key, value))
    for name, below in tree.items():
        found = by_name.get(name.lower())
        if not found:
            continue
        where = f"{path}{name}"
        if len(found) > 1:
            spellings = ", ".join(f"'{literal(key)}'" for key, _ in found)
            return (f"key '{where}' appears {len(found)} times ({spellings}): Wazuh's "
                    "scripts read the first, ignoring case, and this engine the last")
        key, value = found[0]
        if "\0" in key:
            return (f"key '{path}{literal(key)}' holds a NUL: Wazuh's scripts compare keys as C "
                    f"strings and read it as '{name}', and this engine would not")
        if key != name:
            return (f"key '{path}{literal(key)}' differs from '{name}' only by case: "
                    "Wazuh's scripts would read it, and this engine would not")
        if below is not None and isinstance(value, _Members):
            reason = _ambiguity(value, below, f"{where}.")
            if reason is not None:
                return reason
    return None


def _cjson_name(key: str) -> str:
    """The name cJSON matches a key by: a C string (up to a NUL, which `\\u0000` decodes to),
    ASCII letters folded to lower case."""
    key = key.split("\0", 1)[0]
    return key.lower() if key.isascii() else _ascii_lower(key)


def _ascii_lower(text: str) -> str:
    """cJSON's case folding: ASCII letters only."""
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)
