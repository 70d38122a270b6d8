"""Install the shipped scripts into a home as tiny launchers of this package's modules.

A launcher is the Python that runs arconsole and a few lines; it lives in
`HOME/active-response/bin/<name>`, where execd (and arconsole's engine) looks for executables.

Every run of a script starts a fresh interpreter, so the launcher starts it lean: `-I -S`
(isolated: no PYTHON* variables, not the script's folder on sys.path; no site: the site
packages and their .pth files, whose imports can cost several times a whole run). Without
site the package is not on sys.path, so the launcher appends the folder that holds this
arconsole, written into it at install. The sample home's launchers (sample-conf) cannot know
that folder: they start `python3 -S` through `env -S` (coreutils >= 8.30; the engine puts its
own interpreter first on the scripts' PATH) and fall back to `site` when PYTHONPATH does not
hold arconsole; `arconsole demo` replaces them in its copy with installed launchers.
Each file is written to a fresh temporary name in the same folder (O_EXCL, so no one can plant
it beforehand) and renamed into place, so a running engine never sees half a launcher.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

import arconsole
from arconsole.directories import ensure_directory

# Wazuh's stock Linux responses (seed 004) with the module that implements each.
STOCK_SCRIPTS: dict[str, str] = {
    "firewall-drop": "firewall_drop",
    "host-deny": "host_deny",
    "route-null": "route_null",
    "firewalld-drop": "firewalld_drop",
    "disable-account": "disable_account",
    "restart-wazuh": "restart_wazuh",
}
# The sample home also carries a custom response, to show one that is not Wazuh's.
SAMPLE_SCRIPTS: dict[str, str] = {**STOCK_SCRIPTS, "notify-admin": "notify_admin"}
SCRIPT_MODE = 0o750
BIN_DIR_MODE = 0o750  # the scripts' folder when we create it: no one else lists or runs them
MAX_SHEBANG = 255  # Linux reads at most this much of the `#!` line (BINPRM_BUF_SIZE 256)
PYTHON_FLAGS = "-IS"  # isolated, no site: see the module docstring
SAMPLE_SHEBANG = "#!/usr/bin/env -S python3 -S"


def package_root() -> str:
    """The folder that holds this arconsole package (what `import arconsole` needs)."""
    return os.path.dirname(os.path.dirname(os.path.abspath(arconsole.__file__)))


def launcher_text(module: str, python: str, root: str | None = None) -> str:
    """The launcher for `arconsole.scripts.<module>`, run by `python` without site, finding
    the package in `root` (default: where this arconsole is)."""
    root = package_root() if root is None else root
    return (f"#!{python} {PYTHON_FLAGS}\nimport sys\nsys.path.append({root!r})\n"
            f"from arconsole.scripts.{module} import main\n"
            f"raise SystemExit(main(sys.argv))\n")


def sample_launcher_text(module: str) -> str:
    """The launcher kept in sample-conf: any python3 on PATH, arconsole from PYTHONPATH or
    (when it is not there) from site."""
    return (f"{SAMPLE_SHEBANG}\nimport sys\n"
            f"try:\n    import arconsole.scripts\n"
            f"except ModuleNotFoundError:  # not on PYTHONPATH: where site puts it\n"
            f"    import site\n\n    site.main()\n"
            f"from arconsole.scripts.{module} import main\n\n"
            f"raise SystemExit(main(sys.argv))\n")


def install_scripts(home: Path, *, python: str = sys.executable,
                    overwrite: bool = False) -> list[Path]:
    """Write the stock launchers into `HOME/active-response/bin`; the paths written.

    An existing file is kept unless `overwrite`. Raises ValueError for a Python path that a
    `#!` line cannot hold, OSError when the folder cannot be written.
    """
    longest = MAX_SHEBANG - 3 - len(PYTHON_FLAGS)
    if not python.startswith("/") or any(c.isspace() for c in python) or \
            len(python) > longest:
        raise ValueError(f"cannot start scripts with {python!r}: a #! line needs an absolute "
                         f"path without spaces, at most {longest} characters")
    bin_dir = make_bin_dir(home)
    written = []
    for name, module in STOCK_SCRIPTS.items():
        target = bin_dir / name
        if write_script(target, launcher_text(module, python), overwrite):
            written.append(target)
    return written


def make_bin_dir(home: Path) -> Path:
    """`HOME/active-response/bin`, created (BIN_DIR_MODE) when missing; its path."""
    return ensure_directory(home / "active-response" / "bin", BIN_DIR_MODE)


def write_script(target: Path, text: str, overwrite: bool) -> bool:
    """Write `text` to `target` as an executable (SCRIPT_MODE) through a fresh temporary
    name (O_EXCL|O_NOFOLLOW: nothing planted there is followed or rewritten), renamed into
    place; an existing target is kept unless `overwrite`. Whether it was written."""
    if not overwrite and os.path.lexists(target):
        return False
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 SCRIPT_MODE)
    try:
        try:
            os.write(fd, text.encode())
            os.fchmod(fd, SCRIPT_MODE)  # the umask may have taken bits off
            os.fsync(fd)
        finally:
            os.close(fd)
        if overwrite:
            os.replace(temporary, target)
        else:
            try:
                os.link(temporary, target)  # fails if the file appeared meanwhile: keep it
            except FileExistsError:
                return False
    finally:
        if os.path.lexists(temporary):
            os.unlink(temporary)
    return True
