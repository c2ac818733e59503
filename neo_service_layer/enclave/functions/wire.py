"""Frames between the enclave and a sandbox process: a 4-byte big-endian length, then a UTF-8 JSON object.

The sandbox side is ``sandbox_worker.read_frame`` / ``write_frame`` (that process imports nothing from
this package, so the few lines are its own). Here a frame over ``max_bytes`` is refused before it is
read: a sandbox cannot make the enclave buffer more than the run's output and logs allow.
"""

from __future__ import annotations

import asyncio
import json
import struct
from typing import Any, Final

HEADER: Final = struct.Struct(">I")


class FrameTooLarge(Exception):
    """The sandbox announced a frame over the limit."""


class ProtocolBroken(Exception):
    """The sandbox sent something that is not a frame of this protocol."""


async def read_frame(reader: asyncio.StreamReader, max_bytes: int) -> dict[str, Any] | None:
    """The next message; None when the sandbox closed its end (it exited or was killed)."""
    try:
        header = await reader.readexactly(HEADER.size)
        (size,) = HEADER.unpack(header)
        if size > max_bytes:
            raise FrameTooLarge(f"a frame of {size} bytes (at most {max_bytes})")
        body = await reader.readexactly(size)
    except asyncio.IncompleteReadError:
        return None
    try:
        message = json.loads(body)
    except ValueError as exc:
        raise ProtocolBroken("a frame that is not JSON") from exc
    if not isinstance(message, dict):
        raise ProtocolBroken("a frame that is not a JSON object")
    return message


def encode_frame(message: dict[str, Any]) -> bytes:
    data = json.dumps(message, separators=(",", ":")).encode()
    return HEADER.pack(len(data)) + data
