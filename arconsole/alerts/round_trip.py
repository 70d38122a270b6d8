"""Encode a decoded alert again, to find the repeated keys its decode dropped.

msgspec keeps one member of a repeated key, so a value decoded from JSON text and encoded
again comes out shorter than the text when a key was repeated in it: nothing is ever written
longer than it was (msgspec writes the shortest form of each string, integers have one form,
raw members are written as they were), so a dropped member cannot be made up for elsewhere.
The alert readers (`jsonreader`, `ar_lines`) all test that here, into one reused buffer per
thread (no new bytes per line).
"""

from __future__ import annotations

import threading

import msgspec

encode_into = msgspec.json.Encoder().encode_into
# This thread's reused buffer, `per_thread.buffer` (made by the first `reencoded` call in a
# thread). `jsonreader`'s hot path inlines `reencoded` with these two (a call saved per line).
per_thread = threading.local()


def reencoded(value: object) -> bytearray:
    """`value` as JSON, in this thread's reused buffer: valid until its next call here."""
    try:
        buffer: bytearray = per_thread.buffer
    except AttributeError:
        buffer = per_thread.buffer = bytearray()
    encode_into(value, buffer)
    return buffer


def lost_members(value: object, text: bytes) -> bool:
    """True when `value`, decoded from `text`, encodes again shorter or longer than `text`: a
    repeated key was dropped (or the text is not written compact: whitespace, escapes)."""
    return len(reencoded(value)) != len(text)
