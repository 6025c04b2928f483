"""Test-wide settings and fixtures. Personas and factories live in tests/factories.py."""

import pytest


def pytest_configure(config):
    from django.conf import settings

    # The test client speaks plain HTTP; production keeps the HTTPS redirect.
    settings.SECURE_SSL_REDIRECT = False
    # The demo bank answers for every payment backend, in-process (no network in tests).
    settings.PAYMENT_DEMO_BANK = True
    settings.PAYMENT_DEMO_BANK_ALLOWED_WITHOUT_DEBUG = True
    settings.PAYMENT_DEMO_BANK_BASE_URL = "http://testserver"


@pytest.fixture(autouse=True)
def _fresh_axes_cache(settings):
    # django-axes keeps nothing between tests: its records live in the (rolled back) database.
    yield


# --- Network guard ------------------------------------------------------------------------------
# No test may reach the internet: banks (PayFiP, Systempay), SMTP, anything. Loopback, unix
# sockets and "localhost" stay open (PostgreSQL at 127.0.0.1, live servers, the browser tests).
# Host names other than localhost are refused without being resolved (no DNS query either).

_GUARD_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


def _guard_allows(host) -> bool:
    import ipaddress

    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    host = str(host).strip("[]").split("%", 1)[0]  # IPv6 literal brackets and zone id
    if host.lower() in _GUARD_LOCAL_NAMES:
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False  # a host name: it would be resolved and reached over the network
    if getattr(address, "ipv4_mapped", None):
        address = address.ipv4_mapped
    return address.is_loopback or address.is_unspecified


def _guard_refuse(address):
    raise RuntimeError(f"Test network guard: connection to {address!r} refused (tests must not use the network)")


@pytest.fixture(autouse=True, scope="session")
def _network_guard():
    import socket

    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex
    original_create_connection = socket.create_connection

    def checked(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _guard_allows(address[0]):
            _guard_refuse(address)

    def guarded_connect(self, address):
        checked(self, address)
        return original_connect(self, address)

    def guarded_connect_ex(self, address):
        checked(self, address)
        return original_connect_ex(self, address)

    def guarded_create_connection(address, *args, **kwargs):
        if not _guard_allows(address[0]):
            _guard_refuse(address)
        return original_create_connection(address, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", guarded_connect)
        patch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
        patch.setattr(socket, "create_connection", guarded_create_connection)
        yield
