"""Staff tariff pages ("Tarifs"): the grids of each activity (the one in force marked), a grid's prices,
a new version copied from the current one, and the edit of a version not yet in force.

Brackets × units are a plain table of inputs (tranche-<i>-min, tranche-<i>-max, tranche-<i>-prix-<unit>),
euros typed the French way ("4,50", parsed with Decimal). Saving goes through billing.tariffs.save_grid
(validated, one transaction, audited "tariff.saved"). Gestionnaire and Administrateur only
(catalog.change_activity).
"""

from dataclasses import dataclass, field
from datetime import date, timedelta

from django import forms
from django.contrib import messages
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone

from portail.billing.models import SiblingOrder, TariffGrid
from portail.billing.pricing import Bracket, format_percent, parse_euros, parse_percent
from portail.billing.tariffs import TariffValidationError, load_grids, save_grid
from portail.catalog.forms import DATE_INPUT
from portail.catalog.models import Activity

from .decorators import staff_required

PERMISSION = "catalog.change_activity"
MAX_ROWS = 30


# --- Form ------------------------------------------------------------------------------------------------


def euros_input(cents: int | None) -> str:
    """450 -> "4,50" (the value of a price input)."""
    if cents is None:
        return ""
    return f"{cents // 100},{cents % 100:02d}"


def percent_input(value) -> str:
    """Decimal("12.50") -> "12,5" (the value of a percent input)."""
    return format_percent(value).removesuffix(" %")


class _FrenchNumberField(forms.CharField):
    """An optional number typed the French way ("4,50", "12,5"): `parse` reads it (its ValueError is the
    message shown), an empty input gives `empty`."""

    def __init__(self, *, parse, empty, **kwargs):
        kwargs.setdefault("required", False)
        self.parse, self.empty = parse, empty
        super().__init__(**kwargs)

    def widget_attrs(self, widget):
        attrs = super().widget_attrs(widget)
        attrs.update({"inputmode": "decimal", "autocomplete": "off"})
        return attrs

    def clean(self, value):
        value = super().clean(value)
        if value in self.empty_values:
            return self.empty
        try:
            return self.parse(value)
        except ValueError as error:
            raise forms.ValidationError(str(error)) from error


class EurosField(_FrenchNumberField):
    """Euros typed the French way ("4,50"), cleaned to integer cents with Decimal (never float); zero allowed."""

    def __init__(self, *, empty_value=0, **kwargs):
        kwargs.setdefault("max_length", 20)
        super().__init__(parse=parse_euros, empty=empty_value, **kwargs)


class PercentField(_FrenchNumberField):
    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 10)
        super().__init__(parse=parse_percent, empty=parse_percent("0"), **kwargs)


class PercentListField(forms.CharField):
    """ "0 ; 10 ; 20" -> (Decimal(0), Decimal(10), Decimal(20))."""

    def clean(self, value):
        value = super().clean(value)
        parts = [part.strip() for part in (value or "").split(";") if part.strip()]
        try:
            return tuple(parse_percent(part) for part in parts)
        except ValueError as error:
            raise forms.ValidationError(str(error)) from error


class GridForm(forms.Form):
    name = forms.CharField(label="Nom de la grille", max_length=150)
    valid_from = forms.DateField(label="Valable à partir du", widget=DATE_INPUT)
    valid_until = forms.DateField(
        label="Jusqu'au (inclus)", required=False, widget=DATE_INPUT, help_text="Vide : sans date de fin."
    )
    deliberation = forms.CharField(
        label="Délibération", max_length=200, required=False, help_text="Par exemple : délibération n° 2026-045."
    )
    non_resident_surcharge_percent = PercentField(
        label="Majoration hors commune (%)", help_text="Appliquée aux familles qui n'habitent pas la commune."
    )
    sibling_discount_percents = PercentListField(
        label="Réduction fratrie (%) par rang",
        required=False,
        max_length=60,
        help_text="Séparées par « ; » : 1er enfant ; 2e enfant ; 3e et suivants. Par exemple : 0 ; 10 ; 20.",
    )
    sibling_order = forms.ChoiceField(label="Ordre de la fratrie", choices=SiblingOrder.choices)
    late_booking_surcharge_cents = EurosField(
        label="Majoration réservation hors délai (€)", help_text="Ajoutée au prix, par exemple 2,00."
    )
    unexpected_presence_cents = EurosField(
        label="Présence non réservée (€)", help_text="Ajoutée au prix de l'unité quand l'enfant vient sans réservation."
    )
    billed_absence_percent = forms.IntegerField(
        label="Absence non excusée facturée (% du prix)", min_value=0, max_value=100, initial=100
    )
    flat_fee_cents = EurosField(
        label="Forfait par période (€)",
        empty_value=None,
        help_text="Activités payées par période (trimestre) : un forfait par inscription. Vide : pas de forfait.",
    )

    @classmethod
    def initial_from(cls, grid: TariffGrid) -> dict:
        return {
            "name": grid.name,
            "valid_from": grid.valid_from,
            "valid_until": grid.valid_until,
            "deliberation": grid.deliberation,
            "non_resident_surcharge_percent": percent_input(grid.non_resident_surcharge_percent),
            "sibling_discount_percents": " ; ".join(percent_input(p) for p in grid.sibling_discount_percents),
            "sibling_order": grid.sibling_order,
            "late_booking_surcharge_cents": euros_input(grid.late_booking_surcharge_cents),
            "unexpected_presence_cents": euros_input(grid.unexpected_presence_cents),
            "billed_absence_percent": grid.billed_absence_percent,
            "flat_fee_cents": euros_input(grid.flat_fee_cents),
        }


