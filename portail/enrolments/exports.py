"""Enrolment lists as CSV (Excel FR: UTF-8 with BOM, ";" separator) and XLSX (openpyxl).

Contact and enrolment data only: no health data ever goes into an export. Cells that a
spreadsheet would run as a formula ("=", "+", "-", "@") are prefixed with an apostrophe.
"""

import csv
import io
import re
from datetime import date

from django.db.models import Prefetch
from django.utils import timezone
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from portail.households.models import Guardian

HEADERS = [
    "Référence",
    "Enfant",
    "Date de naissance",
    "Classe",
    "Foyer",
    "Responsable payeur",
    "Téléphone",
    "Activité",
    "Période",
    "Groupe",
    "État",
    "Date de demande",
]
WIDTHS = [18, 28, 16, 18, 12, 28, 16, 32, 26, 22, 26, 16]
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PHONE = re.compile(r"^\+?[\d .]+$")


def with_payers(queryset):
    """Prefetch each household's payer (one query for the whole list)."""
    return queryset.prefetch_related(
        Prefetch("child__household__guardians", queryset=Guardian.objects.filter(is_payer=True), to_attr="payers")
    )


def safe_text(value: str) -> str:
    """Neutralise spreadsheet formulas (CSV/formula injection); phone numbers stay as typed."""
    if value and value.startswith(_FORMULA_START) and not _PHONE.match(value):
        return "'" + value
    return value


def rows(enrolments) -> list[list]:
    """One row per enrolment in HEADERS order; dates as date objects."""
    result = []
    for enrolment in enrolments:
        child = enrolment.child
        household = child.household
        payers = getattr(household, "payers", None)
        if payers is None:  # not prefetched: still correct, one query more
            payers = list(household.guardians.filter(is_payer=True))
        payer = payers[0] if payers else None
        result.append(
            [
                enrolment.reference or "",
                child.full_name,
                child.birth_date,
                child.get_school_level_display(),
                household.reference,
                payer.full_name if payer else "",
                (payer.mobile_phone or payer.home_phone) if payer else "",
                enrolment.activity.name,
                enrolment.period.name,
                enrolment.group.name,
                enrolment.get_status_display(),
                timezone.localtime(enrolment.created_at).date(),
            ]
        )
    return result


def _text(value) -> str:
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    return safe_text(str(value))


def to_csv(enrolments) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(HEADERS)
    for row in rows(enrolments):
        writer.writerow([_text(value) for value in row])
    # The BOM tells Excel the file is UTF-8 (accents would be garbled otherwise).
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def to_xlsx(enrolments, *, title: str = "Inscriptions") -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = title[:31]
    sheet.append(HEADERS)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows(enrolments):
        sheet.append([value if isinstance(value, date) else safe_text(str(value)) for value in row])
    for index, width in enumerate(WIDTHS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    for column in (3, 12):  # dates shown the French way
        for (cell,) in sheet.iter_rows(min_row=2, min_col=column, max_col=column):
            cell.number_format = "DD/MM/YYYY"
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = sheet.dimensions
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()


def filename(activity, extension: str, *, today: date | None = None) -> str:
    today = today or timezone.localdate()
    return f"inscriptions-{activity.slug}-{today:%Y-%m-%d}.{extension}"
