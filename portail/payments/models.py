"""Money received: régies (cash offices), payments, online attempts, bank notifications, receipts.

Amounts are integer cents everywhere (never float, on SQLite too). A Payment is money a household
paid (or is paying) to one régie; its allocations say what it paid for (prepaid bookings, an
enrolment, later invoices); what is paid and not allocated is the household's credit ("avoir",
"prépaiement"). Only a verified bank notification or a régisseur's entry makes a payment PAID.
"""

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from portail.core.models import Channel


class Backend(models.TextChoices):
    """Online payment backends (eopayment kinds). NONE: the régie takes no online payment."""

    NONE = "", "Pas de paiement en ligne"
    PAYFIP_WS = "payfip_ws", "PayFiP régie (web-service)"
    TIPI = "tipi", "PayFiP / TIPI (URL classique, non signée)"
    SYSTEMPAY = "systempayv2", "Systempay (Banque Populaire, Caisse d'Épargne)"
    PAYZEN = "payzen", "PayZen (Lyra)"
    DUMMY = "dummy", "Banque fictive (tests uniquement)"


class Means(models.TextChoices):
    """Moyens de paiement. The régie's acte constitutif lists the ones it may accept."""

    ONLINE = "online", "Carte bancaire en ligne"
    CHEQUE = "cheque", "Chèque"
    CASH = "cash", "Espèces"
    CESU = "cesu", "CESU"
    TRANSFER = "transfer", "Virement"
    CARD_DESK = "card_desk", "Carte bancaire au guichet"
    DIRECT_DEBIT = "sepa", "Prélèvement"
    # Not money received: an avoir (credit note) the household may spend on its next invoices.
    CREDIT_NOTE = "avoir", "Avoir"


OFFLINE_MEANS = (Means.CHEQUE, Means.CASH, Means.CESU, Means.TRANSFER, Means.CARD_DESK)

# Art. 1680 CGI, arrêté du 24 décembre 2012: cash is refused from 300 € per payment.
CASH_CEILING_CENTS = 300_00

alphanumeric = RegexValidator(r"^[A-Za-z0-9]*$", "Lettres et chiffres uniquement, sans espace ni tiret.")


# SEPA identifiers are checked by portail.billing.sepa (imported when validating, not at import time:
# billing's models depend on this module).
def _sepa_check(check: str, value: str) -> None:
    from portail.billing import sepa

    try:
        getattr(sepa, check)(value)
    except sepa.SepaError as refusal:
        raise ValidationError(refusal.message, code=refusal.code) from refusal


def validate_ics(value: str) -> None:
    _sepa_check("check_ics", value)


def validate_iban(value: str) -> None:
    """schwifty (length, ISO check digits, SEPA zone) and the French RIB key."""
    _sepa_check("check_iban", value)


def validate_bic(value: str) -> None:
    _sepa_check("check_bic", value)


