"""Document numbers: gapless per régie, year and series, given inside the transaction that issues the document.

The DocumentCounter row of (régie, year, series) is locked (select_for_update): two issuers never get
the same number, and a rollback after numbering rolls the counter back too, so there is no gap (a
database sequence or an auto-increment id would leave one: they are never used for numbers).

Numbers are alphanumeric, 6–30 characters, so an invoice number can travel as the PayFiP debt
reference (refdet) and the Systempay order id: prefix + régie code + year + 6 digits, e.g.
FENF2026000123 (invoice), AENF2026000007 (credit note). The year is the year of issue (the exercice).
"""

import re

from django.db import IntegrityError, transaction

from .models import DocumentCounter, SeriesKind

PREFIXES = {
    SeriesKind.INVOICE: "F",
    SeriesKind.CREDIT_NOTE: "A",
    SeriesKind.TAX_CERTIFICATE: "C",
}
NUMBER_PATTERN = re.compile(r"^[A-Za-z0-9]{6,30}$")


def format_number(regie, year: int, series: str, n: int) -> str:
    return f"{PREFIXES[series]}{regie.code}{year}{n:06d}"


def _increment(regie, year: int, series: str, count: int = 1) -> int | None:
    """UPDATE … SET last_number = last_number + count … RETURNING: one statement that takes the row lock
    (a concurrent issuer waits, then sees the committed value). None when the row does not exist yet."""
    connection = transaction.get_connection()
    quote = connection.ops.quote_name
    table, last, regie_id, year_, series_ = (
        quote(name) for name in (DocumentCounter._meta.db_table, "last_number", "regie_id", "year", "series")
    )
    sql = (
        f"UPDATE {table} SET {last} = {last} + %s "  # noqa: S608 - names from the model, values bound
        f"WHERE {regie_id} = %s AND {year_} = %s AND {series_} = %s RETURNING {last}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [count, regie.pk, year, series])
        row = cursor.fetchone()
    return row[0] if row else None


def _locked_counter(regie, year: int, series: str) -> DocumentCounter:
    counter = DocumentCounter.objects.select_for_update().filter(regie=regie, year=year, series=series).first()
    if counter is not None:
        return counter
    _create_counter(regie, year, series)
    return DocumentCounter.objects.select_for_update().get(regie=regie, year=year, series=series)


def _create_counter(regie, year: int, series: str) -> None:
    """The first number of the year: create the row (a concurrent creator makes ours fail on the unique
    constraint, inside a savepoint; the row then exists either way)."""
    try:
        with transaction.atomic():
            DocumentCounter.objects.create(regie=regie, year=year, series=series)
    except IntegrityError:
        pass


def next_number(regie, year: int, series: str) -> str:
    """The next number of the series; must run inside the transaction that creates the document."""
    return next_numbers(regie, year, series, 1)[0]


def next_numbers(regie, year: int, series: str, count: int) -> list[str]:
    """The next `count` numbers of the series, taken at once (one statement, one row lock held until the
    transaction ends); must run inside the transaction that creates the documents, which must use them
    all: a rollback gives the whole block back, so there is still no gap."""
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        raise RuntimeError("next_number must run inside the transaction that issues the document")
    if series not in PREFIXES:
        raise ValueError(f"unknown series {series!r}")
    if count < 1:
        raise ValueError("count must be at least 1")
    if connection.features.can_return_columns_from_insert:  # PostgreSQL, SQLite ≥ 3.35: UPDATE … RETURNING
        last = _increment(regie, year, series, count)
        if last is None:
            _create_counter(regie, year, series)
            last = _increment(regie, year, series, count)
    else:
        counter = _locked_counter(regie, year, series)
        counter.last_number += count
        counter.save(update_fields=["last_number"])
        last = counter.last_number
    numbers = [format_number(regie, year, series, n) for n in range(last - count + 1, last + 1)]
    for number in numbers:
        if not NUMBER_PATTERN.match(number):  # pragma: no cover - the régie code is validated alphanumeric
            raise ValueError(f"number {number!r} is not 6–30 alphanumerics")
    return numbers
