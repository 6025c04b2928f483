"""Desk payments (PAYMENTS.md §3.1, §3.8, §3.9): the régie's accepted means, cash below 300 €,
cheque and CESU details, gapless receipt numbers per régie and year (a rollback gives the number
back), refunds that need a reason and are audited, incident resolution, French amounts."""

import datetime as dt

import pytest
from django.utils import timezone

from portail.core.models import Channel, LogEntry
from portail.payments import offline
from portail.payments.emails import send_payment_failed
from portail.payments.errors import PaymentError
from portail.payments.models import Means, Payment, PaymentStatus, ReceiptCounter
from portail.payments.offline import parse_amount_cents, record_offline_payment, refund_payment, resolve_incident
from tests.factories import GuardianFactory, HouseholdFactory, StaffFactory
from tests.payment_factories import PaymentAttemptFactory, PaymentIncidentFactory, RegieFactory

pytestmark = pytest.mark.django_db
LAST_YEAR = timezone.localdate().year - 1


@pytest.fixture
def regie():
    return RegieFactory(name="Régie enfance", code="01A")


@pytest.fixture
def household():
    household = HouseholdFactory(reference="F000123")
    GuardianFactory(household=household, first_name="Camille", last_name="Martin", email="camille@example.org")
    return household


@pytest.fixture
def agent():
    return StaffFactory(role="Régisseur")


def record(regie, household, agent, **kwargs):
    values = {"means": Means.CASH, "amount_cents": 1250, **kwargs}
    return record_offline_payment(regie=regie, household=household, actor=agent, **values)


# --- amounts --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "cents"),
    [("27,40", 2740), ("27.40", 2740), ("27,4", 2740), ("27", 2700), ("1 234,56 €", 123456), ("0,01", 1)],
)
def test_french_amounts_parse_to_cents(typed, cents):
    assert parse_amount_cents(typed) == cents


@pytest.mark.parametrize("typed", ["", "abc", "27,401", "-5", "0", "0,00", "12,5,0", "1e3", "27,40 $"])
def test_bad_amounts_are_refused(typed):
    with pytest.raises(PaymentError) as refusal:
        parse_amount_cents(typed)
    assert refusal.value.code == "bad_amount"


# --- the rules of a desk payment ------------------------------------------------------------------


def test_cash_just_below_300_euros_is_accepted(regie, household, agent):
    payment = record(regie, household, agent, means=Means.CASH, amount_cents=parse_amount_cents("299,99"))
    assert payment.status == PaymentStatus.PAID
    assert payment.amount_cents == 29999
    assert payment.channel == Channel.STAFF
    assert payment.created_by == agent
    assert payment.paid_at is not None
    assert payment.receipt_number


def test_cash_of_300_euros_is_refused(regie, household, agent):
    with pytest.raises(PaymentError) as refusal:
        record(regie, household, agent, means=Means.CASH, amount_cents=parse_amount_cents("300,00"))
    assert refusal.value.message == "Un paiement en espèces ne peut pas atteindre 300 € (article 1680 du CGI)."
    assert refusal.value.code == "cash_ceiling"
    assert not Payment.objects.exists()


def test_300_euros_by_cheque_is_fine(regie, household, agent):
    payment = record(
        regie, household, agent, means=Means.CHEQUE, amount_cents=30000, reference="1234567", cheque_bank="LBP"
    )
    assert payment.amount_cents == 30000


def test_means_not_in_the_regie_act_is_refused(household, agent):
    regie = RegieFactory(accepted_means=[Means.CHEQUE])
    with pytest.raises(PaymentError) as refusal:
        record(regie, household, agent, means=Means.CASH)
    assert refusal.value.code == "means_refused"
    assert "n'accepte pas" in refusal.value.message


def test_online_card_is_never_typed_at_the_desk(household, agent):
    regie = RegieFactory(accepted_means=[Means.ONLINE, Means.CHEQUE], backend="dummy")
    with pytest.raises(PaymentError) as refusal:
        record(regie, household, agent, means=Means.ONLINE)
    assert refusal.value.code == "means_online"


def test_inactive_regie_is_refused(household, agent):
    with pytest.raises(PaymentError) as refusal:
        record(RegieFactory(is_active=False), household, agent)
    assert refusal.value.code == "regie_inactive"


@pytest.mark.parametrize("amount", [0, -100])
def test_amount_must_be_positive(regie, household, agent, amount):
    with pytest.raises(PaymentError) as refusal:
        record(regie, household, agent, amount_cents=amount)
    assert refusal.value.code == "bad_amount"