class Regie(models.Model):
    """Régie de recettes: the cash office that collects for some activities, with its online backend."""

    town = models.ForeignKey("organisations.Town", on_delete=models.CASCADE, related_name="regies")
    name = models.CharField("nom", max_length=120)
    # Alphanumeric code, part of receipt numbers and PayFiP references (refdet: 6–30 alphanumerics).
    code = models.CharField("code", max_length=6, unique=True, validators=[alphanumeric])
    activities = models.ManyToManyField(
        "catalog.Activity", blank=True, related_name="regies", verbose_name="activités encaissées"
    )
    accepted_means = models.JSONField(
        "moyens de paiement acceptés", default=list, help_text="Ceux que l'acte constitutif de la régie autorise."
    )
    backend = models.CharField("paiement en ligne", max_length=12, choices=Backend.choices, blank=True)
    # Backend parameters (numcli, vads_site_id, keys…). Secrets live here: the admin is for administrators only.
    backend_options = models.JSONField("paramètres du paiement en ligne", default=dict, blank=True)
    test_mode = models.BooleanField(
        "mode test", default=True, help_text="Tant que la régie est en test, aucun paiement réel n'est encaissé."
    )
    # "Mise en sécurité": no new online attempt on the same basket or invoice while one is pending.
    lock_minutes = models.PositiveSmallIntegerField("délai entre deux paiements (minutes)", default=30)
    # Places held by a basket sent to the bank; released if the bank has not confirmed by then.
    hold_minutes = models.PositiveSmallIntegerField("places gardées pendant le paiement (minutes)", default=15)
    receipt_prefix = models.CharField(
        "préfixe des reçus", max_length=6, default="R", validators=[alphanumeric], help_text="Ex. R : R01-2026-000123."
    )
    cesu_accepted_for = models.ManyToManyField(
        "catalog.ActivityType",
        blank=True,
        related_name="+",
        verbose_name="types d'activité payables en CESU",
        help_text="Garde périscolaire, accueil de loisirs des moins de 6 ans… selon la délibération.",
    )
    contact = models.CharField("régisseur et coordonnées", max_length=200, blank=True)
    # Mandatory mentions of an invoice (CGCT L1617-5): name and quality of the ordonnateur who issues it.
    issuer_name = models.CharField(
        "nom de l'ordonnateur", max_length=150, blank=True, help_text="Ex. Mme Sophie Lambert."
    )
    issuer_quality = models.CharField(
        "qualité de l'ordonnateur",
        max_length=150,
        blank=True,
        help_text="Ex. Maire, ou « par délégation, l'adjoint aux finances ».",
    )
    # SEPA creditor (direct debit): the régie's deposit account (DFT) and its creditor identifier.
    sepa_creditor_name = models.CharField(
        "nom du créancier SEPA", max_length=70, blank=True, help_text="Vide : le nom de la régie."
    )
    sepa_ics = models.CharField(
        "identifiant créancier SEPA (ICS)",
        max_length=35,
        blank=True,
        validators=[validate_ics],
        help_text="Attribué par la Banque de France, ex. FR72ZZZ123456.",
    )
    sepa_iban = models.CharField(
        "IBAN du compte de la régie (DFT)", max_length=34, blank=True, validators=[validate_iban]
    )
    sepa_bic = models.CharField("BIC du compte de la régie", max_length=11, blank=True, validators=[validate_bic])
    is_active = models.BooleanField("active", default=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "régie"
        verbose_name_plural = "régies"

    def __str__(self):
        return self.name

    @property
    def accepts_online(self) -> bool:
        return bool(self.backend) and Means.ONLINE in self.accepted_means

    def accepts(self, means: str) -> bool:
        return means in self.accepted_means

    def clean(self):
        # Compact, upper-case identifiers: the file and the invoices print them as stored.
        from portail.billing import sepa

        for name, check in (("sepa_ics", sepa.check_ics), ("sepa_iban", sepa.check_iban), ("sepa_bic", sepa.check_bic)):
            value = getattr(self, name)
            if value:
                try:
                    setattr(self, name, check(value))
                except sepa.SepaError:
                    pass  # the field's validator reports it
        if any((self.sepa_ics, self.sepa_iban, self.sepa_bic)) and not all(
            (self.sepa_ics, self.sepa_iban, self.sepa_bic)
        ):
            raise ValidationError(
                "Pour le prélèvement SEPA, indiquez ensemble l'ICS, l'IBAN et le BIC du compte de la régie.",
                code="sepa_incomplete",
            )


class PaymentStatus(models.TextChoices):
    CREATED = "created", "Créé"
    PENDING = "pending", "En cours de paiement"
    PAID = "paid", "Payé"
    DENIED = "denied", "Refusé par la banque"
    CANCELLED = "cancelled", "Abandonné"
    EXPIRED = "expired", "Sans réponse de la banque (expiré)"
    ERROR = "error", "Erreur"
    REFUNDED = "refunded", "Remboursé"


OPEN_STATUSES = (PaymentStatus.CREATED, PaymentStatus.PENDING)
# Final answers that free the basket or invoice at once (PAID keeps it: it is paid).
FAILED_STATUSES = (PaymentStatus.DENIED, PaymentStatus.CANCELLED, PaymentStatus.EXPIRED, PaymentStatus.ERROR)


class Payment(models.Model):
    """Money from a household to a régie: online (through attempts) or recorded at the desk."""

    regie = models.ForeignKey(Regie, on_delete=models.PROTECT, related_name="payments", verbose_name="régie")
    household = models.ForeignKey(
        "households.Household", on_delete=models.PROTECT, related_name="payments", verbose_name="foyer"
    )
    means = models.CharField("moyen de paiement", max_length=10, choices=Means.choices)
    amount_cents = models.PositiveIntegerField("montant (centimes)")
    status = models.CharField("état", max_length=10, choices=PaymentStatus.choices, default=PaymentStatus.CREATED)
    label = models.CharField("objet", max_length=200)
    channel = models.CharField("canal", max_length=10, choices=Channel.choices, default=Channel.WEB)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField("créé le", default=timezone.now)
    paid_at = models.DateTimeField("payé le", null=True, blank=True)
    # Gapless per régie and year, given when the money is received (receipts.next_receipt_number).
    receipt_number = models.CharField("n° de reçu", max_length=30, blank=True)
    # Bank authorisation number, cheque number, transfer reference…
    reference = models.CharField("référence", max_length=100, blank=True)
    cheque_bank = models.CharField("banque du chèque", max_length=100, blank=True)
    drawer = models.CharField("tireur / payeur", max_length=150, blank=True)
    cesu_details = models.CharField("titres CESU (numéros, émetteur, millésime)", max_length=300, blank=True)
    note = models.TextField("remarque", blank=True)
    refunded_at = models.DateTimeField("remboursé le", null=True, blank=True)
    refunded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    refund_reason = models.TextField("motif du remboursement ou de l'annulation", blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = "paiement"
        verbose_name_plural = "paiements"
        constraints = [
            models.UniqueConstraint(
                fields=["regie", "receipt_number"], condition=~Q(receipt_number=""), name="unique_receipt_number"
            ),
            models.CheckConstraint(condition=Q(amount_cents__gt=0), name="payment_amount_positive"),
            models.CheckConstraint(
                condition=~Q(means="cash") | Q(amount_cents__lt=CASH_CEILING_CENTS), name="cash_below_ceiling"
            ),
        ]
        indexes = [models.Index(fields=["household", "status"], name="payment_household_status")]

    def __str__(self):
        return f"{self.get_means_display()} {self.amount_cents / 100:.2f} € – {self.household}"

    @property
    def is_paid(self) -> bool:
        return self.status == PaymentStatus.PAID


class AllocationKind(models.TextChoices):
    BOOKING = "booking", "Réservation payée à la réservation"
    ENROLMENT = "enrolment", "Inscription payée à l'inscription"
    INVOICE = "invoice", "Facture"
    # Credit handed back to the family (trop-perçu, avoir) by a mandat of the ordonnateur.
    REFUND = "refund", "Remboursement du crédit"


class Allocation(models.Model):
    """What a payment pays for. Paid − allocated = the household's credit with that régie."""

    payment = models.ForeignKey(Payment, on_delete=models.CASCADE, related_name="allocations")
    kind = models.CharField("type", max_length=10, choices=AllocationKind.choices)
    amount_cents = models.PositiveIntegerField("montant (centimes)")
    label = models.CharField("libellé", max_length=200)
    booking = models.ForeignKey(
        "bookings.Booking", null=True, blank=True, on_delete=models.PROTECT, related_name="allocations"
    )
    enrolment = models.ForeignKey(
        "enrolments.Enrolment", null=True, blank=True, on_delete=models.PROTECT, related_name="allocations"
    )
    invoice = models.ForeignKey(
        "billing.Invoice", null=True, blank=True, on_delete=models.PROTECT, related_name="allocations"
    )
    # Enrolments paid at once are created when the money arrives: until then the request is kept here.
    pending_enrolment = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["pk"]
        verbose_name = "affectation"
        verbose_name_plural = "affectations"
        constraints = [models.CheckConstraint(condition=Q(amount_cents__gt=0), name="allocation_amount_positive")]

    def __str__(self):
        return self.label


class AttemptPurpose(models.TextChoices):
    BASKET = "basket", "Réservations du panier"
    ENROLMENT = "enrolment", "Inscription en paiement immédiat"
    INVOICES = "invoices", "Factures"
    PREPAYMENT = "prepayment", "Prépaiement (crédit)"


class PaymentAttempt(models.Model):
    """One call to the online backend for a payment: what was asked, what the bank answered."""

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    payment = models.ForeignKey(Payment, on_delete=models.CASCADE, related_name="attempts")
    regie = models.ForeignKey(Regie, on_delete=models.PROTECT, related_name="attempts")
    household = models.ForeignKey("households.Household", on_delete=models.CASCADE, related_name="payment_attempts")
    purpose = models.CharField("objet", max_length=12, choices=AttemptPurpose.choices)
    backend = models.CharField(max_length=12, choices=Backend.choices)
    # Our reference sent to the bank (refdet / vads_order_id): alphanumeric, 6–30 characters.
    reference = models.CharField("référence", max_length=30, unique=True)
    # The id the backend returned from request() (idop, refdet, transaction id): notifications find it.
    external_id = models.CharField("identifiant banque", max_length=100, blank=True)
    amount_cents = models.PositiveIntegerField("montant (centimes)")
    status = models.CharField("état", max_length=10, choices=PaymentStatus.choices, default=PaymentStatus.CREATED)
    test = models.BooleanField("en test", default=True)
    created_at = models.DateTimeField(default=timezone.now)
    # No new attempt on the same target before this instant (mise en sécurité).
    lock_until = models.DateTimeField()
    # Places held by the target are released if the bank has not confirmed by then.
    hold_until = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    bank_status = models.CharField("réponse de la banque", max_length=200, blank=True)
    bank_reference = models.CharField("n° d'autorisation", max_length=100, blank=True)
    request_data = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = "tentative de paiement en ligne"
        verbose_name_plural = "tentatives de paiement en ligne"
        constraints = [
            models.UniqueConstraint(
                fields=["backend", "external_id"], condition=~Q(external_id=""), name="unique_attempt_external_id"
            ),
        ]
        indexes = [models.Index(fields=["status", "hold_until"], name="attempt_status_hold")]

    def __str__(self):
        return f"{self.reference} ({self.get_status_display()})"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class NotificationOutcome(models.TextChoices):
    APPLIED = "applied", "Appliquée"
    DUPLICATE = "duplicate", "Déjà reçue (sans effet)"
    IGNORED = "ignored", "Ignorée (paiement déjà réglé)"
    REJECTED = "rejected", "Rejetée"
    INCIDENT = "incident", "Incident à traiter"


class BankNotification(models.Model):
    """Append-only log of every raw notification the bank (or anyone) sent us, before any check."""

    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    regie = models.ForeignKey(Regie, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    backend = models.CharField(max_length=12, blank=True)
    attempt = models.ForeignKey(
        PaymentAttempt, null=True, blank=True, on_delete=models.SET_NULL, related_name="notifications"
    )
    method = models.CharField(max_length=8)
    query_string = models.TextField(blank=True)
    body = models.TextField(blank=True)
    remote_addr = models.CharField(max_length=64, blank=True)
    parsed = models.JSONField(null=True, blank=True)
    signed = models.BooleanField(null=True)
    result = models.CharField("résultat annoncé", max_length=12, blank=True)
    outcome = models.CharField(max_length=10, choices=NotificationOutcome.choices, blank=True)
    reason = models.CharField("motif", max_length=200, blank=True)

    class Meta:
        ordering = ["-received_at", "-pk"]
        verbose_name = "notification bancaire"
        verbose_name_plural = "notifications bancaires"

    def __str__(self):
        return f"{self.received_at:%d/%m/%Y %H:%M:%S} {self.backend} {self.outcome}"


class IncidentKind(models.TextChoices):
    AMOUNT_MISMATCH = "amount", "Montant différent de celui demandé"
    NO_PLACE_LEFT = "no_place", "Payé après expiration, plus de place : montant mis en avoir"
    ENROLMENT_REFUSED = "enrolment", "Payé mais inscription impossible : montant mis en avoir"
    PAID_AFTER_FAILURE = "late", "Payé après un refus ou une annulation"
    DIRECT_DEBIT_REJECTED = "sepa_rej", "Prélèvement rejeté par la banque"


class PaymentIncident(models.Model):
    """Something about money a régisseur must look at (never resolved automatically)."""

    kind = models.CharField("type", max_length=10, choices=IncidentKind.choices)
    regie = models.ForeignKey(Regie, on_delete=models.PROTECT, related_name="incidents")
    household = models.ForeignKey("households.Household", on_delete=models.CASCADE, related_name="payment_incidents")
    payment = models.ForeignKey(Payment, null=True, blank=True, on_delete=models.CASCADE, related_name="incidents")
    attempt = models.ForeignKey(
        PaymentAttempt, null=True, blank=True, on_delete=models.CASCADE, related_name="incidents"
    )
    notification = models.ForeignKey(BankNotification, null=True, blank=True, on_delete=models.SET_NULL)
    details = models.TextField("détails")
    created_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolution = models.TextField("suite donnée", blank=True)

    class Meta:
        ordering = ["resolved_at", "-created_at"]
        verbose_name = "incident de paiement"
        verbose_name_plural = "incidents de paiement"

    def __str__(self):
        return f"{self.get_kind_display()} – {self.household}"


class ReceiptCounter(models.Model):
    """The last receipt number given per régie and year; the row is locked to give the next one."""

    regie = models.ForeignKey(Regie, on_delete=models.CASCADE, related_name="+")
    year = models.PositiveSmallIntegerField()
    last_number = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["regie", "year"], name="one_receipt_counter_per_regie_year")]


# --- SEPA direct debits ----------------------------------------------------------------------------


class DebitBatchStatus(models.TextChoices):
    SUBMITTED = "submitted", "Transmis à la banque"
    COLLECTED = "collected", "Encaissé"


class DebitStatus(models.TextChoices):
    SUBMITTED = "submitted", "Prélèvement prévu"
    COLLECTED = "collected", "Encaissé"
    REJECTED = "rejected", "Rejeté"


class DebitSequence(models.TextChoices):
    FIRST = "FRST", "Premier (FRST)"
    RECURRING = "RCUR", "Récurrent (RCUR)"


class DirectDebitBatch(models.Model):
    """One pain.008 file of a régie (billing.sepa.generate_collection), kept with its SHA-256."""

    regie = models.ForeignKey(Regie, on_delete=models.PROTECT, related_name="debit_batches", verbose_name="régie")
    collection_date = models.DateField("date de prélèvement")
    # The file's GrpHdr/MsgId: the bank quotes it in its answers (rejects, account statement).
    message_id = models.CharField("identifiant du message", max_length=35, unique=True)
    file = models.FileField("fichier pain.008", upload_to="prelevements/%Y/")
    sha256 = models.CharField(max_length=64)
    total_cents = models.PositiveIntegerField("total (centimes)", default=0)
    status = models.CharField(
        "état", max_length=10, choices=DebitBatchStatus.choices, default=DebitBatchStatus.SUBMITTED
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField("généré le", default=timezone.now)
    collected_at = models.DateTimeField("encaissé le", null=True, blank=True)
    collected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-collection_date", "-pk"]
        verbose_name = "fichier de prélèvement"
        verbose_name_plural = "fichiers de prélèvement"

    def __str__(self):
        return f"Prélèvement {self.regie.code} du {self.collection_date:%d/%m/%Y}"


class DirectDebit(models.Model):
    """One invoice debited in a batch. While SUBMITTED the invoice is neither in another file nor
    payable online by the family; COLLECTED carries the Payment (means "sepa") that paid it."""

    batch = models.ForeignKey(DirectDebitBatch, on_delete=models.PROTECT, related_name="debits")
    invoice = models.ForeignKey("billing.Invoice", on_delete=models.PROTECT, related_name="direct_debits")
    mandate = models.ForeignKey("billing.SepaMandate", on_delete=models.PROTECT, related_name="direct_debits")
    amount_cents = models.PositiveIntegerField("montant (centimes)")
    sequence = models.CharField("séquence", max_length=4, choices=DebitSequence.choices)
    end_to_end_id = models.CharField("référence de bout en bout", max_length=35)
    status = models.CharField("état", max_length=10, choices=DebitStatus.choices, default=DebitStatus.SUBMITTED)
    rejected_at = models.DateTimeField("rejeté le", null=True, blank=True)
    rejection_reason = models.CharField("motif du rejet", max_length=200, blank=True)
    payment = models.ForeignKey(Payment, null=True, blank=True, on_delete=models.PROTECT, related_name="direct_debits")

    class Meta:
        ordering = ["batch", "end_to_end_id", "pk"]
        verbose_name = "prélèvement"
        verbose_name_plural = "prélèvements"
        constraints = [
            models.UniqueConstraint(fields=["batch", "invoice"], name="one_debit_per_invoice_per_batch"),
            # Safety net of the rule "an invoice in a submitted debit is in no other file".
            models.UniqueConstraint(
                fields=["invoice"], condition=Q(status="submitted"), name="one_submitted_debit_per_invoice"
            ),
            models.CheckConstraint(condition=Q(amount_cents__gt=0), name="debit_amount_positive"),
        ]

    def __str__(self):
        return f"Prélèvement {self.end_to_end_id} ({self.get_status_display()})"