# --- The brackets × units table ---------------------------------------------------------------------------


@dataclass
class Cell:
    unit: object
    name: str
    value: str


@dataclass
class Row:
    index: int
    min: str
    max: str
    cells: list[Cell]
    errors: list[str] = field(default_factory=list)

    @property
    def number(self) -> int:
        return self.index + 1

    @property
    def is_blank(self) -> bool:
        return not self.min and not self.max and not any(cell.value for cell in self.cells)


def _row(index: int, units, *, low="", high="", prices=None) -> Row:
    prices = prices or {}
    cells = [Cell(unit, f"tranche-{index}-prix-{unit.pk}", prices.get(unit.pk, "")) for unit in units]
    return Row(index=index, min=low, max=high, cells=cells)


def _rows_from_grid(grid, units) -> list[Row]:
    """Rows of a stored grid (a pure Grid from load_grids), then one blank row to add a bracket."""
    rows = [
        _row(
            i,
            units,
            low=str(b.min_quotient),
            high="" if b.max_quotient is None else str(b.max_quotient),
            prices={unit_id: euros_input(cents) for unit_id, cents in b.prices.items()},
        )
        for i, b in enumerate(grid.brackets)
    ]
    return rows + [_row(len(rows), units)]


def _blank_rows(units) -> list[Row]:
    return [_row(0, units, low="0")] + [_row(i, units) for i in (1, 2, 3)]


def _row_count(data) -> int:
    try:
        return max(1, min(int(data.get("tranches", "1")), MAX_ROWS))
    except ValueError:
        return 1


def _int(text: str, *, what: str, number: int, errors: list[str]) -> int | None:
    try:
        value = int(text.replace(" ", ""))
    except ValueError:
        errors.append(f"Tranche {number} : « {text} » n'est pas un {what} (nombre entier) valable.")
        return None
    if value < 0:
        errors.append(f"Tranche {number} : un quotient familial ne peut pas être négatif.")
        return None
    return value


def parse_rows(data, units) -> tuple[list[Row], list[Bracket]]:
    """The submitted rows (values as typed, for redisplay) and the brackets read from them.

    A blank row is ignored (emptying a row deletes the bracket); a price left empty means no price
    for that unit (the grid is refused when a unit is priced in some brackets only)."""
    rows, brackets = [], []
    for index in range(_row_count(data)):
        low = (data.get(f"tranche-{index}-min") or "").strip()
        high = (data.get(f"tranche-{index}-max") or "").strip()
        row = _row(index, units, low=low, high=high)
        for cell in row.cells:
            cell.value = (data.get(cell.name) or "").strip()
        rows.append(row)
        if row.is_blank:
            continue
        if not low:
            row.errors.append(f"Tranche {row.number} : indiquez le quotient familial de début.")
        min_quotient = _int(low, what="quotient", number=row.number, errors=row.errors) if low else None
        max_quotient = _int(high, what="quotient", number=row.number, errors=row.errors) if high else None
        prices = {}
        for cell in row.cells:
            if not cell.value:
                continue
            try:
                prices[cell.unit.pk] = parse_euros(cell.value)
            except ValueError as error:
                row.errors.append(f"Tranche {row.number}, {cell.unit.name} : {error}")
        if not row.errors:
            brackets.append(Bracket(min_quotient, max_quotient, prices))
    return rows, brackets


# --- Pages -------------------------------------------------------------------------------------------------


def _status(grid, today: date) -> tuple[str, str]:
    if grid.valid_from > today:
        return "future", "À venir"
    if grid.valid_until is not None and grid.valid_until < today:
        return "past", "Terminée"
    return "current", "En vigueur"


@staff_required(PERMISSION)
def tariff_list(request):
    today = timezone.localdate()
    activities = Activity.objects.select_related("facility").prefetch_related(
        Prefetch("tariff_grids", queryset=TariffGrid.objects.order_by("-valid_from"))
    )
    sections = []
    for activity in activities:
        grids = [{"grid": g, "status": _status(g, today)} for g in activity.tariff_grids.all()]
        sections.append(
            {"activity": activity, "grids": grids, "has_current": any(g["status"][0] == "current" for g in grids)}
        )
    return render(request, "backoffice/tariffs/list.html", {"sections": sections, "today": today})


