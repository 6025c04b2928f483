"""Family enrolment forms: the guided choice (GET, one step at a time, works without JavaScript),
the request itself (children, semaine type, memo), duplication and cancellation.

No rule lives here: who may enrol is `check_eligibility`, places are the selectors', and the
services decide the outcome. The forms only narrow the choices and parse the input.
"""

from dataclasses import dataclass, field
from urllib.parse import urlencode

from django import forms
from django.utils import timezone
from django.utils.formats import date_format

from portail.catalog.selectors import published_activities
from portail.catalog.wording import describe_group_band, enrolment_status

from .models import Weekday
from .selectors import remaining_places_by_group, unit_weekdays

EMPTY_LABEL = "Choisissez…"
# Without any session yet, a semaine type may use the school week.
SCHOOL_WEEK = (0, 1, 2, 3, 4)


def places_label(left: int | None) -> str:
    """ "12 places restantes", "1 place restante", "complet – liste d'attente", "places disponibles"."""
    if left is None:
        return "places disponibles"
    if left == 0:
        return "complet – liste d'attente"
    return f"{left} place{'s' if left > 1 else ''} restante{'s' if left > 1 else ''}"


def period_label(period) -> str:
    dates = f"du {date_format(period.start_date, 'd/m/Y')} au {date_format(period.end_date, 'd/m/Y')}"
    return f"{period.name} ({dates}) – inscriptions {enrolment_status(period)}"


def _ordered_unique(objects, key):
    seen = {}
    for obj in objects:
        seen.setdefault(obj.pk, obj)
    return sorted(seen.values(), key=key)


def _by_position(obj):
    return (obj.position, obj.name)


class GuidedChoiceForm(forms.Form):
    """Équipement → type d'activité → activité → période → groupe, read from the query string.

    Never bound: a choice that no longer fits the level above it (the family changed the
    facility, say) is silently dropped, and the next step is shown. A level with a single
    option is chosen for the family. A level missing from the query string is deduced from
    the one below it (the catalog links give only the activity and the period).
    """

    structure = forms.ChoiceField(label="Équipement", required=False)
    type = forms.ChoiceField(label="Type d'activité", required=False)
    activite = forms.ChoiceField(label="Activité", required=False)
    periode = forms.ChoiceField(label="Période", required=False)
    groupe = forms.ChoiceField(label="Groupe", required=False)

    def __init__(self, params, *, today=None):
        super().__init__(auto_id="choix_%s")
        self.facility = self.activity_type = self.activity = self.period = self.group = None
        self.places: dict[int, int | None] = {}
        self.group_rows: list[tuple] = []
        activities = list(published_activities(today=today))

        def raw(name):
            return (params.get(name) or "").strip()

        wanted_activity = next((a for a in activities if a.slug == raw("activite")), None)

        facilities = _ordered_unique((a.facility for a in activities), _by_position)
        self.facility = self._pick(
            "structure", facilities, raw("structure"), "slug", params, wanted_activity and wanted_activity.facility
        )
        if self.facility is None:
            return self._stop_after("structure")

        in_facility = [a for a in activities if a.facility_id == self.facility.pk]
        types = _ordered_unique((a.activity_type for a in in_facility), _by_position)
        self.activity_type = self._pick(
            "type", types, raw("type"), "slug", params, wanted_activity and wanted_activity.activity_type
        )
        if self.activity_type is None:
            return self._stop_after("type")

        candidates = sorted((a for a in in_facility if a.activity_type_id == self.activity_type.pk), key=_by_position)
        self.activity = self._pick("activite", candidates, raw("activite"), "slug", params)
        if self.activity is None:
            return self._stop_after("activite")

        periods = list(self.activity.periods.all())
        self.period = self._pick("periode", periods, raw("periode"), "pk", params, labels=period_label)
        if self.period is None:
            return self._stop_after("periode")

        self.places = remaining_places_by_group(self.period)
        groups = list(self.activity.groups.all())
        self.group = self._pick("groupe", groups, raw("groupe"), "pk", params, labels=self._group_label)
        self.group_rows = [
            (group, describe_group_band(group), places_label(self.places.get(group.pk))) for group in groups
        ]
        return None

    def _group_label(self, group) -> str:
        return f"{group.name} – {describe_group_band(group)} – {places_label(self.places.get(group.pk))}"

    def _pick(self, name, options, value, attr, params, deduced=None, labels=str):
        """Set the field's choices and return the chosen option (or None)."""
        field = self.fields[name]
        field.choices = [("", EMPTY_LABEL)] + [(str(getattr(o, attr)), labels(o)) for o in options]
        chosen = next((o for o in options if str(getattr(o, attr)) == value), None)
        if chosen is None and deduced is not None and name not in params:
            chosen = next((o for o in options if o.pk == deduced.pk), None)
        if chosen is None and len(options) == 1:
            chosen = options[0]
        if chosen is not None:
            field.initial = str(getattr(chosen, attr))
        return chosen

    def _stop_after(self, name):
        """Hide the steps after the one the family must answer now."""
        names = list(self.fields)
        for later in names[names.index(name) + 1 :]:
            del self.fields[later]

    @property
    def complete(self) -> bool:
        return self.group is not None

    def query(self, **extra) -> str:
        """The resolved choice as a query string (the POST action keeps the steps)."""
        values = {
            "structure": self.facility and self.facility.slug,
            "type": self.activity_type and self.activity_type.slug,
            "activite": self.activity and self.activity.slug,
            "periode": self.period and self.period.pk,
            "groupe": self.group and self.group.pk,
            **extra,
        }
        return urlencode({k: v for k, v in values.items() if v})


