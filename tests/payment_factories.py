"""factory_boy factories for the payments app (régies, payments, attempts, notifications, incidents)
and the staff who handle money."""

import datetime as dt

import factory
from django.contrib.auth.models import Permission
from django.utils import timezone

from portail.accounts import roles
from portail.payments import models as pay
from tests.factories import HouseholdFactory, StaffFactory, TownFactory

# What each role may do with money (the matrix portail/accounts/roles.py must carry).
PAYMENTS_READ = [
    "payments.view_payment",
    "payments.view_regie",
    "payments.view_paymentincident",
    "payments.view_paymentattempt",
    "payments.view_banknotification",
]
PAYMENTS_WRITE = [
    "payments.add_payment",
    "payments.change_payment",
    "payments.change_regie",
    "payments.change_paymentincident",
]
PAYMENT_PERMISSIONS = {
    roles.CASHIER: PAYMENTS_READ + PAYMENTS_WRITE,
    roles.ADMINISTRATOR: PAYMENTS_READ + PAYMENTS_WRITE,
    roles.MANAGER: PAYMENTS_READ,
    roles.AGENT: [],
}


def payment_staff(role=roles.CASHIER):
    """An agent in `role`, sure to hold that role's payment permissions even before roles.py grants
    them (test_staff_views checks the matrix itself)."""
    user = StaffFactory(role=role)
    wanted = PAYMENT_PERMISSIONS.get(role, [])
    missing = [label for label in wanted if not user.has_perm(label)]
    if missing:
        codenames = [label.split(".", 1)[1] for label in missing]
        user.user_permissions.add(
            *Permission.objects.filter(content_type__app_label="payments", codename__in=codenames)
        )
        user = type(user).objects.get(pk=user.pk)  # drop the permission cache
    return user


class RegieFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = pay.Regie

    town = factory.SubFactory(TownFactory)
    name = factory.Sequence(lambda n: f"Régie enfance {n}")
    code = factory.Sequence(lambda n: f"R{n:02d}")
    accepted_means = factory.LazyFunction(
        lambda: [pay.Means.CHEQUE, pay.Means.CASH, pay.Means.CESU, pay.Means.TRANSFER, pay.Means.CARD_DESK]
    )
    backend = ""
    backend_options = factory.LazyFunction(dict)
    test_mode = True
    receipt_prefix = "R"
    contact = "Mme Dupont, régisseuse – 01 23 45 67 80"


class PaymentFactory(factory.django.DjangoModelFactory):
    """A payment received at the desk (numbered unless receipt_number="" is given)."""

    class Meta:
        model = pay.Payment

    regie = factory.SubFactory(RegieFactory)
    household = factory.SubFactory(HouseholdFactory)
    means = pay.Means.CHEQUE
    amount_cents = 1250
    status = pay.PaymentStatus.PAID
    label = "Paiement par chèque"
    channel = "staff"
    paid_at = factory.LazyFunction(timezone.now)
    receipt_number = factory.Sequence(lambda n: f"RF{n:06d}")
    reference = factory.Sequence(lambda n: f"{1234560 + n}")
    cheque_bank = "Banque Postale"


class AllocationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = pay.Allocation

    payment = factory.SubFactory(PaymentFactory)
    kind = pay.AllocationKind.BOOKING
    amount_cents = 1000
    label = "Léa – mercredi 9 décembre 2026 (Mercredis – Journée)"


class PaymentAttemptFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = pay.PaymentAttempt

    payment = factory.SubFactory(
        PaymentFactory, means=pay.Means.ONLINE, status=pay.PaymentStatus.PENDING, receipt_number="", paid_at=None
    )
    regie = factory.SelfAttribute("payment.regie")
    household = factory.SelfAttribute("payment.household")
    purpose = pay.AttemptPurpose.BASKET
    backend = pay.Backend.DUMMY
    reference = factory.Sequence(lambda n: f"PTEST{n:08d}")
    external_id = factory.Sequence(lambda n: f"ext{n:08d}")
    amount_cents = factory.SelfAttribute("payment.amount_cents")
    status = pay.PaymentStatus.PENDING
    lock_until = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(minutes=30))
    hold_until = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(minutes=15))


class BankNotificationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = pay.BankNotification

    attempt = factory.SubFactory(PaymentAttemptFactory)
    regie = factory.SelfAttribute("attempt.regie")
    backend = factory.SelfAttribute("attempt.backend")
    method = "POST"
    query_string = ""
    body = factory.LazyAttribute(lambda o: f"transaction_id={o.attempt.external_id}&ok=1&signed=1")
    remote_addr = "127.0.0.1"
    signed = True
    result = "PAID"
    outcome = pay.NotificationOutcome.APPLIED


class PaymentIncidentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = pay.PaymentIncident

    kind = pay.IncidentKind.AMOUNT_MISMATCH
    payment = factory.SubFactory(PaymentFactory)
    regie = factory.SelfAttribute("payment.regie")
    household = factory.SelfAttribute("payment.household")
    details = "La banque annonce 12,00 € pour une demande de 12,50 €."
