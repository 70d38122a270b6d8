"""The alerts Wazuh writes, as structs for the quick reading of an alerts.json line (`jsonreader`).

Every object on a decision path declares the keys Wazuh, its ruleset and its modules usually
write there and forbids the others: a key in another case, or one out of the ordinary, fails
the decode and sends the line to the slower readings, which give the same result. These lists
decide speed, never outcome. A member decisions don't read is kept as a raw view of the line
(`_Raw`, left `UNSET` when absent): it is only there to be counted when the decoded value is
encoded again (see `jsonreader`). Members are declared in the order Wazuh writes them, so that
a line Wazuh wrote is its own re-encoding byte for byte (what tells `jsonreader` where the rule
starts, to know a rule seen before by its bytes) and msgspec finds each key where it looks
first. None of these structs is tracked by the garbage collector (they hold no cycle).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, get_type_hints

import msgspec
from msgspec import UNSET, UnsetType

_NONE = msgspec.Raw(b"")
_Raw = msgspec.Raw | UnsetType  # a member Wazuh writes that decisions don't read


class QuickRule(
    msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True, gc=False, kw_only=True
):
    """`rule`, its members in the order Wazuh writes them (the arrays last): decoded from the
    rule's own text, for a rule not known yet by its bytes."""

    level: int
    description: str = ""
    id: str | int
    mitre: _Raw = UNSET
    cve: _Raw = UNSET
    info: _Raw = UNSET
    frequency: _Raw = UNSET
    firedtimes: _Raw = UNSET
    mail: _Raw = UNSET
    groups: msgspec.Raw = _NONE
    # The compliance arrays in the order the ruleset's groups usually list them.
    pci_dss: msgspec.Raw = _NONE
    gpg13: msgspec.Raw = _NONE
    gdpr: msgspec.Raw = _NONE
    hipaa: msgspec.Raw = _NONE
    nist_800_53: msgspec.Raw = _NONE
    tsc: msgspec.Raw = _NONE
    cis: msgspec.Raw = _NONE


class _QuickAgent(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True, gc=False):
    id: str | None = None
    name: str | None = None
    ip: _Raw = UNSET
    labels: _Raw = UNSET


# `data` and `syscheck` hold what decoders and the FIM module write. The quick reading knows
# the keys Wazuh's ruleset and modules usually write there; a line with another key is read by
# the checked reading instead (slower, same result): these lists decide speed, never outcome.
# Each list is in the order Wazuh usually writes the keys, the fields decisions read in their
# place: msgspec looks a key up from the field after the last one found, so a line written in
# the declared order is decoded without searching.
_DATA_KEYS = (
    "protocol", "srcip", "srcport", "srcuser", "dstuser", "dstip", "dstport", "id", "url",
    "uid", "euid", "gid", "tty", "pwd", "command", "logname", "home", "shell", "user", "action",
    "status", "system_name", "extra_data", "data", "type", "title", "file", "win",
    "virustotal", "integration", "vulnerability", "audit", "aws", "gcp", "office365", "github",
    "docker", "osquery", "sca", "parameters", "program", "version",
)
_SYSCHECK_KEYS = (
    "path", "mode", "size_before", "size_after", "perm_before", "perm_after", "uid_before",
    "uid_after", "gid_before", "gid_after", "md5_before", "md5_after", "sha1_before",
    "sha1_after", "sha256_before", "sha256_after", "uname_before", "uname_after",
    "gname_before", "gname_after", "mtime_before", "mtime_after", "inode_before",
    "inode_after", "diff", "attrs_before", "attrs_after", "changed_attributes", "event", "tags",
    "audit", "hard_links", "win_perm_before", "win_perm_after", "value_name", "value_type",
    "arch",
)


