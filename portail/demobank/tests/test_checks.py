"""System checks portail.E010 (demo bank without DEBUG) and portail.E011 (dummy régie in production)."""

from unittest import mock

import pytest
from django.core import checks
from django.db import ProgrammingError

from portail.demobank.checks import check_demo_bank, check_dummy_backend
from portail.demobank.tests.helpers import make_regie
from portail.payments.models import Regie


def ids(errors):
    return [error.id for error in errors]


def test_e010_demo_bank_needs_debug(settings):
    settings.PAYMENT_DEMO_BANK = True
    settings.DEBUG = False
    settings.PAYMENT_DEMO_BANK_ALLOWED_WITHOUT_DEBUG = False
    assert ids(check_demo_bank(None)) == ["portail.E010"]
    assert "portail.E010" in ids(checks.run_checks(tags=[checks.Tags.security]))
    settings.PAYMENT_DEMO_BANK_ALLOWED_WITHOUT_DEBUG = True  # test settings only
    assert check_demo_bank(None) == []
    settings.PAYMENT_DEMO_BANK_ALLOWED_WITHOUT_DEBUG = False
    settings.DEBUG = True
    assert check_demo_bank(None) == []
    settings.PAYMENT_DEMO_BANK = False
    settings.DEBUG = False
    assert check_demo_bank(None) == []


@pytest.mark.django_db
def test_e011_dummy_regie_in_production(settings):
    settings.DEBUG = False
    settings.PAYMENT_DEMO_BANK = False
    assert check_dummy_backend(None) == []
    make_regie("payfip_ws")
    assert check_dummy_backend(None) == []
    regie = make_regie("dummy")
    errors = check_dummy_backend(None)
    assert ids(errors) == ["portail.E011"]
    assert regie.name in errors[0].msg
    assert "portail.E011" in ids(checks.run_checks(tags=[checks.Tags.security]))
    settings.PAYMENT_DEMO_BANK = True
    assert check_dummy_backend(None) == []
    settings.PAYMENT_DEMO_BANK = False
    settings.DEBUG = True
    assert check_dummy_backend(None) == []


@pytest.mark.django_db
def test_e011_works_before_migrate(settings):
    settings.DEBUG = False
    settings.PAYMENT_DEMO_BANK = False
    with mock.patch.object(Regie.objects, "filter", side_effect=ProgrammingError("no such table")):
        assert check_dummy_backend(None) == []
    assert Regie.objects.count() == 0  # the connection is still usable afterwards