def _grid_with_prices(grid: TariffGrid):
    """The pure Grid (brackets and prices) of a stored grid."""
    return next(g for g in load_grids([grid.activity_id])[grid.activity_id] if g.id == grid.pk)


@staff_required(PERMISSION)
def tariff_detail(request, pk):
    grid = get_object_or_404(TariffGrid.objects.select_related("activity"), pk=pk)
    units = list(grid.activity.units.all())
    pure = _grid_with_prices(grid)
    table = [
        {"bracket": b, "prices": [b.prices.get(unit.pk) for unit in units]}
        for b in sorted(pure.brackets, key=lambda b: b.min_quotient)
    ]
    return render(
        request,
        "backoffice/tariffs/detail.html",
        {
            "grid": grid,
            "pure": pure,
            "units": units,
            "table": table,
            "status": _status(grid, timezone.localdate()),
            "sibling_percents": [format_percent(p) for p in pure.sibling_discount_percents],
            "non_resident": format_percent(pure.non_resident_surcharge_percent),
        },
    )


def _form_page(request, *, activity, units, form, rows, grid=None, errors=(), status=200):
    title = f"Modifier « {grid.name} »" if grid else f"Nouvelle grille tarifaire – {activity.name}"
    return render(
        request,
        "backoffice/tariffs/form.html",
        {
            "activity": activity,
            "grid": grid,
            "units": units,
            "form": form,
            "rows": rows,
            "row_count": len(rows),
            "errors": list(errors),
            "title": title,
        },
        status=status,
    )


def _handle_post(request, *, activity, units, grid=None):
    form = GridForm(request.POST)
    rows, brackets = parse_rows(request.POST, units)
    if "ajouter" in request.POST:
        # One more blank row, nothing saved and no error shown yet.
        for row in rows:
            row.errors = []
        rows.append(_row(len(rows), units))
        form = GridForm(initial=request.POST.dict())
        return _form_page(request, activity=activity, units=units, form=form, rows=rows, grid=grid)
    row_errors = [error for row in rows for error in row.errors]
    if not form.is_valid() or row_errors:
        return _form_page(
            request, activity=activity, units=units, form=form, rows=rows, grid=grid, errors=row_errors, status=400
        )
    try:
        result = save_grid(activity=activity, actor=request.user, brackets=brackets, grid=grid, **form.cleaned_data)
    except TariffValidationError as refusal:
        return _form_page(
            request, activity=activity, units=units, form=form, rows=rows, grid=grid, errors=refusal.errors, status=400
        )
    messages.success(request, f"La grille « {result.grid.name} » a été enregistrée.")
    for notice in result.notices:
        messages.info(request, notice)
    for warning in result.warnings:
        messages.warning(request, warning)
    return redirect(reverse("backoffice:tariff_detail", args=[result.grid.pk]))


@staff_required(PERMISSION)
def tariff_create(request, activity_pk):
    """A new grid for the activity, copied from the one in force (else the latest): a new version."""
    activity = get_object_or_404(Activity, pk=activity_pk)
    units = list(activity.units.all())
    if request.method == "POST":
        return _handle_post(request, activity=activity, units=units)
    today = timezone.localdate()
    versions = load_grids([activity.pk])[activity.pk]
    source = next((g for g in versions if g.is_valid_on(today)), None) or (versions[0] if versions else None)
    if source is None:
        form = GridForm(initial={"name": f"Tarifs {activity.name}", "billed_absence_percent": 100})
        return _form_page(request, activity=activity, units=units, form=form, rows=_blank_rows(units))
    stored = TariffGrid.objects.get(pk=source.id)
    initial = GridForm.initial_from(stored)
    # The new version starts after today and after the source's end (a new deliberation); no end yet.
    starts = today + timedelta(days=1)
    if stored.valid_until is not None and stored.valid_until >= starts:
        starts = stored.valid_until + timedelta(days=1)
    initial.update({"valid_from": starts, "valid_until": None})
    return _form_page(
        request, activity=activity, units=units, form=GridForm(initial=initial), rows=_rows_from_grid(source, units)
    )


@staff_required(PERMISSION)
def tariff_edit(request, pk):
    grid = get_object_or_404(TariffGrid.objects.select_related("activity"), pk=pk)
    if grid.valid_from <= timezone.localdate():
        messages.error(
            request,
            f"La grille « {grid.name} » a pris effet le {grid.valid_from:%d/%m/%Y} : elle ne peut plus être "
            "modifiée. Créez une nouvelle version.",
        )
        return redirect(reverse("backoffice:tariff_detail", args=[grid.pk]))
    activity = grid.activity
    units = list(activity.units.all())
    if request.method == "POST":
        return _handle_post(request, activity=activity, units=units, grid=grid)
    form = GridForm(initial=GridForm.initial_from(grid))
    return _form_page(
        request,
        activity=activity,
        units=units,
        form=form,
        rows=_rows_from_grid(_grid_with_prices(grid), units),
        grid=grid,
    )
