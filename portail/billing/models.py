"""Billing: tariff grids, invoices and their lines, credit notes, numbering counters, invoicing runs,
extra invoice recipients, SEPA mandates, tax certificates.

Money is integer cents. A price is decided once and stored (invoice line amount, with the trail of the
rules that made it); nothing shown to a family is recomputed later. Issued invoices and credit notes are
immutable: their payer and issuer are copied, their lines too; corrections are credit notes.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from portail.core.models import Channel

# --- Tariff grids ------------------------------------------------------------------------------------


class SiblingOrder(models.TextChoices):
    """Which child counts as the first of the siblings for the sibling discount (published rule)."""

    OLDEST_FIRST = "oldest_first", "L'aîné est le 1er enfant"
    YOUNGEST_FIRST = "youngest_first", "Le plus jeune est le 1er enfant"


class TariffGrid(models.Model):
    """Grille tarifaire of an activity, valid for a span of dates (versioned: a new deliberation is a new grid).

    Prices per unit and quotient bracket (TariffBracket / TariffPrice); the rules around them here."""

    activity = models.ForeignKey(
        "catalog.Activity", on_delete=models.CASCADE, related_name="tariff_grids", verbose_name="activité"
    )
    name = models.CharField("nom", max_length=150)
    valid_from = models.DateField("valable du")
    valid_until = models.DateField("au", null=True, blank=True, help_text="Vide : sans date de fin.")
    deliberation = models.CharField("délibération", max_length=200, blank=True)
    non_resident_surcharge_percent = models.DecimalField(
        "majoration hors commune (%)", max_digits=5, decimal_places=2, default=0
    )
    # Discount per sibling rank, in percent: [rank 1, rank 2, rank 3 and more], e.g. [0, 10, 20].
    sibling_discount_percents = models.JSONField("réduction fratrie (%) par rang", default=list, blank=True)
    sibling_order = models.CharField(
        "ordre de la fratrie", max_length=15, choices=SiblingOrder.choices, default=SiblingOrder.OLDEST_FIRST
    )
    late_booking_surcharge_cents = models.PositiveIntegerField(
        "majoration réservation hors délai (centimes)", default=0
    )
    unexpected_presence_cents = models.PositiveIntegerField("présence non réservée (centimes)", default=0)
    billed_absence_percent = models.PositiveSmallIntegerField("absence facturée (% du prix)", default=100)
    # Activities paid per period (EMS trimester): one flat fee per enrolment, no per-session price.
    flat_fee_cents = models.PositiveIntegerField("forfait par période (centimes)", null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["activity", "-valid_from"]
        verbose_name = "grille tarifaire"
        verbose_name_plural = "grilles tarifaires"
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_until__isnull=True) | Q(valid_until__gte=models.F("valid_from")), name="grid_dates"
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.activity})"


class TariffBracket(models.Model):
    """A quotient bracket [min_quotient, max_quotient); max empty = no upper bound (the highest bracket)."""

    grid = models.ForeignKey(TariffGrid, on_delete=models.CASCADE, related_name="brackets")
    min_quotient = models.PositiveIntegerField("QF à partir de")
    max_quotient = models.PositiveIntegerField("QF jusqu'à (exclu)", null=True, blank=True)

    class Meta:
        ordering = ["grid", "min_quotient"]
        verbose_name = "tranche de quotient"
        verbose_name_plural = "tranches de quotient"
        constraints = [
            models.UniqueConstraint(fields=["grid", "min_quotient"], name="one_bracket_start_per_grid"),
            models.CheckConstraint(
                condition=Q(max_quotient__isnull=True) | Q(max_quotient__gt=models.F("min_quotient")),
                name="bracket_bounds",
            ),
        ]

    def __str__(self):
        return f"QF {self.min_quotient} – {self.max_quotient or '∞'}"


class TariffPrice(models.Model):
    bracket = models.ForeignKey(TariffBracket, on_delete=models.CASCADE, related_name="prices")
    unit = models.ForeignKey("catalog.Unit", on_delete=models.CASCADE, related_name="tariff_prices")
    price_cents = models.PositiveIntegerField("prix (centimes)")

    class Meta:
        verbose_name = "prix"
        verbose_name_plural = "prix"
        constraints = [models.UniqueConstraint(fields=["bracket", "unit"], name="one_price_per_bracket_unit")]


# --- Numbering -----------------------------------------------------------------------------------------


class SeriesKind(models.TextChoices):
    INVOICE = "invoice", "Factures"
    CREDIT_NOTE = "credit_note", "Avoirs"
    TAX_CERTIFICATE = "certificate", "Attestations fiscales"


class DocumentCounter(models.Model):
    """Last number given per régie, year and series; its row is locked to give the next (gapless)."""

    regie = models.ForeignKey("payments.Regie", on_delete=models.CASCADE, related_name="+")
    year = models.PositiveSmallIntegerField()
    series = models.CharField(max_length=12, choices=SeriesKind.choices)
    last_number = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["regie", "year", "series"], name="one_counter_per_regie_year_series")
        ]


# --- Invoicing runs and invoices -------------------------------------------------------------------------


class RunStatus(models.TextChoices):
    RUNNING = "running", "En cours"
    DONE = "done", "Terminée"
    FAILED = "failed", "Interrompue (à relancer)"


class InvoicingRun(models.Model):
    """Facturation d'un mois pour une régie. Issuing is idempotent: a re-run completes, never duplicates."""

    regie = models.ForeignKey("payments.Regie", on_delete=models.PROTECT, related_name="invoicing_runs")
    month = models.DateField("mois", help_text="Le premier jour du mois facturé.")
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.RUNNING)
    issued_on = models.DateField("date d'émission")
    due_date = models.DateField("à payer avant")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    invoices_count = models.PositiveIntegerField(default=0)
    total_cents = models.BigIntegerField(default=0)
    errors = models.JSONField("erreurs", default=list, blank=True)

    class Meta:
        ordering = ["-month", "-created_at"]
        verbose_name = "facturation mensuelle"
        verbose_name_plural = "facturations mensuelles"

    def __str__(self):
        return f"Facturation {self.month:%m/%Y} – {self.regie}"


