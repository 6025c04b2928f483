"""The root conftest's network guard: no test reaches anything but this machine."""

import socket

import pytest
import requests


def test_guard_refuses_a_public_address():
    with pytest.raises(RuntimeError, match="Test network guard"):
        socket.create_connection(("203.0.113.1", 443), timeout=1)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        with pytest.raises(RuntimeError, match="Test network guard"):
            sock.connect(("203.0.113.1", 443))
        with pytest.raises(RuntimeError, match="Test network guard"):
            sock.connect_ex(("203.0.113.1", 443))


def test_guard_refuses_host_names_without_resolving_them():
    with pytest.raises(RuntimeError, match="Test network guard"):
        socket.create_connection(("www.payfip.gouv.fr", 443), timeout=1)


def test_guard_stops_requests_too():
    with pytest.raises(RuntimeError, match="Test network guard"):
        requests.get("https://203.0.113.1/", timeout=1)


def test_guard_lets_loopback_through():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            pass
        with socket.create_connection(("localhost", port), timeout=1):
            pass
