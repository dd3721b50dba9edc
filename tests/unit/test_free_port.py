"""Free ports for local platforms: never from the range outgoing connections take theirs from, never twice."""

from __future__ import annotations

import socket

from services.common.embedded import free_port


def test_free_ports_are_below_the_ephemeral_range_distinct_and_bindable() -> None:
    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == len(ports)
    assert all(1024 < port < 32768 for port in ports)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", ports[0]))
