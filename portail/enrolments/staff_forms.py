"""Staff enrolment forms: queue and list filters (GET), decisions, group moves, the waiting list.

No rule lives here: the forms parse the input, the services in services.py decide.
"""

from django import forms

from portail.catalog.models import Activity, Facility, Group, Period

from .models import LIVE_STATUSES, EnrolmentStatus

ALL = "toutes"
LIVE = "en_cours"
STATE_CHOICES = [(LIVE, "En cours (hors refusées et annulées)"), (ALL, "Toutes")] + list(EnrolmentStatus.choices)


class PeriodChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.activity.name} – {obj.name}"


class GroupChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.activity.name} – {obj.name}"


def _raw_id(data, name):
    value = (data or {}).get(name, "")
    return int(value) if str(value).isdigit() else None


class _CatalogFilterMixin:
    """Narrow the period and group choices to the chosen activity (or the group's activity), so a
    period of another activity is an error rather than an empty list."""

    def _narrow(self, data):
        periods = Period.objects.select_related("activity").order_by("activity__name", "start_date", "name")
        groups = Group.objects.select_related("activity").order_by("activity__name", "position", "name")
        activity_id = _raw_id(data, "activite")
        if activity_id is None and "groupe" in self.fields and "activite" not in self.fields:
            group_id = _raw_id(data, "groupe")
            activity_id = Group.objects.filter(pk=group_id).values_list("activity_id", flat=True).first()
        if activity_id is not None:
            periods = periods.filter(activity_id=activity_id)
            groups = groups.filter(activity_id=activity_id)
        if "periode" in self.fields:
            self.fields["periode"].queryset = periods
        if "groupe" in self.fields:
            self.fields["groupe"].queryset = groups


class QueueFilterForm(_CatalogFilterMixin, forms.Form):
    """Filters of the queue of pending requests (GET: works without JavaScript)."""

    structure = forms.ModelChoiceField(
        label="Équipement", queryset=Facility.objects.order_by("position", "name"), required=False, empty_label="Tous"
    )
    activite = forms.ModelChoiceField(
        label="Activité", queryset=Activity.objects.order_by("name"), required=False, empty_label="Toutes"
    )
    periode = PeriodChoiceField(label="Période", queryset=Period.objects.none(), required=False, empty_label="Toutes")
    groupe = GroupChoiceField(label="Groupe", queryset=Group.objects.none(), required=False, empty_label="Tous")

    def __init__(self, data=None, **kwargs):
        super().__init__(data, **kwargs)
        self._narrow(data)

    def filters(self) -> dict:
        """The valid filters only: a wrong one is reported by the form and ignored."""
        if self.is_bound:
            self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return {
            "facility": data.get("structure"),
            "activity": data.get("activite"),
            "period": data.get("periode"),
            "group": data.get("groupe"),
        }


class ListFilterForm(_CatalogFilterMixin, forms.Form):
    """The enrolment list of an activity (and its export): activity required, period and group optional."""

    activite = forms.ModelChoiceField(
        label="Activité",
        queryset=Activity.objects.select_related("facility").order_by("facility__name", "name"),
        empty_label="Choisissez…",
        error_messages={"required": "Choisissez une activité."},
    )
    periode = PeriodChoiceField(label="Période", queryset=Period.objects.none(), required=False, empty_label="Toutes")
    groupe = GroupChoiceField(label="Groupe", queryset=Group.objects.none(), required=False, empty_label="Tous")
    etat = forms.ChoiceField(label="État", choices=STATE_CHOICES, required=False)

    def __init__(self, data=None, **kwargs):
        super().__init__(data, **kwargs)
        self._narrow(data)

    def statuses(self):
        state = self.cleaned_data.get("etat") or LIVE
        if state == ALL:
            return None
        if state == LIVE:
            return list(LIVE_STATUSES)
        return [state]


class WaitingListFilterForm(_CatalogFilterMixin, forms.Form):
    groupe = GroupChoiceField(
        label="Groupe",
        queryset=Group.objects.none(),
        empty_label="Choisissez…",
        error_messages={"required": "Choisissez un groupe."},
    )
    periode = PeriodChoiceField(
        label="Période",
        queryset=Period.objects.none(),
        empty_label="Choisissez…",
        error_messages={"required": "Choisissez une période."},
    )

    def __init__(self, data=None, **kwargs):
        super().__init__(data, **kwargs)
        self._narrow(data)


