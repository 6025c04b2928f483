"""Reading the household's account: payments, what they paid for, the credit left ("avoir")."""

from dataclasses import dataclass, field

from django.db.models import Prefetch, Q, Sum

from .models import Allocation, Payment, PaymentAttempt, PaymentStatus


@dataclass
class Account:
    paid_cents: int  # money received (payments PAID, refunds excluded)
    allocated_cents: int  # of which paid for bookings, enrolments, invoices
    due_cents: int = 0  # "restant dû": invoices not paid yet (billing fills it in)
    payments: list = field(default_factory=list)

    @property
    def credit_cents(self) -> int:
        """Prépaiement / avoir: received and not yet used."""
        return self.paid_cents - self.allocated_cents

    @property
    def balance_cents(self) -> int:
        """Solde: credit minus what is due (negative = the family owes money)."""
        return self.credit_cents - self.due_cents


def household_account(household, *, with_payments=True) -> Account:
    paid = Payment.objects.filter(household=household, status=PaymentStatus.PAID)
    paid_cents = paid.aggregate(total=Sum("amount_cents"))["total"] or 0
    allocated_cents = (
        Allocation.objects.filter(payment__household=household, payment__status=PaymentStatus.PAID).aggregate(
            total=Sum("amount_cents")
        )["total"]
        or 0
    )
    from portail.billing.selectors import household_due_cents  # invoices not paid yet ("restant dû")

    account = Account(paid_cents=paid_cents, allocated_cents=allocated_cents, due_cents=household_due_cents(household))
    if with_payments:
        account.payments = list(
            Payment.objects.filter(household=household)
            .filter(~Q(status=PaymentStatus.CREATED))
            .select_related("regie")
            .prefetch_related(Prefetch("allocations", queryset=Allocation.objects.order_by("pk")))
            .order_by("-created_at", "-pk")
        )
    return account


def household_payment(household, payment_id) -> Payment:
    """One of the household's own payments (another household's id: DoesNotExist → 404)."""
    return Payment.objects.select_related("regie", "household").get(household=household, pk=payment_id)


def household_attempt(household, uid) -> PaymentAttempt:
    return PaymentAttempt.objects.select_related("payment", "regie").get(household=household, uid=uid)


def household_attempt_by_reference(household, reference) -> PaymentAttempt:
    return PaymentAttempt.objects.get(household=household, reference=reference)
