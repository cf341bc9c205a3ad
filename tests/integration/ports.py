"""Test helper: a port held by another listener, as a busy machine's processes may."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator


@contextlib.contextmanager
def taken(port: int) -> Iterator[None]:
    """Within: something else listens on ``127.0.0.1:port``."""
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        yield
