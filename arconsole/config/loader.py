"""Load an `ossec.conf` into the model, with every problem as a diagnostic.

    config = load_config("/var/ossec/etc/ossec.conf")             # flavour wazuh, role detected
    config = load_config(path, flavour=Flavour.OSSEC, role=Role.AGENT)
    config = load_config_text(text, "pasted.conf")

Loading never fails on content: a file that is not XML, not UTF-8 or not valid for Wazuh still
gives a `Config` whose `diagnostics` say what is wrong (`config.ok` is False on any error).
Only a file that cannot be read raises `ConfigReadError`.
"""

from __future__ import annotations

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
    file_path = Path(path)
    try:
        data = file_path.read_bytes()
    except OSError as error:
        raise ConfigReadError(error.errno or 0, error.strerror or str(error), str(path)) from error
    config = load_config_text(data, str(path), flavour=flavour, role=role)
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
    from arconsole.config.build import build_config
    from arconsole.config.xmlsource import parse_text

    try:
        return build_config(parse_text(text), path, flavour, role)
    except Exception as error:  # a bug here must not take the engine or the console down
        problem = Diagnostic(
            Severity.ERROR, "AR-INTERNAL",
            f"arconsole could not analyse this file ({type(error).__name__}: {error})", 1, 1,
            "this is a bug in arconsole; please report it with the file", path)
        return Config(path=path, flavour=flavour, role=role or Role.MANAGER,
                      diagnostics=(problem,))
