"""Load an `ossec.conf` into the model, with every problem as a diagnostic.

    config = load_config("/var/ossec/etc/ossec.conf")             # flavour wazuh, role detected
    config = load_config(path, flavour=Flavour.OSSEC, role=Role.AGENT)
    config = load_config_text(text, "pasted.conf")

Loading never fails on content: a file that is not XML, not UTF-8 or not valid for Wazuh still
gives a `Config` whose `diagnostics` say what is wrong (`config.ok` is False on any error).
Only a file that cannot be read raises `ConfigReadError` (a file over `SIZE_LIMIT` included:
`ConfigTooLarge`).
"""

from __future__ import annotations

import errno
import os
from dataclasses import replace
from pathlib import Path

from arconsole.config.diagnostics import Diagnostic, Severity
from arconsole.config.model import Config, Flavour, Role


class ConfigReadError(OSError):
    """The file cannot be read at all (missing, a directory, no permission...).

    `str()` is the reason alone ("No such file or directory"); `filename` holds the path.
    """

    def __str__(self) -> str:
        return self.strerror or super().__str__()


class ConfigTooLarge(ConfigReadError):
    """The file is over `SIZE_LIMIT`: not read, so that a runaway file cannot exhaust memory."""


# Generous: Wazuh's stock configs are under 50 KiB; loading costs about 9x the size in memory.
SIZE_LIMIT = 16 * 1024 * 1024


def read_config_bytes(path: str | os.PathLike[str]) -> bytes:
    """The file's bytes, at most `SIZE_LIMIT` of them (ConfigReadError otherwise)."""
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size <= SIZE_LIMIT:
                data = handle.read(SIZE_LIMIT + 1)  # the size may lie (/proc) or grow
    except OSError as error:
        raise ConfigReadError(error.errno or 0, error.strerror or str(error), str(path)) from error
    if size > SIZE_LIMIT or len(data) > SIZE_LIMIT:
        how_big = (f"{_mib(size)} ({size} bytes)" if size > SIZE_LIMIT
                   else f"more than {_mib(SIZE_LIMIT)}")
        raise ConfigTooLarge(
            errno.EFBIG, f"too large: {how_big}; a config may hold at most "
            f"{_mib(SIZE_LIMIT)} (Wazuh's own are under 50 KiB)", str(path))
    return data


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB" if size % 2**20 else f"{size // 2**20} MiB"


def load_config(
    path: str | os.PathLike[str],
    *,
    flavour: Flavour = Flavour.WAZUH,
    role: Role | None = None,
) -> Config:
    """Read and judge the file; `role=None` detects it (`<client>` means an agent).

    When the file sits in a Wazuh-like home (`<dir>/../active-response/bin` exists), the
    executables of the responses that can fire are looked for there too.
    """
    from arconsole.config.xmlsource import decode

    file_path = Path(path)
    data = read_config_bytes(file_path)
    decoded = [decode(data)]
    del data  # a big file: neither the bytes nor (once parsed) the text stay in memory
    config = _judge(decoded, str(path), flavour, role)
    bin_dir = file_path.absolute().parent.parent / "active-response" / "bin"
    if bin_dir.is_dir():
        from arconsole.config.build import sort_diagnostics
        from arconsole.config.executables import check_executables

        found = check_executables(config, bin_dir)
        if found:
            config = replace(config, diagnostics=sort_diagnostics(
                [*config.diagnostics, *found], config.path))
    return config


def load_config_text(
    text: str | bytes,
    path: str,
    *,
    flavour: Flavour = Flavour.WAZUH,
    role: Role | None = None,
) -> Config:
    """Judge configuration text as if read from `path` (used in diagnostics only)."""
    from arconsole.config.xmlsource import decode

    return _judge([decode(text)], path, flavour, role)


def _judge(decoded: list[tuple[str, list[Diagnostic]]], path: str, flavour: Flavour,
           role: Role | None) -> Config:
    """Parse and build; `decoded` holds the only reference to the text, dropped once parsed."""
    from arconsole.config.build import build_config
    from arconsole.config.xmlsource import parse_decoded

    try:
        parsed = parse_decoded(*decoded.pop())
        return build_config(parsed, path, flavour, role)
    except Exception as error:  # a bug here must not take the engine or the console down
        problem = Diagnostic(
            Severity.ERROR, "AR-INTERNAL",
            f"arconsole could not analyse this file ({type(error).__name__}: {error})", 1, 1,
            "this is a bug in arconsole; please report it with the file", path)
        return Config(path=path, flavour=flavour, role=role or Role.MANAGER,
                      diagnostics=(problem,))
