"""Loopback ports for the local stack and the tests."""

from __future__ import annotations

import errno
import random
import socket

# Test stacks take ports between Ray's worker ports (10002-19999) and the kernel's ephemeral range
# (32768+): a port the OS hands to some client a moment later can never be one a stack is about to bind.
_PORT_RANGE = (20000, 32767)
_handed_out: set[int] = set()


def _bindable(port: int) -> bool:
    """Free on every interface, IPv4 and IPv6 (Ray's gRPC proxy binds [::])."""
    for family, host in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        try:
            with socket.socket(family) as sock:
                sock.bind((host, port))
        except OSError as exc:
            if family == socket.AF_INET6 and exc.errno == errno.EAFNOSUPPORT:
                continue  # no IPv6 on this machine
            return False
    return True


def free_port() -> int:
    """A port no other caller in this process got, free on every interface right now."""
    while True:
        port = random.randint(*_PORT_RANGE)
        if port not in _handed_out and _bindable(port):
            _handed_out.add(port)
            return port


def port_in_use(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:`port`."""
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0
