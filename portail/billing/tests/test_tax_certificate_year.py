"""The January job: every household that paid eligible care in the year gets its attestation, once,
by e-mail with the PDF; a household that asked first is not given a second one; meals-only households
and older children get none; the year must be over."""

from datetime import date

import pytest
from django.core import mail
from django.core.management import CommandError, call_command

from portail.billing.models import TaxCertificate
from portail.billing.tax_certificate import certificate_candidates, issue_certificate, issue_year_certificates
from portail.payments.models import Means
from tests.factories import TownFactory, make_family
from tests.payment_factories import RegieFactory

from .test_tax_certificate import N, child_of, make_invoice, paris, pay

pytestmark = pytest.mark.django_db


@pytest.fixture
def regie():
    return RegieFactory(town=TownFactory(name="Ville-sur-Test"), name="Régie enfance", code="ENF")


def household_with(regie, *, birth_date, eligible=True, paid_at=None):
    household, guardian, _ = make_family(children=0)
    child = child_of(household, birth_date)
    invoice = make_invoice(regie, household, [(child, 4000, eligible)])
    pay(invoice, 4000, paid_at=paid_at or paris(N, 3, 10), means=Means.CHEQUE)
    return household, guardian


def test_every_eligible_household_gets_its_attestation_once_by_email(regie, django_capture_on_commit_callbacks):
    young, guardian = household_with(regie, birth_date=date(N - 2, 5, 1))
    old, _ = household_with(regie, birth_date=date(N - 9, 5, 1))  # too old on 1 January: nothing to certify
    household_with(regie, birth_date=date(N - 2, 5, 1), eligible=False)  # meals only
    household_with(regie, birth_date=date(N - 2, 5, 1), paid_at=paris(N + 1, 1, 3))  # paid the next year

    with django_capture_on_commit_callbacks(execute=True):
        result = issue_year_certificates(N)
    assert [c.household_id for c in result.issued] == [young.pk]
    assert [(household_id, code) for household_id, code, _ in result.failed] == [(old.pk, "ENF")]
    assert "il n'y a pas d'attestation à établir" in result.failed[0][2]
    certificate = TaxCertificate.objects.get()
    assert certificate.amounts[0]["paid_cents"] == 4000
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [guardian.email]
    assert message.subject == f"Votre attestation fiscale {N} est disponible"
    assert certificate.number in message.body
    assert message.attachments[0][1].startswith(b"%PDF")

    with django_capture_on_commit_callbacks(execute=True):
        again = issue_year_certificates(N)
    assert (again.issued, again.already) == ([], 1)
    assert TaxCertificate.objects.count() == 1 and len(mail.outbox) == 1


def test_a_household_that_asked_first_is_not_given_a_second_one(regie):
    household, guardian = household_with(regie, birth_date=date(N - 1, 1, 1))
    issue_certificate(household, regie, N, guardian.user)
    result = issue_year_certificates(N, notify=False)
    assert (result.issued, result.already) == ([], 1)


def test_candidates_can_be_limited_to_one_regie(regie):
    other = RegieFactory(town=regie.town, code="SPO", name="Sports")
    household_with(regie, birth_date=date(N - 2, 5, 1))
    household_with(other, birth_date=date(N - 2, 5, 1))
    assert len(certificate_candidates(N)) == 2
    assert {regie_id for _, regie_id in certificate_candidates(N, other)} == {other.pk}


def test_the_command_defaults_to_last_year_and_refuses_the_current_one(regie, capsys):
    household_with(regie, birth_date=date(N - 2, 5, 1))
    call_command("issue_tax_certificates", "--no-email")
    assert f"Attestations fiscales {N} : 1 établie(s), 0 déjà établie(s), 0 en erreur." in capsys.readouterr().out
    with pytest.raises(CommandError, match="disponible à partir du 1er janvier"):
        call_command("issue_tax_certificates", "--year", str(N + 1))
    with pytest.raises(CommandError, match="Aucune régie"):
        call_command("issue_tax_certificates", "--regie", "XXX")


def test_one_issued_meanwhile_is_not_issued_again_and_takes_no_number(regie):
    """Two January jobs at once: the second finds the attestation under the counter's lock and rolls back."""
    household, guardian = household_with(regie, birth_date=date(N - 1, 1, 1))
    other, _ = household_with(regie, birth_date=date(N - 1, 1, 1))
    first = issue_certificate(household, regie, N, guardian.user)
    assert issue_certificate(household, regie, N, None, unless_issued=True) is None
    second = issue_certificate(other, regie, N, None, unless_issued=True)
    assert int(second.number[-6:]) == int(first.number[-6:]) + 1  # no gap left by the refused one