# data.win.eventdata as Wazuh writes it for the usual Security, System and Sysmon events
# (a logon failure's keys first, in their order).
_EVENTDATA_KEYS = (
    "subjectUserSid", "subjectUserName", "subjectDomainName", "subjectLogonId",
    "targetUserSid", "targetUserName", "targetDomainName", "targetLogonId", "status",
    "failureReason", "subStatus", "logonType", "logonProcessName", "authenticationPackageName",
    "workstationName", "logonGuid", "transmittedServices", "lmPackageName", "keyLength",
    "processId", "processName", "ipAddress", "ipPort", "destinationIp",
    "targetLinkedLogonId", "targetOutboundUserName", "targetOutboundDomainName", "targetSid",
    "impersonationLevel", "restrictedAdminMode", "virtualAccount",
    "elevatedToken", "privilegeList", "memberName",
    "memberSid", "samAccountName", "displayName", "userPrincipalName", "newProcessId",
    "newProcessName", "tokenElevationType", "commandLine", "parentProcessName",
    "mandatoryLabel", "objectServer", "objectType", "objectName", "handleId", "accessList",
    "accessMask", "serviceName", "serviceType", "serviceStartType", "serviceAccount",
    "imagePath", "param1", "param2", "data", "binary", "ticketOptions", "ticketEncryptionType",
    "preAuthType", "callerProcessId", "callerProcessName", "image", "user", "hashes",
    "parentImage", "parentCommandLine", "ruleName", "utcTime", "processGuid",
    "parentProcessGuid", "parentProcessId", "currentDirectory", "integrityLevel", "logonId",
    "terminalSessionId", "company", "description", "product", "fileVersion",
    "originalFileName", "destinationPort", "destinationHostname", "sourceIp", "sourcePort",
    "sourceHostname", "protocol", "initiated", "targetFilename", "creationUtcTime",
    "queryName", "queryStatus", "queryResults",
)


class _QuickEventDataFields(
    msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True, gc=False
):
    ipAddress: str | None = None  # Wazuh's spelling
    destinationIp: str | None = None


class _QuickWin(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True, gc=False):
    """`data.win` of a Windows EventChannel alert (Wazuh writes these two objects)."""

    system: _Raw = UNSET
    eventdata: _QuickEventData | None = None


class _QuickDataFields(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True, gc=False):
    srcip: str | None = None
    dstuser: str | None = None
    win: _QuickWin | None = None


class _QuickSyscheckFields(
    msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True, gc=False
):
    path: str | None = None


def _with_raw(read: type[msgspec.Struct], names: tuple[str, ...]) -> Any:
    """A struct of `names`, in that order: those of `read` as it declares them (decisions
    read them), the others raw (only decoded to be counted)."""
    hints = get_type_hints(read, localns=globals())
    assert set(read.__struct_fields__) <= set(names), read
    return msgspec.defstruct(
        read.__name__.removesuffix("Fields"),
        [(name, hints[name], None) if name in hints else (name, _Raw, UNSET)
         for name in names],
        forbid_unknown_fields=True, omit_defaults=True, gc=False,
    )


if TYPE_CHECKING:  # the fields decisions read; the others are only decoded to be counted
    _QuickEventData = _QuickEventDataFields
    _QuickData = _QuickDataFields
    _QuickSyscheck = _QuickSyscheckFields
else:
    _QuickEventData = _with_raw(_QuickEventDataFields, _EVENTDATA_KEYS)
    _QuickData = _with_raw(_QuickDataFields, _DATA_KEYS)
    _QuickSyscheck = _with_raw(_QuickSyscheckFields, _SYSCHECK_KEYS)


class QuickLine(
    msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True, gc=False, kw_only=True
):
    """The line, its members in the order Wazuh writes them: re-encoded, a line Wazuh wrote
    comes out byte for byte. Its rule is kept as written (one raw view, not a dozen members):
    a rule seen before is known by its bytes, another is decoded on its own as a `QuickRule`
    and vouched for the same way (`jsonreader._new_rule`)."""

    timestamp: str = ""
    rule: msgspec.Raw
    agent: _QuickAgent | None = None
    manager: _Raw = UNSET
    id: str = ""
    cluster: _Raw = UNSET
    previous_output: _Raw = UNSET
    full_log: _Raw = UNSET
    syscheck: _QuickSyscheck | None = None
    predecoder: _Raw = UNSET
    decoder: _Raw = UNSET
    data: _QuickData | None = None
    GeoLocation: _Raw = UNSET  # Wazuh's spelling
    location: str | None = None
    input: _Raw = UNSET
    previous_log: _Raw = UNSET
