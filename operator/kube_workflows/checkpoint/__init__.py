"""Encode and decode Context checkpoints (pure functions; no API calls)."""

from kube_workflows.checkpoint.codec import (
    ENCODING,
    CheckpointError,
    EncodedCheckpoint,
    decode_checkpoint,
    encode_checkpoint,
)

__all__ = ["ENCODING", "CheckpointError", "EncodedCheckpoint", "decode_checkpoint", "encode_checkpoint"]
