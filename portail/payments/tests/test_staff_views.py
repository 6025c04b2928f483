"""Staff money pages: who may see and do what, the payment list (filters, bounded queries, CSV
journal), a payment's page (allocations, attempts and raw notifications, incidents), the desk
payment form, refunds, incident resolution, and the régie form that never shows a secret back."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from portail.accounts import roles
from portail.core.models import LogEntry
from portail.payments import staff_forms
from portail.payments.models import Means, Payment, PaymentStatus, Regie
from tests.factories import ActivityFactory, GuardianFactory, HouseholdFactory, StaffFactory
from tests.payment_factories import (
    PAYMENT_PERMISSIONS,
    AllocationFactory,
    BankNotificationFactory,
    PaymentAttemptFactory,
    PaymentFactory,
    PaymentIncidentFactory,
    RegieFactory,
    payment_staff,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def regie():
    return RegieFactory(name="Régie enfance", code="01A")


@pytest.fixture
def household():
    household = HouseholdFactory(reference="F000123")
    GuardianFactory(household=household, first_name="Camille", last_name="Martin", email="camille@example.org")
    return household


def login(client, role=roles.CASHIER):
    user = payment_staff(role)
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture
def cashier(client):
    return login(client)


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


# --- permissions ----------------------------------------------------------------------------------


def test_the_roles_grant_the_payment_permissions():
    for role, labels in PAYMENT_PERMISSIONS.items():
        granted = set(roles.ROLE_PERMISSIONS[role])
        assert set(labels) <= granted, f"{role}: add {sorted(set(labels) - granted)} to portail/accounts/roles.py"
    assert not {p for p in roles.ROLE_PERMISSIONS[roles.AGENT] if p.startswith("payments.")}
    assert not {
        p
        for p in roles.ROLE_PERMISSIONS[roles.MANAGER]
        if p.startswith("payments.") and not p.startswith("payments.view_")
    }


def money_urls(payment, incident, household):
    gets = [
        reverse("backoffice:payments"),
        reverse("backoffice:payment_export"),
        reverse("backoffice:payment_detail", args=[payment.pk]),
        reverse("backoffice:payment_receipt", args=[payment.pk]),
        reverse("backoffice:payment_record", args=[household.pk]),
        reverse("backoffice:payment_incidents"),
        reverse("backoffice:regies"),
        reverse("backoffice:regie_edit", args=[payment.regie_id]),
    ]
    posts = [
        reverse("backoffice:payment_refund", args=[payment.pk]),
        reverse("backoffice:payment_incident_resolve", args=[incident.pk]),
        reverse("backoffice:payment_record", args=[household.pk]),
        reverse("backoffice:regie_edit", args=[payment.regie_id]),
    ]
    return gets, posts


def test_front_desk_agents_are_refused_every_money_page(client, household):
    payment = PaymentFactory(household=household)
    incident = PaymentIncidentFactory(payment=payment)
    login(client, roles.AGENT)
    gets, posts = money_urls(payment, incident, household)
    for url in gets:
        assert client.get(url).status_code == 403, url
    for url in posts:
        assert client.post(url, {"reason": "x", "resolution": "x"}).status_code == 403, url
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID


def test_managers_see_but_do_not_handle_money(client, household):
    payment = PaymentFactory(household=household)
    incident = PaymentIncidentFactory(payment=payment)
    login(client, roles.MANAGER)
    gets, posts = money_urls(payment, incident, household)
    for url in gets[:4] + gets[5:7]:
        assert client.get(url).status_code == 200, url
    for url in gets[4:5] + gets[7:] + posts:
        method = client.post if url in posts else client.get
        assert method(url, {"reason": "x", "resolution": "x"}).status_code == 403, url
    page = client.get(reverse("backoffice:payment_detail", args=[payment.pk])).content.decode()
    assert "Rembourser / annuler" not in page


def test_families_and_visitors_are_refused(client, household):
    payment = PaymentFactory(household=household)
    incident = PaymentIncidentFactory(payment=payment)
    gets, posts = money_urls(payment, incident, household)
    client.force_login(household.guardians.get().user)
    for url in gets + posts:
        assert client.get(url).status_code == 403, url
    client.logout()
    for url in gets:
        assert client.get(url).status_code == 302, url


# --- the payment list -----------------------------------------------------------------------------


def make_payments(count, regie):
    for n in range(count):
        household = HouseholdFactory()
        GuardianFactory(household=household)
        PaymentFactory(regie=regie, household=household, amount_cents=1000 + n)


def test_the_list_takes_no_more_queries_for_30_payments_than_for_3(cashier, regie, django_assert_max_num_queries):
    make_payments(3, regie)
    url = reverse("backoffice:payments")
    with django_assert_max_num_queries(15) as small:
        assert cashier.get(url).status_code == 200
    make_payments(27, regie)
    with django_assert_max_num_queries(len(small.captured_queries)):
        response = cashier.get(url)
    assert len(response.context["page"].object_list) == 30


def test_list_filters(cashier, regie, household):
    other_regie = RegieFactory(name="Régie sports", code="02B")
    mine = PaymentFactory(regie=regie, household=household, means=Means.CASH, amount_cents=2740)
    PaymentFactory(regie=other_regie, means=Means.CHEQUE)
    refunded = PaymentFactory(regie=regie, means=Means.CHEQUE, status=PaymentStatus.REFUNDED)
    old = PaymentFactory(regie=regie, paid_at=dt.datetime(2025, 3, 10, 10, tzinfo=dt.UTC))
    url = reverse("backoffice:payments")

    def listed(**params):
        return set(cashier.get(url, params).context["page"].object_list)

    assert listed(regie=regie.pk) == {mine, refunded, old}
    assert listed(moyen="cash") == {mine}
    assert listed(etat="refunded") == {refunded}
    assert listed(foyer="F000123") == {mine}
    assert listed(foyer="martin camille") == {mine}
    assert listed(du="2025-03-01", au="2025-03-31") == {old}
    page = cashier.get(url, {"foyer": "F000123"}).content.decode()
    assert "27,40 €" in page
    assert "1 paiement" in page


def test_the_csv_journal(cashier, regie, household):
    PaymentFactory(
        regie=regie,
        household=household,
        means=Means.CHEQUE,
        amount_cents=1250,
        receipt_number="R01A2026000001",
        reference="0001234",
        drawer='=HYPERLINK("http://evil")',
    )
    PaymentAttemptFactory(payment__regie=regie)  # online, still at the bank: not in the journal
    response = cashier.get(reverse("backoffice:payment_export"), {"regie": regie.pk})
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="journal-paiements-01A-' in response["Content-Disposition"]
    content = response.content.decode("utf-8")
    assert content.startswith("\ufeff")
    lines = content.lstrip("\ufeff").split("\r\n")
    assert lines[0] == (
        "Date;N° de reçu;Régie;Foyer;Payeur;Moyen de paiement;Montant (€);Référence;Banque;Tireur / payeur;État"
    )
    assert len([line for line in lines if line]) == 2
    row = lines[1].split(";")
    assert row[1:4] == ["R01A2026000001", "Régie enfance", "F000123"]
    assert row[5:8] == ["Chèque", "12,50", "0001234"]
    assert row[9].startswith("\"'=HYPERLINK")  # neutralised (and quoted by the csv module)


# --- one payment ----------------------------------------------------------------------------------


def test_the_payment_page_shows_allocations_attempts_notifications_and_incidents(
    cashier, regie, household, django_assert_max_num_queries
):
    attempt = PaymentAttemptFactory(
        payment__regie=regie, payment__household=household, payment__amount_cents=2000, bank_status="paid CB"
    )
    payment = attempt.payment
    payment.status, payment.receipt_number, payment.paid_at = PaymentStatus.PAID, "R01A2026000007", attempt.created_at
    payment.save()
    AllocationFactory(payment=payment, label="Léa – mercredi 9 décembre", amount_cents=1500)
    BankNotificationFactory(attempt=attempt, body="transaction_id=abc&ok=1&signed=1&amount=20.00")
    BankNotificationFactory(attempt=attempt, signed=False, outcome="rejected", reason="signature invalide")
    PaymentIncidentFactory(payment=payment, details="Montant annoncé 19,00 €")
    with django_assert_max_num_queries(20):
        response = cashier.get(reverse("backoffice:payment_detail", args=[payment.pk]))
    page = response.content.decode()
    for text in [
        "R01A2026000007",
        "20,00 €",
        "Léa – mercredi 9 décembre",
        "15,00 €",
        "Crédit (avoir) sur le compte du foyer",
        "5,00 €",
        attempt.reference,
        "paid CB",
        "<details>",
        "transaction_id=abc&amp;ok=1&amp;signed=1&amp;amount=20.00",
        "signature invalide",
        "Montant annoncé 19,00 €",
        "Télécharger le reçu",
        "Rembourser / annuler",
        "mandat de l'ordonnateur",
    ]:
        assert text in page, text


def test_the_receipt_download(cashier, regie):
    payment = PaymentFactory(regie=regie, receipt_number="R01A2026000009")
    response = cashier.get(reverse("backoffice:payment_receipt", args=[payment.pk]))
    assert response["Content-Type"] == "application/pdf"
    assert 'filename="recu-R01A2026000009.pdf"' in response["Content-Disposition"]
    assert response.content.startswith(b"%PDF")
    unpaid = PaymentAttemptFactory(payment__regie=regie).payment
    assert cashier.get(reverse("backoffice:payment_receipt", args=[unpaid.pk])).status_code == 404


def test_refund_from_the_page(cashier, regie):
    payment = PaymentFactory(regie=regie)
    url = reverse("backoffice:payment_refund", args=[payment.pk])
    response = cashier.post(url, {"reason": ""}, follow=True)
    assert "Indiquez le motif du remboursement ou de l'annulation." in messages_of(response)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID
    response = cashier.post(url, {"reason": "Chèque revenu impayé"}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("backoffice:payment_detail", args=[payment.pk])
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.REFUNDED
    assert payment.refunded_by == cashier.user
    assert LogEntry.objects.filter(action="payment.refunded", actor=cashier.user).exists()
    assert "Rembourser / annuler" not in response.content.decode()


# --- the desk payment form ------------------------------------------------------------------------


def desk(regie, **overrides):
    data = {
        "regie": regie.pk,
        "moyen": Means.CHEQUE,
        "montant": "27,40",
        "date": timezone.localdate().isoformat(),
        "banque": "La Banque Postale",
        "numero": "0001234",
        "tireur": "",
        "cesu": "",
        "note": "",
        "jeton": "f" * 32,
    }
    data.update(overrides)
    return data


def test_record_a_cheque_from_the_household(cashier, regie, household, django_capture_on_commit_callbacks, mailoutbox):
    url = reverse("backoffice:payment_record", args=[household.pk])
    page = cashier.get(url).content.decode()
    assert "Encaisser un paiement" in page and "F000123" in page
    with django_capture_on_commit_callbacks(execute=True):
        response = cashier.post(url, desk(regie), follow=True)
    payment = Payment.objects.get()
    assert response.redirect_chain[-1][0] == reverse("backoffice:payment_detail", args=[payment.pk])
    assert messages_of(response) == [f"Paiement enregistré, reçu n° {payment.receipt_number}."]
    assert (payment.amount_cents, payment.means, payment.household, payment.regie) == (2740, "cheque", household, regie)
    assert payment.created_by == cashier.user
    assert mailoutbox[0].subject == f"Reçu de paiement n° {payment.receipt_number}"
    # The same form sent twice (double click) gives no second payment.
    response = cashier.post(url, desk(regie), follow=True)
    assert Payment.objects.count() == 1
    assert "déjà enregistré" in messages_of(response)[0]


def test_refusals_show_on_the_form(cashier, regie, household):
    url = reverse("backoffice:payment_record", args=[household.pk])
    response = cashier.post(url, desk(regie, moyen="cash", montant="300"))
    assert response.status_code == 200
    assert "Un paiement en espèces ne peut pas atteindre 300 € (article 1680 du CGI)." in response.content.decode()
    assert response.context["form"].errors["montant"]
    response = cashier.post(url, desk(regie, numero=""))
    assert "Indiquez la banque et le numéro du chèque." in response.content.decode()
    response = cashier.post(url, desk(regie, montant="27,401"))
    assert "Montant invalide" in response.content.decode()
    assert not Payment.objects.exists()


# --- incidents ------------------------------------------------------------------------------------


def test_incidents_open_first_and_resolution(cashier, regie, django_assert_max_num_queries):
    resolved = PaymentIncidentFactory(payment__regie=regie, details="Ancien")
    resolved.resolved_at, resolved.resolution = dt.datetime(2026, 1, 1, tzinfo=dt.UTC), "Réglé"
    resolved.save()
    first = PaymentIncidentFactory(payment__regie=regie, details="Premier")
    second = PaymentIncidentFactory(payment__regie=regie, details="Second")
    url = reverse("backoffice:payment_incidents")
    with django_assert_max_num_queries(12):
        response = cashier.get(url)
    assert list(response.context["page"].object_list) == [second, first, resolved]
    assert "2 incidents à traiter." in response.content.decode()
    resolve = reverse("backoffice:payment_incident_resolve", args=[first.pk])
    response = cashier.post(resolve, {"resolution": "", "next": url}, follow=True)
    assert "Indiquez la suite donnée à l'incident." in messages_of(response)
    response = cashier.post(resolve, {"resolution": "Écart remboursé par mandat", "next": url}, follow=True)
    assert response.redirect_chain[-1][0] == url
    first.refresh_from_db()
    assert first.resolution == "Écart remboursé par mandat" and first.resolved_by == cashier.user
    assert LogEntry.objects.filter(action="payment_incident.resolved").count() == 1


# --- régies ---------------------------------------------------------------------------------------

SECRET = "Sup3rS3cretKeyValue"


def param(name, label, *, required=True, secret=False, help_text="", pattern="", choices=None):
    """The shape of portail.payments.backends.backend_parameters() entries."""
    return {
        "name": name,
        "label": label,
        "required": required,
        "secret": secret,
        "help_text": help_text,
        "pattern": pattern,
        "choices": choices,
    }


PARAMETERS = {
    "systempayv2": [
        param("vads_site_id", "Identifiant boutique", help_text="8 chiffres, donnés par la banque.", pattern=r"\d{8}"),
        param("secret_test", "Clé de test", secret=True, pattern=r"[A-Za-z0-9]+"),
        param("secret_production", "Clé de production", required=False, secret=True, pattern=r"[A-Za-z0-9]+"),
        param(
            "signature_algo",
            "Algorithme de signature",
            required=False,
            choices=[("hmac_sha256", "HMAC-SHA-256"), ("sha1", "SHA-1 (ancien)")],
        ),
    ],
    "payfip_ws": [param("numcli", "Numéro client PayFiP", pattern=r"\d{6}")],
    "dummy": [],
}


@pytest.fixture
def parameters(monkeypatch):
    monkeypatch.setattr(staff_forms, "backend_parameters", lambda backend: PARAMETERS.get(backend, []))


@pytest.fixture
def online_regie(parameters):
    return RegieFactory(
        name="Régie enfance",
        code="01A",
        backend="systempayv2",
        accepted_means=[Means.ONLINE, Means.CHEQUE],
        backend_options={"vads_site_id": "12345678", "secret_test": SECRET, "extra": 3},
    )


def regie_data(regie, **overrides):
    data = {
        "name": regie.name,
        "code": regie.code,
        "is_active": "on",
        "contact": regie.contact,
        "accepted_means": list(regie.accepted_means),
        "receipt_prefix": regie.receipt_prefix,
        "backend": regie.backend,
        "options_backend": regie.backend,
        "test_mode": "on",
        "lock_minutes": "30",
        "hold_minutes": "15",
        "option_vads_site_id": regie.backend_options.get("vads_site_id", ""),
        "option_secret_test": "",
        "option_secret_production": "",
    }
    data.update(overrides)
    return data


def test_regie_list(cashier, online_regie, django_assert_max_num_queries):
    RegieFactory(name="Régie sports", code="02B")
    with django_assert_max_num_queries(12):
        page = cashier.get(reverse("backoffice:regies")).content.decode()
    assert "Régie enfance" in page and "Régie sports" in page
    assert "Systempay" in page and "mode test" in page
    assert SECRET not in page


def test_the_regie_form_never_shows_a_secret(cashier, online_regie):
    url = reverse("backoffice:regie_edit", args=[online_regie.pk])
    page = cashier.get(url).content.decode()
    assert "Identifiant boutique" in page and "12345678" in page
    assert "Clé de test" in page
    assert SECRET not in page
    assert "laissez vide pour la conserver" in page
    # Nor when the form comes back with an error, the secret just typed included.
    response = cashier.post(url, regie_data(online_regie, name="", option_secret_test="NewSecret99"))
    assert response.status_code == 200
    assert "NewSecret99" not in response.content.decode() and SECRET not in response.content.decode()


def test_an_empty_secret_keeps_the_stored_one(cashier, online_regie):
    url = reverse("backoffice:regie_edit", args=[online_regie.pk])
    response = cashier.post(url, regie_data(online_regie, name="Régie enfance jeunesse"))
    assert response.status_code == 302, response.context["form"].errors
    online_regie.refresh_from_db()
    assert online_regie.name == "Régie enfance jeunesse"
    assert online_regie.backend_options == {"vads_site_id": "12345678", "secret_test": SECRET, "extra": 3}
    entry = LogEntry.objects.get(action="regie.changed")
    assert entry.after == {"name": "Régie enfance jeunesse"}


def test_a_new_secret_replaces_the_old_one_and_the_journal_masks_it(cashier, online_regie):
    url = reverse("backoffice:regie_edit", args=[online_regie.pk])
    cashier.post(url, regie_data(online_regie, option_secret_test="NewSecret99", option_secret_production="Prod42"))
    online_regie.refresh_from_db()
    assert online_regie.backend_options["secret_test"] == "NewSecret99"
    assert online_regie.backend_options["secret_production"] == "Prod42"
    entry = LogEntry.objects.get(action="regie.changed")
    journal = str(entry.before) + str(entry.after) + entry.message
    assert SECRET not in journal and "NewSecret99" not in journal and "Prod42" not in journal
    assert entry.after["backend_options"]["secret_test"] == "******** (modifié)"


def test_a_new_backend_asks_for_its_parameters_first(cashier, online_regie):
    url = reverse("backoffice:regie_edit", args=[online_regie.pk])
    response = cashier.post(url, regie_data(online_regie, backend="payfip_ws"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "complétez-les" in page and "Numéro client PayFiP" in page
    assert "Clé de test" not in page
    online_regie.refresh_from_db()
    assert online_regie.backend == "systempayv2"
    data = regie_data(online_regie, backend="payfip_ws", options_backend="payfip_ws", option_numcli="123456")
    assert cashier.post(url, data).status_code == 302
    online_regie.refresh_from_db()
    assert online_regie.backend == "payfip_ws"
    assert online_regie.backend_options == {"numcli": "123456"}  # the old backend's keys are gone


def test_options_are_checked(cashier, online_regie):
    url = reverse("backoffice:regie_edit", args=[online_regie.pk])
    page = cashier.get(url).content.decode()
    assert '<select name="option_signature_algo"' in page and "HMAC-SHA-256" in page
    form = cashier.post(url, regie_data(online_regie, option_vads_site_id="1234")).context["form"]
    assert form.errors["option_vads_site_id"] == ["Valeur au mauvais format. 8 chiffres, donnés par la banque."]
    form = cashier.post(url, regie_data(online_regie, test_mode="")).context["form"]
    assert form.errors["option_secret_production"] == [
        "Indiquez la clé de production pour sortir la régie du mode test."
    ]
    data = regie_data(
        online_regie, test_mode="", option_secret_production="Prod42", option_signature_algo="hmac_sha256"
    )
    assert cashier.post(url, data).status_code == 302
    online_regie.refresh_from_db()
    assert not online_regie.test_mode
    assert online_regie.backend_options["signature_algo"] == "hmac_sha256"


def test_the_real_adapter_parameters(cashier):
    pytest.importorskip("portail.payments.backends")
    regie = RegieFactory(
        backend="systempayv2",
        accepted_means=[Means.ONLINE],
        backend_options={"vads_site_id": "12345678", "secret_test": SECRET},
    )
    response = cashier.get(reverse("backoffice:regie_edit", args=[regie.pk]))
    page = response.content.decode()
    assert response.context["form"].option_names  # the adapter's parameters became fields
    assert "12345678" in page
    assert SECRET not in page


def test_regie_rules(cashier, parameters):
    regie = RegieFactory(name="Régie enfance", code="01A", accepted_means=[Means.CHEQUE])
    activity = ActivityFactory(name="Restauration scolaire")
    RegieFactory(name="Régie cantine", code="02B").activities.add(activity)
    url = reverse("backoffice:regie_edit", args=[regie.pk])
    data = regie_data(regie, accepted_means=[Means.ONLINE, Means.CHEQUE], activities=[activity.pk])
    form = cashier.post(url, data).context["form"]
    assert "choisissez le mode de paiement en ligne" in form.errors["accepted_means"][0]
    assert form.errors["activities"] == ["« Restauration scolaire » est déjà encaissée par la régie « Régie cantine »."]
    form = cashier.post(url, regie_data(regie, backend="dummy", options_backend="dummy", test_mode="")).context["form"]
    assert "mode test" in form.errors["test_mode"][0]
    assert Regie.objects.get(pk=regie.pk).backend == ""


def test_regie_form_saves_means_activities_and_cesu_types(cashier, parameters):
    regie = RegieFactory(name="Régie enfance", code="01A", accepted_means=[Means.CHEQUE])
    activity = ActivityFactory(name="Mercredis Pommiers")
    data = regie_data(
        regie,
        accepted_means=[Means.CASH, Means.CHEQUE, Means.CESU],
        activities=[activity.pk],
        cesu_accepted_for=[activity.activity_type_id],
        receipt_prefix="Q",
    )
    response = cashier.post(reverse("backoffice:regie_edit", args=[regie.pk]), data, follow=True)
    assert messages_of(response) == ["La régie « Régie enfance » est enregistrée."]
    regie.refresh_from_db()
    assert regie.accepted_means == [Means.CHEQUE, Means.CASH, Means.CESU]  # the Means order
    assert list(regie.activities.all()) == [activity]
    assert list(regie.cesu_accepted_for.values_list("pk", flat=True)) == [activity.activity_type_id]
    assert regie.receipt_prefix == "Q"
    entry = LogEntry.objects.get(action="regie.changed")
    assert entry.after["activities"] == [activity.pk]


def test_staff_without_a_role_get_nothing(client, household):
    payment = PaymentFactory(household=household)
    client.force_login(StaffFactory())
    assert client.get(reverse("backoffice:payment_detail", args=[payment.pk])).status_code == 403


def test_an_administrator_creates_a_regie_a_cashier_cannot(client):
    from portail.organisations.models import Town

    Town.objects.get_or_create(name="Ville-sur-Test")
    cashier = login(client)
    assert cashier.get(reverse("backoffice:regie_new")).status_code == 403
    admin_client = login(client, roles.ADMINISTRATOR)
    assert "Nouvelle régie" in admin_client.get(reverse("backoffice:regies")).content.decode()
    data = {
        "name": "Régie des sports",
        "code": "SPO",
        "is_active": "on",
        "contact": "",
        "accepted_means": ["online", "cheque"],
        "receipt_prefix": "R",
        "backend": "payfip_ws",
        "options_backend": "payfip_ws",
        "option_numcli": "123456",
        "test_mode": "on",
        "lock_minutes": "30",
        "hold_minutes": "15",
    }
    response = admin_client.post(reverse("backoffice:regie_new"), data)
    assert response.status_code == 302, response.context["form"].errors
    regie = Regie.objects.get(code="SPO")
    assert regie.backend_options == {"numcli": "123456"} and regie.test_mode
    assert LogEntry.objects.filter(action="regie.created", object_id=str(regie.pk)).exists()
