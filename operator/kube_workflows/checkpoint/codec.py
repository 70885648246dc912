"""Context dict ⇄ the compact string stored in `status.checkpoint.data`.

A checkpoint is the JSON of `Context.to_dict(serializer=JsonSerializer())`, compressed with zlib
and base64-encoded so it fits a JSON string field. JSON only, never pickle: anyone who can patch
status could otherwise make the runner execute code.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import zlib
from dataclasses import dataclass
from typing import Any

ENCODING = "json+zlib+base64"
# zlib level 6 compresses Context JSON ~8-10x; higher levels cost CPU on the step path for ~2% more.
_LEVEL = 6


class CheckpointError(ValueError):
    """A checkpoint that cannot be decoded: corrupt, truncated, or of an unknown encoding."""


@dataclass(frozen=True)
class EncodedCheckpoint:
    data: str
    size_bytes: int
    sha256: str

    @property
    def stored_bytes(self) -> int:
        return len(self.data)


def encode_checkpoint(context: dict[str, Any]) -> EncodedCheckpoint:
    raw = json.dumps(context, separators=(",", ":"), sort_keys=False).encode()
    data = base64.b64encode(zlib.compress(raw, _LEVEL)).decode("ascii")
    return EncodedCheckpoint(data=data, size_bytes=len(raw), sha256=hashlib.sha256(raw).hexdigest())


def decode_checkpoint(data: str, *, encoding: str = ENCODING, sha256: str | None = None) -> dict[str, Any]:
    """The Context dict inside a checkpoint; CheckpointError says what is wrong with a bad one."""
    if encoding != ENCODING:
        raise CheckpointError(f"status.checkpoint.encoding {encoding!r} is not supported (expected {ENCODING!r})")
    try:
        raw = zlib.decompress(base64.b64decode(data, validate=True))
    except (binascii.Error, zlib.error, ValueError) as exc:
        raise CheckpointError(f"status.checkpoint.data is corrupt or truncated: {exc}") from exc
    if sha256 is not None and hashlib.sha256(raw).hexdigest() != sha256:
        raise CheckpointError("status.checkpoint.data does not match status.checkpoint.sha256")
    try:
        context = json.loads(raw)
    except ValueError as exc:
        raise CheckpointError(f"status.checkpoint.data is not JSON: {exc}") from exc
    if not isinstance(context, dict):
        raise CheckpointError("status.checkpoint.data is not a serialized Context (expected a JSON object)")
    return context
