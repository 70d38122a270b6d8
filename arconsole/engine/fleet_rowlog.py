"""The fleet rows' write-ahead log: row images appended beside the state file, indexed lazily.

A burst of AR log alerts changes thousands of fleet rows; written to SQLite one `INSERT OR
REPLACE` each, the row write cost more than reading the alert. Instead each turn's changed
rows are appended, as whole row images, to `<state>.fleet-rows` (one `write`), and the state
file's `fleet_rows` table catches up in one batch (`FleetStore.catch_up_rows`) at start, when
the log grows past a limit, and when something lists the rows; a row changed many times is
then written once. Replaying images is idempotent (the last image of a row wins), so a crash
anywhere between the append, the index commit and the log's reset loses nothing and
duplicates nothing. A torn or zero-filled tail (an entry's CRC) ends the reading.

The file has the spool's header (`agent_spool.Spool`: magic, the state file's `db_id`);
entries are `<length, crc32>` then the rows changed in one turn, as a JSON array of rows, each
a JSON array in `fleet_store`'s column order (one image per entry before: still read). A torn
entry is the last turn's, lost whole: the rows it held are the ones its AR alerts changed,
which a restart `--from-start` reads again.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import msgspec

_PRE = struct.Struct("<II")
# agent, program, key, agent_name, active, first_added, last_added, lifted_at, adds,
# timeout_min, timeout_max, responses, trigger_rule, trigger_description, trigger_timestamp,
# last_rule
RowImage = tuple[str, str, str, str, bool, float | None, float | None, float | None, int,
                 int | None, int | None, str, str, str, str, str]
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(RowImage).decode
_decode_batch = msgspec.json.Decoder(list[RowImage]).decode


def rows_log_path(state_path: Path) -> Path:
    return state_path.with_name(state_path.name + ".fleet-rows")


def encode_rows(images: list[RowImage]) -> bytes:
    """One log entry holding `images` (a JSON array of them: one encode, one CRC)."""
    payload = _encode(images)
    return _PRE.pack(len(payload), zlib.crc32(payload)) + payload


def decode_rows(data: bytes) -> tuple[list[RowImage], int]:
    """The row images in `data`, and how many bytes of it were whole entries. An entry holds
    an array of images, or (written by an older arconsole) one image."""
    images: list[RowImage] = []
    at = 0
    size = len(data)
    while at + _PRE.size <= size:
        length, crc = _PRE.unpack_from(data, at)
        start = at + _PRE.size
        if length == 0 or start + length > size:
            break
        payload = data[start:start + length]
        if zlib.crc32(payload) != crc:
            break
        try:
            if payload.startswith(b"[["):
                images.extend(_decode_batch(payload))
            else:
                images.append(_decode(payload))
        except (msgspec.ValidationError, msgspec.DecodeError):
            break
        at = start + length
    return images, at
