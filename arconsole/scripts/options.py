"""Script settings from `extra_args`: trusted words from ossec.conf, never from the alert.

Every script accepts:
  --search-path DIRS   where binaries are looked up (default /usr/sbin:/usr/bin:/sbin:/bin);
                       tests point it at a folder that lacks iptables to prove the nft fallback.
  --lock-wait SECONDS  how long to wait for the script's lock (default 20).
Each script documents its own options. Words that are no option of the script are logged and
ignored, as Wazuh's stock scripts ignore `extra_args`, so configs written for Wazuh still work.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing and dataclasses cost more to import than a script run should
if TYPE_CHECKING:
    from collections.abc import Sequence

SAFE_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_LOCK_WAIT = 20.0


class OptionError(ValueError):
    """An option of the script with a missing or bad value."""


class Option:
    __slots__ = ("choices", "default", "name")

    def __init__(self, name: str, default: str, choices: tuple[str, ...] = ()) -> None:
        self.name = name  # with the dashes: "--backend"
        self.default = default
        self.choices = choices


COMMON_OPTIONS = (
    Option("--search-path", SAFE_PATH),
    Option("--lock-wait", str(DEFAULT_LOCK_WAIT)),
)


class Options:
    __slots__ = ("ignored", "values")

    def __init__(self, values: dict[str, str], ignored: tuple[str, ...]) -> None:
        self.values = values
        self.ignored = ignored

    def get(self, name: str) -> str:
        return self.values[name]

    @property
    def search_path(self) -> str:
        return self.values["--search-path"]

    @property
    def lock_wait(self) -> float:
        return float(self.values["--lock-wait"])


def parse_options(words: Sequence[str], script_options: Sequence[Option] = ()) -> Options:
    """`--name VALUE` or `--name=VALUE` for each known option; other words are returned."""
    known = {option.name: option for option in (*COMMON_OPTIONS, *script_options)}
    values = {name: option.default for name, option in known.items()}
    ignored: list[str] = []
    index = 0
    while index < len(words):
        word = words[index]
        name, equals, value = word.partition("=")
        option = known.get(name)
        if option is None:
            ignored.append(word)
            index += 1
            continue
        if not equals:
            if index + 1 >= len(words):
                raise OptionError(f"option '{name}' needs a value")
            value = words[index + 1]
            index += 1
        index += 1
        if option.choices and value not in option.choices:
            raise OptionError(f"option '{name}' must be one of {', '.join(option.choices)}, "
                              f"not '{value}'")
        values[name] = value
    _check_common(values)
    return Options(values, tuple(ignored))


def _check_common(values: dict[str, str]) -> None:
    try:
        wait = float(values["--lock-wait"])
    except ValueError:
        wait = -1.0
    if not 0 <= wait < float("inf"):  # also false for NaN (math is a library to load)
        raise OptionError(f"option '--lock-wait' must be a number of seconds, "
                          f"not '{values['--lock-wait']}'")
    folders = values["--search-path"].split(":")
    if not all(folder.startswith("/") for folder in folders):
        raise OptionError("option '--search-path' must list absolute folders separated by ':'")
