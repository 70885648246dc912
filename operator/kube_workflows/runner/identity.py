"""Which run this pod runs, from the environment the operator sets."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass


@dataclass(frozen=True)
class RunnerIdentity:
    namespace: str
    name: str
    pod: str
    handle_sigterm: bool = True

    @classmethod
    def from_env(cls) -> RunnerIdentity:
        try:
            return cls(
                namespace=os.environ["KWF_RUN_NAMESPACE"],
                name=os.environ["KWF_RUN_NAME"],
                pod=os.environ.get("KWF_POD_NAME") or socket.gethostname(),
            )
        except KeyError as missing:
            raise SystemExit(f"kwf runner: environment variable {missing} is not set (the operator sets it)") from None
