"""disable-account on a real local account: a throwaway user the test creates and removes."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_scripts_helpers import ar_message, execd_run, make_home, messages_of

SAFE_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


@pytest.fixture
def user() -> Iterator[str]:
    if os.geteuid() != 0:
        pytest.skip("needs root to create a throwaway account")
    for tool in ("useradd", "userdel", "passwd", "usermod"):
        if shutil.which(tool, path=SAFE_PATH) is None:
            pytest.skip(f"{tool} is not installed")
    name = f"arctest{secrets.token_hex(4)}"
    # A password field that is not locked and not empty, so that unlocking is allowed.
    subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin",
                    "--password", "$6$arconsole$notarealhash", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["userdel", name], check=False)


def status(name: str) -> str:
    """`passwd -S`: L for a locked password, P for a usable one."""
    done = subprocess.run(["passwd", "-S", name], capture_output=True, text=True, check=True)
    return done.stdout.split()[1]


def test_the_account_is_locked_then_unlocked(tmp_path: Path, user: str) -> None:
    home = make_home(tmp_path)
    assert status(user) == "P"
    add = execd_run(home, "disable-account",
                    ar_message("add", program="disable-account", data={"dstuser": user}))
    assert add.returncode == 0
    assert add.check_keys is not None and f'"keys":["{user}"]' in add.check_keys
    assert status(user) == "L"
    delete = execd_run(home, "disable-account",
                       ar_message("delete", program="disable-account", data={"dstuser": user}))
    assert delete.returncode == 0
    assert status(user) == "P"
    assert messages_of(home, "disable-account")[-1] == "Ended"


def test_usermod_when_passwd_is_absent(tmp_path: Path, user: str) -> None:
    home = make_home(tmp_path)
    only_usermod = tmp_path / "only-usermod"
    only_usermod.mkdir()
    usermod = shutil.which("usermod", path=SAFE_PATH)
    assert usermod is not None
    (only_usermod / "usermod").symlink_to(usermod)
    extra = ["--search-path", str(only_usermod)]
    message = ar_message("add", program="disable-account", data={"dstuser": user},
                         extra_args=extra)
    assert execd_run(home, "disable-account", message).returncode == 0
    assert status(user) == "L"
    message["command"] = "delete"
    assert execd_run(home, "disable-account", message).returncode == 0
    assert status(user) == "P"


def test_an_account_that_does_not_exist_fails_with_passwds_words(tmp_path: Path,
                                                                 user: str) -> None:
    home = make_home(tmp_path)
    missing = user + "x"
    run = execd_run(home, "disable-account",
                    ar_message("add", program="disable-account", data={"dstuser": missing}))
    assert run.returncode == 255
    passwd = shutil.which("passwd", path=SAFE_PATH)
    last = messages_of(home, "disable-account")[-1]
    assert last.startswith(f"Command '{passwd}' failed to disable the account '{missing}' "
                           "(exit code ")
    assert missing in last.split("): ", 1)[1]  # passwd's own line names the account
