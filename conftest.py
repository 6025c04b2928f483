"""Test-wide settings and fixtures. Personas and factories live in tests/factories.py."""

import pytest


def pytest_configure(config):
    from django.conf import settings

    # The test client speaks plain HTTP; production keeps the HTTPS redirect.
    settings.SECURE_SSL_REDIRECT = False


@pytest.fixture(autouse=True)
def _fresh_axes_cache(settings):
    # django-axes keeps nothing between tests: its records live in the (rolled back) database.
    yield