class RefuseForm(forms.Form):
    reason = forms.CharField(
        label="Motif du refus (envoyé à la famille)",
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": "Indiquez le motif du refus : il sera envoyé à la famille."},
    )


class CancelForm(forms.Form):
    reason = forms.CharField(
        label="Motif de l'annulation (envoyé à la famille)",
        max_length=200,
        error_messages={"required": "Indiquez le motif de l'annulation : il sera envoyé à la famille."},
    )


class MoveGroupForm(forms.Form):
    """ "Affecter les groupes": another group of the enrolment's activity."""

    groupe = forms.ModelChoiceField(
        label="Nouveau groupe",
        queryset=Group.objects.none(),
        empty_label="Choisissez…",
        error_messages={"required": "Choisissez le nouveau groupe.", "invalid_choice": "Choisissez un autre groupe."},
    )

    def __init__(self, data=None, *, enrolment, places=None, **kwargs):
        super().__init__(data, **kwargs)
        places = places or {}
        field = self.fields["groupe"]
        field.queryset = Group.objects.filter(activity_id=enrolment.activity_id).exclude(pk=enrolment.group_id)

        def label(group):
            left = places.get(group.pk)
            if left is None:
                return f"{group.name} (sans limite)"
            return f"{group.name} ({left} place{'s' if left > 1 else ''} restante{'s' if left > 1 else ''})"

        field.label_from_instance = label


class CapacityForm(forms.Form):
    capacity = forms.IntegerField(
        label="Nouveau nombre de places du groupe",
        min_value=0,
        error_messages={"required": "Indiquez le nombre de places.", "min_value": "Indiquez un nombre positif."},
    )


class BulkDecisionForm(forms.Form):
    """Checkboxes of the queue + "Valider la sélection" / "Refuser la sélection" with one reason."""

    VALIDATE, REFUSE = "valider", "refuser"

    enrolments = forms.TypedMultipleChoiceField(
        coerce=int, choices=(), error_messages={"required": "Cochez au moins une demande."}
    )
    action = forms.ChoiceField(choices=[(VALIDATE, "Valider"), (REFUSE, "Refuser")])
    reason = forms.CharField(label="Motif du refus (pour « Refuser la sélection »)", max_length=1000, required=False)

    def __init__(self, data=None, **kwargs):
        super().__init__(data, **kwargs)
        # Any id is accepted here; the view reads only pending requests with these ids.
        ids = data.getlist("enrolments") if data is not None and hasattr(data, "getlist") else []
        self.fields["enrolments"].choices = [(value, value) for value in ids if str(value).isdigit()]

    def clean(self):
        data = super().clean()
        if data.get("action") == self.REFUSE and not (data.get("reason") or "").strip():
            self.add_error("reason", "Indiquez le motif du refus : il sera envoyé à chaque famille.")
        return data


class ReorderForm(forms.Form):
    """The waiting list as shown (`order`) and one move ("<id>:up" or "<id>:down"); `new_order`
    is the order to save. A stale `order` is refused by the service (the list changed)."""

    order = forms.CharField()
    move = forms.RegexField(regex=r"^\d+:(up|down)$")

    def clean(self):
        data = super().clean()
        order, move = data.get("order"), data.get("move")
        if not order or not move:
            raise forms.ValidationError("Action inconnue : rechargez la page puis recommencez.")
        try:
            ids = [int(part) for part in order.split(",")]
        except ValueError:
            raise forms.ValidationError("Action inconnue : rechargez la page puis recommencez.") from None
        pk, direction = move.split(":")
        pk = int(pk)
        if pk not in ids:
            raise forms.ValidationError("La liste d'attente a changé entre-temps : rechargez la page puis recommencez.")
        index = ids.index(pk)
        target = index - 1 if direction == "up" else index + 1
        if 0 <= target < len(ids):
            ids[index], ids[target] = ids[target], ids[index]
        data["new_order"] = ids
        return data