@pytest.mark.parametrize(("number", "bank"), [("", "La Banque Postale"), ("1234567", ""), ("  ", "  ")])
def test_cheque_needs_its_bank_and_number(regie, household, agent, number, bank):
    with pytest.raises(PaymentError) as refusal:
        record(regie, household, agent, means=Means.CHEQUE, reference=number, cheque_bank=bank)
    assert refusal.value.message == "Indiquez la banque et le numéro du chèque."


def test_cheque_with_bank_number_and_drawer(regie, household, agent):
    payment = record(
        regie, household, agent, means=Means.CHEQUE, reference=" 0001234 ", cheque_bank="CIC", drawer="M. Martin"
    )
    assert (payment.reference, payment.cheque_bank, payment.drawer) == ("0001234", "CIC", "M. Martin")
    assert payment.label == "Paiement par chèque"


def test_cesu_refused_when_the_regie_does_not_accept_it(household, agent):
    regie = RegieFactory(accepted_means=[Means.CHEQUE, Means.CASH])
    with pytest.raises(PaymentError) as refusal:
        record(regie, household, agent, means=Means.CESU, cesu_details="2 titres Edenred 2026 n° 11, 12 : 2 × 15 €")
    assert refusal.value.code == "means_refused"


def test_cesu_needs_the_titles_details(regie, household, agent):
    with pytest.raises(PaymentError) as refusal:
        record(regie, household, agent, means=Means.CESU, amount_cents=3000)
    assert refusal.value.code == "cesu_details"
    payment = record(
        regie, household, agent, means=Means.CESU, amount_cents=3000, cesu_details="2 titres Edenred 2026 : 2 × 15 €"
    )
    assert payment.cesu_details == "2 titres Edenred 2026 : 2 × 15 €"


def test_a_payment_date_in_the_future_is_refused(regie, household, agent):
    with pytest.raises(PaymentError) as refusal:
        record(regie, household, agent, paid_on=timezone.localdate() + dt.timedelta(days=2))
    assert refusal.value.code == "future_date"


# --- receipt numbers ------------------------------------------------------------------------------


def test_receipt_numbers_are_contiguous_per_regie_and_year(regie, household, agent):
    other = RegieFactory(code="02B")
    year = timezone.localdate().year
    first = [record(regie, household, agent).receipt_number for _ in range(3)]
    assert first == [f"R01A{year}00000{n}" for n in (1, 2, 3)]
    # Another régie has its own sequence.
    assert record(other, household, agent).receipt_number == f"R02B{year}000001"
    # A payment of last year (a cheque entered late) is numbered in last year's sequence.
    old = record(regie, household, agent, paid_on=dt.date(LAST_YEAR, 12, 31))
    assert old.receipt_number == f"R01A{LAST_YEAR}000001"
    assert old.paid_at.year == LAST_YEAR
    assert record(regie, household, agent).receipt_number == f"R01A{year}000004"
    assert record(regie, household, agent, paid_on=dt.date(LAST_YEAR, 6, 1)).receipt_number == (
        f"R01A{LAST_YEAR}000002"
    )


def test_a_failure_after_numbering_leaves_no_gap(regie, household, agent, monkeypatch):
    year = timezone.localdate().year
    record(regie, household, agent)

    def broken(**kwargs):
        raise RuntimeError("journal indisponible")

    monkeypatch.setattr(offline, "log_action", broken)
    with pytest.raises(RuntimeError):
        record(regie, household, agent)
    monkeypatch.undo()
    # Rolled back with the payment: the counter, and so the number, are given again.
    assert ReceiptCounter.objects.get(regie=regie, year=year).last_number == 1
    assert Payment.objects.count() == 1
    assert record(regie, household, agent).receipt_number == f"R01A{year}000002"


def test_a_second_submission_of_the_same_form_gives_no_second_receipt(regie, household, agent):
    first = record(regie, household, agent, idempotency_key="abc123")
    again = record(regie, household, agent, idempotency_key="abc123")
    assert again.pk == first.pk
    assert again.already_recorded
    assert Payment.objects.count() == 1
    assert record(regie, household, agent, idempotency_key="other").pk != first.pk


# --- audit and e-mail -----------------------------------------------------------------------------


def test_the_payment_is_audited(regie, household, agent):
    payment = record(regie, household, agent, means=Means.CHEQUE, reference="77", cheque_bank="CIC", amount_cents=2740)
    entry = LogEntry.objects.get(action="payment.recorded")
    assert entry.channel == Channel.STAFF
    assert entry.actor == agent
    assert entry.household == household
    assert entry.object_id == str(payment.pk)
    assert entry.after["amount_cents"] == 2740
    assert entry.after["receipt_number"] == payment.receipt_number
    assert "27,40 €" in entry.message


