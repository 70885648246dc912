import base64
import zlib

import pytest

from kube_workflows.checkpoint import CheckpointError, decode_checkpoint, encode_checkpoint


def test_round_trip_and_compression() -> None:
    context = {"version": 2, "state": {"state_data": {"_data": {"doc": "x" * 10_000}}}, "is_running": True}
    encoded = encode_checkpoint(context)
    assert decode_checkpoint(encoded.data, sha256=encoded.sha256) == context
    assert encoded.stored_bytes < encoded.size_bytes / 10


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("not base64!!", "corrupt or truncated"),
        (base64.b64encode(b"plain, not zlib").decode(), "corrupt or truncated"),
        (base64.b64encode(zlib.compress(b"{not json")).decode(), "not JSON"),
        (base64.b64encode(zlib.compress(b"[1, 2]")).decode(), "not a serialized Context"),
    ],
)
def test_bad_data_names_the_field(data: str, message: str) -> None:
    with pytest.raises(CheckpointError, match=message) as info:
        decode_checkpoint(data)
    assert "status.checkpoint" in str(info.value)


def test_truncated_checkpoint_is_detected() -> None:
    encoded = encode_checkpoint({"state": list(range(1000))})
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        decode_checkpoint(encoded.data[: len(encoded.data) // 2])


def test_checksum_mismatch_and_unknown_encoding() -> None:
    encoded = encode_checkpoint({"a": 1})
    with pytest.raises(CheckpointError, match="sha256"):
        decode_checkpoint(encoded.data, sha256="0" * 64)
    with pytest.raises(CheckpointError, match="encoding"):
        decode_checkpoint(encoded.data, encoding="pickle")
