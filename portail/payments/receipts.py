"""Receipt numbers: gapless per régie and year, given inside the transaction that records the money.

The counter row is locked (select_for_update), so two payments never get the same number, and a
rollback after numbering rolls the counter back too: no gap (a database sequence would leave one).
Numbers are alphanumeric so they can travel as bank references: prefix + régie code + year + 6
digits, e.g. R01A2026000123 for régie code 01A.
"""

from django.db import transaction
from django.utils import timezone

from .models import Payment, ReceiptCounter


def next_receipt_number(regie, year: int) -> str:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("next_receipt_number must run inside the transaction that records the payment")
    counter, _ = ReceiptCounter.objects.get_or_create(regie=regie, year=year)
    counter = ReceiptCounter.objects.select_for_update().get(pk=counter.pk)
    counter.last_number += 1
    counter.save(update_fields=["last_number"])
    return f"{regie.receipt_prefix}{regie.code}{year}{counter.last_number:06d}"


def give_receipt_number(payment: Payment) -> str:
    """Number a payment that has just been received (idempotent: a numbered payment keeps its number)."""
    if not payment.receipt_number:
        # The year in Paris: a payment at 00:30 on 1 January belongs to the new year.
        when = timezone.localtime(payment.paid_at or payment.created_at)
        payment.receipt_number = next_receipt_number(payment.regie, when.year)
    return payment.receipt_number