def test_the_receipt_is_mailed_after_the_commit(
    regie, household, agent, django_capture_on_commit_callbacks, mailoutbox
):
    with django_capture_on_commit_callbacks(execute=True):
        payment = record(regie, household, agent)
    (message,) = mailoutbox
    assert message.subject == f"Reçu de paiement n° {payment.receipt_number}"
    assert message.to == ["camille@example.org"]
    assert "12,50 €" in message.body
    ((name, content, mimetype),) = message.attachments
    assert name == f"recu-{payment.receipt_number}.pdf"
    assert mimetype == "application/pdf"
    assert content.startswith(b"%PDF")


def test_no_receipt_mail_when_asked(regie, household, agent, django_capture_on_commit_callbacks, mailoutbox):
    """The demo and imports record payments without mailing anyone."""
    with django_capture_on_commit_callbacks(execute=True):
        payment = record(regie, household, agent, notify=False)
    assert payment.receipt_number and mailoutbox == []


def test_a_refused_payment_mails_nothing(regie, household, agent, django_capture_on_commit_callbacks, mailoutbox):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(PaymentError):
        record(regie, household, agent, amount_cents=30000)
    assert mailoutbox == []


def test_failed_online_payment_mail(household, django_capture_on_commit_callbacks, mailoutbox):
    attempt = PaymentAttemptFactory(payment__household=household, payment__amount_cents=2000)
    attempt.payment.status = PaymentStatus.DENIED
    attempt.payment.save()
    with django_capture_on_commit_callbacks(execute=True):
        send_payment_failed(attempt.payment)
    (message,) = mailoutbox
    assert message.subject == "Votre paiement n'a pas abouti"
    assert "n'a pas abouti" in message.body
    assert "20,00 €" in message.body
    assert "réservations en attente de paiement ont été libérées" in message.body


# --- refund ---------------------------------------------------------------------------------------


def test_refund_needs_a_reason(regie, household, agent):
    payment = record(regie, household, agent)
    with pytest.raises(PaymentError) as refusal:
        refund_payment(payment=payment, actor=agent, reason="   ")
    assert refusal.value.code == "reason_required"
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID


def test_refund_is_recorded_and_audited(regie, household, agent):
    payment = record(regie, household, agent)
    refunded = refund_payment(payment=payment, actor=agent, reason="Chèque revenu impayé")
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.REFUNDED
    assert payment.refunded_by == agent
    assert payment.refunded_at is not None
    assert payment.refund_reason == "Chèque revenu impayé"
    assert payment.receipt_number == refunded.receipt_number  # the number is kept
    entry = LogEntry.objects.get(action="payment.refunded")
    assert entry.channel == Channel.STAFF
    assert entry.actor == agent
    assert entry.household == household
    assert entry.before["status"] == PaymentStatus.PAID
    assert entry.after["status"] == PaymentStatus.REFUNDED
    assert entry.after["refund_reason"] == "Chèque revenu impayé"
    assert "Chèque revenu impayé" in entry.message


def test_only_a_paid_payment_can_be_refunded(regie, household, agent):
    payment = record(regie, household, agent)
    refund_payment(payment=payment, actor=agent, reason="Erreur de saisie")
    with pytest.raises(PaymentError) as refusal:
        refund_payment(payment=payment, actor=agent, reason="Encore")
    assert refusal.value.code == "not_paid"
    pending = PaymentAttemptFactory().payment
    with pytest.raises(PaymentError):
        refund_payment(payment=pending, actor=agent, reason="Pas payé")
    assert LogEntry.objects.filter(action="payment.refunded").count() == 1


# --- incidents ------------------------------------------------------------------------------------


def test_resolving_an_incident_needs_a_text_and_is_audited(agent):
    incident = PaymentIncidentFactory()
    with pytest.raises(PaymentError) as refusal:
        resolve_incident(incident=incident, actor=agent, resolution="")
    assert refusal.value.code == "resolution_required"
    resolved = resolve_incident(incident=incident, actor=agent, resolution="Écart remboursé par mandat n° 42")
    assert resolved.resolved_at is not None
    assert resolved.resolved_by == agent
    entry = LogEntry.objects.get(action="payment_incident.resolved")
    assert entry.household == incident.household
    assert entry.after["resolution"] == "Écart remboursé par mandat n° 42"
    with pytest.raises(PaymentError) as again:
        resolve_incident(incident=incident, actor=agent, resolution="Deux fois")
    assert again.value.code == "already_resolved"