class ImmutableDocument(models.Model):
    """Issued documents never change: only the listed bookkeeping fields may be written after creation."""

    MUTABLE_FIELDS: frozenset = frozenset()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            fields = kwargs.get("update_fields")
            if fields is None or not set(fields) <= self.MUTABLE_FIELDS:
                raise ValidationError(f"{self._meta.verbose_name} émise : elle ne peut plus être modifiée.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValidationError(f"{self._meta.verbose_name} émise : elle ne peut pas être supprimée (faire un avoir).")


class Invoice(ImmutableDocument):
    """Facture: numbered at issue, immutable. What is paid comes from payments' allocations."""

    MUTABLE_FIELDS = frozenset({"pdf", "pdf_sha256", "emailed_at", "transferred_at"})

    regie = models.ForeignKey("payments.Regie", on_delete=models.PROTECT, related_name="invoices")
    household = models.ForeignKey("households.Household", on_delete=models.PROTECT, related_name="invoices")
    run = models.ForeignKey(InvoicingRun, null=True, blank=True, on_delete=models.PROTECT, related_name="invoices")
    # Gapless per régie and year, alphanumeric 6–30 characters (PayFiP refdet), e.g. FENF2026000123.
    number = models.CharField("numéro", max_length=30)
    month = models.DateField("mois facturé", null=True, blank=True)
    issued_at = models.DateTimeField("émise le")
    due_date = models.DateField("à payer avant")
    payer = models.JSONField("payeur (copie)", help_text="Nom, adresse, e-mail au moment de l'émission.")
    issuer = models.JSONField("émetteur (copie)", help_text="Commune, régie, adresse, mentions.")
    total_cents = models.PositiveIntegerField("total (centimes)")
    pdf = models.FileField("PDF", upload_to="factures/%Y/", blank=True)
    pdf_sha256 = models.CharField(max_length=64, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    # Unpaid and sent to the Trésor public for recovery: the régie takes no more payment for it.
    transferred_at = models.DateTimeField("transmise au Trésor public le", null=True, blank=True)

    class Meta:
        ordering = ["-issued_at", "-number"]
        verbose_name = "facture"
        verbose_name_plural = "factures"
        constraints = [
            models.UniqueConstraint(fields=["regie", "number"], name="unique_invoice_number"),
            # One monthly invoice per household, régie and month: a re-run of the month creates nothing new.
            models.UniqueConstraint(
                fields=["regie", "household", "month"], condition=Q(run__isnull=False), name="one_monthly_invoice"
            ),
        ]
        indexes = [models.Index(fields=["household", "issued_at"], name="invoice_household_issued")]

    def __str__(self):
        return f"Facture {self.number}"


class LineKind(models.TextChoices):
    BOOKING = "booking", "Réservation"
    ABSENCE = "absence", "Absence facturée"
    LATE = "late", "Majoration hors délai"
    PRESENCE = "presence", "Présence non réservée"
    FLAT_FEE = "flat_fee", "Forfait"
    MANUAL = "manual", "Ligne manuelle"


class BillableItemKind(models.TextChoices):
    PRESENCE = "presence", "Présence non réservée"
    FLAT_FEE = "flat_fee", "Forfait par période"


class BillableItem(models.Model):
    """Something to bill that is not a booking: an unexpected presence (a child present without a booking,
    recorded by staff or, later, the attendance register) or a flat fee per period (EMS trimester).

    Priced ONCE by the tariff engine when it is recorded (presence) or derived at issue (flat fee); the
    invoicing run copies it onto a line (``InvoiceLine.billable_item``, one-to-one: never billed twice)."""

    household = models.ForeignKey("households.Household", on_delete=models.PROTECT, related_name="billable_items")
    child = models.ForeignKey("households.Child", on_delete=models.PROTECT, related_name="billable_items")
    activity = models.ForeignKey("catalog.Activity", on_delete=models.PROTECT, related_name="+")
    unit = models.ForeignKey("catalog.Unit", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    session = models.ForeignKey(
        "catalog.Session", null=True, blank=True, on_delete=models.PROTECT, related_name="billable_items"
    )
    enrolment = models.ForeignKey(
        "enrolments.Enrolment", null=True, blank=True, on_delete=models.PROTECT, related_name="billable_items"
    )
    period = models.ForeignKey("catalog.Period", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=10, choices=BillableItemKind.choices)
    service_date = models.DateField("date")
    label = models.CharField("libellé", max_length=250)
    unit_price_cents = models.IntegerField("prix unitaire (centimes)")
    amount_cents = models.IntegerField("montant (centimes)")
    # Part of amount_cents that is the grid's presence charge (a penalty: its own invoice line).
    surcharge_cents = models.PositiveIntegerField("majoration (centimes)", default=0)
    trail = models.JSONField("calcul", default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    channel = models.CharField("canal", max_length=10, choices=Channel.choices, default=Channel.STAFF)

    class Meta:
        ordering = ["service_date", "pk"]
        verbose_name = "élément à facturer"
        verbose_name_plural = "éléments à facturer"
        constraints = [
            models.UniqueConstraint(
                fields=["child", "session"], condition=Q(kind="presence"), name="one_presence_per_child_session"
            ),
            models.UniqueConstraint(
                fields=["enrolment", "period"], condition=Q(kind="flat_fee"), name="one_flat_fee_per_enrolment_period"
            ),
        ]
        indexes = [models.Index(fields=["activity", "service_date"], name="billable_item_activity_date")]

    def __str__(self):
        return self.label


class InvoiceLine(models.Model):
    """One line of an invoice, copied at issue: child, service, quantity, unit price, amount, the pricing trail."""

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="lines")
    kind = models.CharField(max_length=10, choices=LineKind.choices)
    child = models.ForeignKey("households.Child", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    child_name = models.CharField("enfant", max_length=150, blank=True)
    child_birth_date = models.DateField(null=True, blank=True)
    activity = models.ForeignKey("catalog.Activity", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    label = models.CharField("libellé", max_length=250)
    service_date = models.DateField("date", null=True, blank=True)
    quantity = models.PositiveIntegerField("quantité", default=1)
    unit_price_cents = models.IntegerField("prix unitaire (centimes)")
    amount_cents = models.IntegerField("montant (centimes)")
    # What billed it (at most one line per booking: a re-run never bills a booking twice).
    booking = models.OneToOneField(
        "bookings.Booking", null=True, blank=True, on_delete=models.PROTECT, related_name="invoice_line"
    )
    # Or what else billed it (unexpected presence, flat fee): one line per item, never billed twice.
    billable_item = models.OneToOneField(
        BillableItem, null=True, blank=True, on_delete=models.PROTECT, related_name="invoice_line"
    )
    # Tax certificate (frais de garde des moins de 6 ans): care only, meals and penalties excluded.
    childcare_eligible = models.BooleanField(default=False)
    trail = models.JSONField("calcul", default=list, blank=True)

    class Meta:
        ordering = ["invoice", "child_name", "service_date", "pk"]
        verbose_name = "ligne de facture"
        verbose_name_plural = "lignes de facture"

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise ValidationError("Ligne d'une facture émise : elle ne peut plus être modifiée.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValidationError("Ligne d'une facture émise : elle ne peut pas être supprimée.")


class CreditNote(ImmutableDocument):
    """Avoir: corrects an issued invoice (own gapless series). Its amount becomes the household's credit
    with the régie (a Payment of means "avoir"), applied to the next invoices or refunded by mandat."""

    MUTABLE_FIELDS = frozenset({"pdf", "pdf_sha256", "emailed_at"})

    regie = models.ForeignKey("payments.Regie", on_delete=models.PROTECT, related_name="credit_notes")
    household = models.ForeignKey("households.Household", on_delete=models.PROTECT, related_name="credit_notes")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="credit_notes")
    number = models.CharField("numéro", max_length=30)
    issued_at = models.DateTimeField("émis le")
    reason = models.TextField("motif")
    total_cents = models.PositiveIntegerField("total (centimes)")
    payer = models.JSONField("payeur (copie)")
    issuer = models.JSONField("émetteur (copie)")
    payment = models.OneToOneField(
        "payments.Payment", null=True, blank=True, on_delete=models.PROTECT, related_name="credit_note"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    pdf = models.FileField("PDF", upload_to="avoirs/%Y/", blank=True)
    pdf_sha256 = models.CharField(max_length=64, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-issued_at", "-number"]
        verbose_name = "avoir"
        verbose_name_plural = "avoirs"
        constraints = [models.UniqueConstraint(fields=["regie", "number"], name="unique_credit_note_number")]

    def __str__(self):
        return f"Avoir {self.number}"


class CreditNoteLine(models.Model):
    """Mirrors (part of) an invoice line, positive amount: keeps child and eligibility for the tax certificate."""

    credit_note = models.ForeignKey(CreditNote, on_delete=models.PROTECT, related_name="lines")
    invoice_line = models.ForeignKey(
        InvoiceLine, null=True, blank=True, on_delete=models.PROTECT, related_name="credit_lines"
    )
    label = models.CharField("libellé", max_length=250)
    amount_cents = models.PositiveIntegerField("montant (centimes)")

    class Meta:
        ordering = ["credit_note", "pk"]


# --- Family settings: extra recipients, direct debit -----------------------------------------------------


class InvoiceRecipient(models.Model):
    """Up to 3 extra addresses the family chooses to receive invoice e-mails (seed 002)."""

    household = models.ForeignKey("households.Household", on_delete=models.CASCADE, related_name="invoice_recipients")
    email = models.EmailField("adresse e-mail")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["pk"]
        verbose_name = "destinataire des factures"
        verbose_name_plural = "destinataires des factures"
        constraints = [models.UniqueConstraint(fields=["household", "email"], name="one_recipient_address")]


class MandateStatus(models.TextChoices):
    ACTIVE = "active", "Actif"
    REVOKED = "revoked", "Révoqué"


class SepaMandate(models.Model):
    """Mandat de prélèvement SEPA: RUM, debtor IBAN (checked with schwifty and the French RIB key), signature date."""

    regie = models.ForeignKey("payments.Regie", on_delete=models.PROTECT, related_name="mandates")
    household = models.ForeignKey("households.Household", on_delete=models.CASCADE, related_name="sepa_mandates")
    rum = models.CharField("RUM", max_length=35)
    debtor_name = models.CharField("titulaire du compte", max_length=140)
    iban = models.CharField("IBAN", max_length=34)
    bic = models.CharField("BIC", max_length=11, blank=True)
    signed_on = models.DateField("signé le")
    status = models.CharField(max_length=10, choices=MandateStatus.choices, default=MandateStatus.ACTIVE)
    last_collected_on = models.DateField("dernier prélèvement", null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-signed_on"]
        verbose_name = "mandat de prélèvement"
        verbose_name_plural = "mandats de prélèvement"
        constraints = [
            models.UniqueConstraint(fields=["regie", "rum"], name="unique_rum_per_creditor"),
            models.UniqueConstraint(
                fields=["regie", "household"], condition=Q(status="active"), name="one_active_mandate"
            ),
        ]

    def __str__(self):
        return f"Mandat {self.rum}"


class TaxCertificate(models.Model):
    """Attestation fiscale (frais de garde des enfants de moins de 6 ans), numbered and archived per issue."""

    regie = models.ForeignKey("payments.Regie", on_delete=models.PROTECT, related_name="tax_certificates")
    household = models.ForeignKey("households.Household", on_delete=models.CASCADE, related_name="tax_certificates")
    year = models.PositiveSmallIntegerField("année")
    number = models.CharField("numéro", max_length=30)
    issued_at = models.DateTimeField("émise le", default=timezone.now)
    # Per child: name, birth date, amount paid for care, of which CESU (cents).
    amounts = models.JSONField(default=list)
    pdf_sha256 = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-year", "-issued_at"]
        verbose_name = "attestation fiscale"
        verbose_name_plural = "attestations fiscales"
        constraints = [models.UniqueConstraint(fields=["regie", "number"], name="unique_certificate_number")]

    def __str__(self):
        return f"Attestation fiscale {self.year} n° {self.number}"
