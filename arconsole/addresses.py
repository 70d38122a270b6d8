"""Address spellings every part must read the same way (decider, white list, block book)."""

from __future__ import annotations

_MAPPED_PREFIX = "::ffff:"


def strip_mapped(srcip: str) -> str:
    """Wazuh's `get_ip()`: a leading `::ffff:` is removed.

    Exactly as Wazuh 4.x: the comparison is case-sensitive (`strncmp`), so `::FFFF:10.0.0.1`
    stays as it is. Every part of arconsole uses this one function, so an address is never
    white-listed by one and blocked or lifted by another.
    """
    return srcip[len(_MAPPED_PREFIX) :] if srcip.startswith(_MAPPED_PREFIX) else srcip
