"""Staff invoicing pages: who may see and do what, the run flow (form → preview → issue → result),
the invoice list and page, credit notes and one-off invoices through the forms."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from portail.accounts import roles
from portail.billing.models import CreditNote, Invoice, InvoicingRun
from portail.payments.models import Means
from tests.payment_factories import payment_staff

from .test_invoicing import NOVEMBER, World

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    return World()


@pytest.fixture
def town(world):
    """Two households with November bookings; one of them also booked an activity with no tariff."""
    from portail.catalog.models import PaymentMode, UnitKind
    from portail.enrolments.tests.factories import EnrolmentFactory
    from tests.factories import ActivityFactory, GroupFactory, PeriodFactory, UnitFactory

    ok, ok_guardian, (ok_kid,) = world.family()
    world.book(ok_kid, dt.date(2026, 11, 4))
    world.book(ok_kid, dt.date(2026, 11, 18))
    blocked, _g, (blocked_kid,) = world.family()
    untariffed = ActivityFactory(name="Périscolaire sans grille", payment_mode=PaymentMode.INVOICED)
    evening = UnitFactory(activity=untariffed, name="Soir", kind=UnitKind.EVENING)
    world.regie.activities.add(untariffed)
    EnrolmentFactory(
        child=blocked_kid,
        group=GroupFactory(activity=untariffed),
        activity=untariffed,
        period=PeriodFactory(activity=untariffed),
    )
    world.book(blocked_kid, dt.date(2026, 11, 5), unit=evening)
    world.ok, world.ok_guardian, world.blocked = ok, ok_guardian, blocked
    return world


def login(client, role):
    user = payment_staff(role)
    client.force_login(user)
    return user


def run_params(world, **extra) -> dict:
    today = timezone.localdate()
    return {
        "regie": world.regie.pk,
        "mois": "2026-11",
        "emission": today.isoformat(),
        "echeance": (today + dt.timedelta(days=30)).isoformat(),
        **extra,
    }


def issued_invoice(world) -> Invoice:
    world.run()
    return Invoice.objects.get(household=world.ok)


# --- permissions ------------------------------------------------------------------------------------


def pages(world, invoice, run):
    reads = [
        reverse("backoffice:billing_runs"),
        reverse("backoffice:billing_run_detail", args=[run.pk]),
        reverse("backoffice:billing_invoices"),
        reverse("backoffice:billing_invoice_detail", args=[invoice.pk]),
        reverse("backoffice:billing_household_invoices", args=[world.ok.pk]),
    ]
    writes_get = [
        reverse("backoffice:billing_run_new"),
        reverse("backoffice:billing_run_preview") + "?regie=1&mois=2026-11",
        reverse("backoffice:billing_one_off_invoice", args=[world.ok.pk]),
    ]
    writes_post = [
        reverse("backoffice:billing_run_issue"),
        reverse("backoffice:billing_credit_note_new", args=[invoice.pk]),
        reverse("backoffice:billing_one_off_invoice", args=[world.ok.pk]),
    ]
    return reads, writes_get, writes_post


def test_front_desk_agents_see_no_invoicing_page(client, town):
    invoice = issued_invoice(town)
    reads, writes_get, writes_post = pages(town, invoice, invoice.run)
    login(client, roles.AGENT)
    for url in reads + writes_get:
        assert client.get(url).status_code == 403, url
    for url in writes_post:
        assert client.post(url, run_params(town, motif="x", montant="1")).status_code == 403, url
    assert not CreditNote.objects.exists()


def test_managers_read_but_do_not_issue(client, town):
    invoice = issued_invoice(town)
    reads, writes_get, writes_post = pages(town, invoice, invoice.run)
    login(client, roles.MANAGER)
    for url in reads:
        assert client.get(url).status_code == 200, url
    for url in writes_get:
        assert client.get(url).status_code == 403, url
    for url in writes_post:
        assert client.post(url, run_params(town, motif="x", montant="1")).status_code == 403, url
    page = client.get(reverse("backoffice:billing_invoice_detail", args=[invoice.pk])).content.decode()
    assert "Faire un avoir" not in page
    assert InvoicingRun.objects.count() == 1 and not CreditNote.objects.exists()


def test_anonymous_and_families_are_refused(client, town):
    invoice = issued_invoice(town)
    url = reverse("backoffice:billing_invoice_detail", args=[invoice.pk])
    assert client.get(url).status_code == 302
    client.force_login(town.ok_guardian.user)
    assert client.get(url).status_code == 403


# --- the run flow -----------------------------------------------------------------------------------


def test_new_run_preview_issue_and_result(client, town):
    login(client, roles.CASHIER)
    assert client.get(reverse("backoffice:billing_run_new")).status_code == 200

    preview = client.get(reverse("backoffice:billing_run_preview"), run_params(town))
    page = preview.content.decode()
    assert preview.status_code == 200
    assert town.ok.reference in page and "20,00 €" in page
    assert "Erreurs (1)" in page and town.blocked.reference in page and "Périscolaire sans grille" in page
    assert "Émettre les factures" in page
    assert not Invoice.objects.exists()  # a preview writes nothing

    response = client.post(reverse("backoffice:billing_run_issue"), run_params(town))
    run = InvoicingRun.objects.get()
    assert response.status_code == 302 and response.url == reverse("backoffice:billing_run_detail", args=[run.pk])
    result = client.get(response.url)
    page = result.content.decode()
    invoice = Invoice.objects.get()
    assert invoice.household == town.ok and invoice.number in page
    assert "1 facture émise pour 20,00 €." in [str(m) for m in result.context["messages"]]
    assert town.blocked.reference in page and "Relancer la facturation" in page

    again = client.post(reverse("backoffice:billing_run_issue"), run_params(town), follow=True)
    assert "Aucune nouvelle facture" in again.content.decode()
    assert Invoice.objects.count() == 1


def test_bad_run_form_is_shown_again_with_its_errors(client, town):
    login(client, roles.CASHIER)
    tomorrow = (timezone.localdate() + dt.timedelta(days=1)).isoformat()
    response = client.get(reverse("backoffice:billing_run_preview"), run_params(town, emission=tomorrow))
    assert response.status_code == 200 and "dans le futur" in response.content.decode()
    response = client.post(reverse("backoffice:billing_run_issue"), run_params(town, mois="novembre"))
    assert "AAAA-MM" in response.content.decode() and not InvoicingRun.objects.exists()


# --- invoices ---------------------------------------------------------------------------------------


def test_invoice_list_filters(client, town):
    town.run()
    other = World(code="SPO", town=town.town)
    _h, _g, (kid,) = other.family()
    other.book(kid, dt.date(2026, 11, 4))
    other.run()
    login(client, roles.MANAGER)
    url = reverse("backoffice:billing_invoices")
    assert client.get(url).context["page"].paginator.count == 2
    assert client.get(url, {"regie": other.regie.pk}).context["page"].paginator.count == 1
    assert client.get(url, {"mois": "2026-10"}).context["page"].paginator.count == 0
    assert client.get(url, {"mois": "2026-11"}).context["page"].paginator.count == 2
    response = client.get(url, {"foyer": town.ok.reference})
    assert [i.household_id for i in response.context["page"].object_list] == [town.ok.pk]
    assert client.get(url, {"foyer": town.ok_guardian.last_name}).context["page"].paginator.count == 1


def test_invoice_list_queries_do_not_grow_with_invoices(client, world, django_assert_max_num_queries):
    for _ in range(12):
        _h, _g, (kid,) = world.family()
        world.book(kid, dt.date(2026, 11, 4))
    world.run()
    login(client, roles.MANAGER)
    with django_assert_max_num_queries(12):
        assert client.get(reverse("backoffice:billing_invoices")).status_code == 200


def test_invoice_page_and_credit_notes(client, town):
    invoice = issued_invoice(town)
    user = login(client, roles.CASHIER)
    url = reverse("backoffice:billing_invoice_detail", args=[invoice.pk])
    page = client.get(url).content.decode()
    assert invoice.number in page and "Faire un avoir" in page and "mercredi 4 novembre 2026" in page
    post = reverse("backoffice:billing_credit_note_new", args=[invoice.pk])

    # Neither an amount nor lines; both; more than the invoice: refused, the form is shown again.
    assert client.post(post, {"motif": "Erreur"}).status_code == 400
    line = invoice.lines.order_by("service_date").first()
    both = client.post(post, {"motif": "Erreur", "montant": "5", f"ligne_{line.pk}": "5"})
    assert both.status_code == 400 and "pas les deux" in both.content.decode()
    over = client.post(post, {"motif": "Erreur", "montant": "25"})
    assert over.status_code == 400 and "20,00 €" in over.content.decode()
    assert not CreditNote.objects.exists()

    response = client.post(post, {"motif": "Absence justifiée", f"ligne_{line.pk}": "10,00"})
    assert response.status_code == 302 and response.url == url
    note = CreditNote.objects.get()
    assert note.total_cents == 1000 and note.created_by == user and note.lines.get().invoice_line == line
    assert note.payment.means == Means.CREDIT_NOTE
    page = client.get(url).content.decode()
    assert f"Avoir n° {note.number}" in page and "Reste dû 10,00 €" in page

    client.post(post, {"motif": "Geste commercial", "montant": "10"})
    assert CreditNote.objects.count() == 2
    assert "Faire un avoir" not in client.get(url).content.decode()  # fully credited


# --- a household's invoices and a one-off invoice ----------------------------------------------------


def test_household_invoices_and_one_off_invoice(client, town):
    town.run()
    login(client, roles.CASHIER)
    page = client.get(reverse("backoffice:billing_household_invoices", args=[town.ok.pk])).content.decode()
    assert Invoice.objects.get(household=town.ok).number in page and "Facture ponctuelle" in page

    url = reverse("backoffice:billing_one_off_invoice", args=[town.ok.pk])
    assert client.get(url).status_code == 200
    bad = client.post(url, {"regie": town.regie.pk, "libelle": "Badge", "montant": "0", "echeance": "2030-01-01"})
    assert bad.status_code == 200 and "zéro" in bad.content.decode()
    due = (timezone.localdate() + dt.timedelta(days=30)).isoformat()
    response = client.post(
        url, {"regie": town.regie.pk, "libelle": "Remplacement du badge", "montant": "5,50", "echeance": due}
    )
    invoice = Invoice.objects.get(run__isnull=True)
    assert response.status_code == 302
    assert response.url == reverse("backoffice:billing_invoice_detail", args=[invoice.pk])
    assert (invoice.household, invoice.total_cents, invoice.lines.get().label) == (
        town.ok,
        550,
        "Remplacement du badge",
    )
    assert invoice.month == NOVEMBER.replace(month=timezone.localdate().month, year=timezone.localdate().year)