@dataclass
class PatternRow:
    weekday: int
    label: str
    cells: list = field(default_factory=list)  # (unit, value or "") per unit column


class EnrolmentRequestForm(forms.Form):
    """The request: which children, an optional semaine type, a memo to the service."""

    enfants = forms.ModelMultipleChoiceField(
        label="Enfants à inscrire",
        queryset=None,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choisissez au moins un enfant."},
    )
    semaine = forms.MultipleChoiceField(label="Semaine type", required=False, widget=forms.CheckboxSelectMultiple)
    memo = forms.CharField(
        label="Mémo pour le service",
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Une précision à transmettre au service (facultatif).",
    )

    def __init__(self, data=None, *, household, activity, period, **kwargs):
        super().__init__(data, **kwargs)
        self.children = list(household.children.filter(is_active=True).order_by("birth_date", "first_name"))
        # Rendered by hand from self.children (with each child's eligibility); validated on the queryset.
        self.fields["enfants"].queryset = household.children.filter(is_active=True)
        units = list(activity.units.all())
        days_by_unit = unit_weekdays(activity=activity, period=period)
        if not days_by_unit:
            days_by_unit = {unit.pk: set(SCHOOL_WEEK) for unit in units}
        self.pattern_units = [unit for unit in units if unit.pk in days_by_unit]
        weekdays = sorted(set().union(*days_by_unit.values())) if days_by_unit else []
        self.pattern_rows = []
        choices = []
        for day in weekdays:
            row = PatternRow(day, Weekday(day).label)
            for unit in self.pattern_units:
                value = f"{day}-{unit.pk}" if day in days_by_unit[unit.pk] else ""
                if value:
                    choices.append((value, f"{Weekday(day).label} – {unit.name}"))
                row.cells.append((unit, value))
            self.pattern_rows.append(row)
        self.fields["semaine"].choices = choices

    def clean_semaine(self) -> list[tuple[int, int]]:
        return [tuple(int(part) for part in value.split("-")) for value in self.cleaned_data["semaine"]]

    def selected(self, name: str) -> set[str]:
        """Values currently ticked (posted data, else initial), for the hand-rendered checkboxes."""
        if self.is_bound:
            return set(self.data.getlist(name))
        return {str(v) for v in self.initial.get(name, [])}


class DuplicateForm(forms.Form):
    """ "Dupliquer l'inscription": another child and/or another period of the same activity."""

    enfant = forms.ModelChoiceField(label="Enfant", queryset=None, empty_label=None)
    periode = forms.ModelChoiceField(label="Période", queryset=None, empty_label=None)
    groupe = forms.ModelChoiceField(
        label="Groupe",
        queryset=None,
        empty_label=None,
        help_text="Un autre enfant peut avoir besoin d'un autre groupe (âge, classe).",
    )

    def __init__(self, data=None, *, enrolment, household, today=None, **kwargs):
        today = today or timezone.localdate()
        initial = {"enfant": enrolment.child_id, "periode": enrolment.period_id, "groupe": enrolment.group_id}
        super().__init__(data, initial=initial, **kwargs)
        self.fields["enfant"].queryset = household.children.filter(is_active=True).order_by("birth_date", "first_name")
        self.fields["enfant"].label_from_instance = lambda child: child.first_name
        self.fields["periode"].queryset = enrolment.activity.periods.filter(end_date__gte=today)
        self.fields["periode"].label_from_instance = period_label
        self.fields["groupe"].queryset = enrolment.activity.groups.all()
        self.fields["groupe"].label_from_instance = lambda g: f"{g.name} – {describe_group_band(g)}"


class CancelForm(forms.Form):
    motif = forms.CharField(
        label="Motif (facultatif)",
        required=False,
        max_length=200,
        help_text="Il sera transmis au service.",
    )
