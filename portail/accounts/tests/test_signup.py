import pytest
from django.core import mail
from django.urls import reverse

from portail.accounts.models import User
from portail.core.models import LogEntry
from portail.households.models import (
    ChangeRequest,
    Child,
    Guardian,
    Household,
    HouseholdStatus,
    RequestKind,
    RequestStatus,
)
from tests.factories import HouseholdFactory, TownFactory, UserFactory

from .factories import logged_in_user_id

pytestmark = pytest.mark.django_db
PASSWORD = "le chat dort sur le canapé"


def signup_data(children=1, **overrides):
    data = {
        "civility": "mme",
        "first_name": "Léa",
        "last_name": "Durand",
        "relationship": "mère",
        "email": "lea.durand@example.org",
        "mobile_phone": "06 12 34 56 78",
        "address_line1": "3 rue des Lilas",
        "address_line2": "",
        "postcode": "75011",
        "city": "Ville-sur-Test",
        "password1": PASSWORD,
        "password2": PASSWORD,
        "enfants-TOTAL_FORMS": str(max(children, 1)),
        "enfants-INITIAL_FORMS": "0",
        "enfants-MIN_NUM_FORMS": "0",
        "enfants-MAX_NUM_FORMS": "4",
    }
    names = ["Tom", "Zoé", "Lou", "Noé"]
    for i in range(children):
        data.update(
            {
                f"enfants-{i}-first_name": names[i],
                f"enfants-{i}-last_name": "Durand",
                f"enfants-{i}-birth_date": f"201{i + 6}-03-0{i + 1}",
                f"enfants-{i}-sex": "M" if i % 2 == 0 else "F",
            }
        )
    data.update(overrides)
    return data


def signup(client, django_capture_on_commit_callbacks, **kwargs):
    with django_capture_on_commit_callbacks(execute=True):
        return client.post(reverse("accounts:signup"), signup_data(**kwargs))


def test_signup_page_shows_one_child_row_by_default(client):
    response = client.get(reverse("accounts:signup"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "enfants-0-first_name" in html and "enfants-1-first_name" not in html
    assert "Ajouter un enfant" in html


def test_signup_creates_a_pending_household_with_payer_children_and_request(client, django_capture_on_commit_callbacks):
    TownFactory(email="enfance@ville.fr")
    HouseholdFactory(reference="F000041")
    response = signup(client, django_capture_on_commit_callbacks, children=2)
    assert response.status_code == 302 and response["Location"] == reverse("portal:home")

    user = User.objects.get(email="lea.durand@example.org")
    assert user.is_active and not user.is_staff and user.check_password(PASSWORD)
    guardian = Guardian.objects.get(user=user)
    household = guardian.household
    assert household.status == HouseholdStatus.PENDING
    assert household.reference == "F000042"
    assert guardian.is_payer and guardian.first_name == "Léa" and guardian.postcode == "75011"
    assert sorted(Child.objects.filter(household=household).values_list("first_name", flat=True)) == ["Tom", "Zoé"]
    change_request = ChangeRequest.objects.get(household=household)
    assert change_request.kind == RequestKind.SIGNUP
    assert change_request.status == RequestStatus.PENDING
    assert change_request.submitted_by == user
    assert LogEntry.objects.filter(action="household.signup", household=household, actor=user).exists()

    # Logged in, and told the account awaits validation.
    assert logged_in_user_id(client) == str(user.pk)
    home = client.get(reverse("portal:home")).content.decode()
    assert "en attente de validation" in home

    family_mail, town_mail = mail.outbox
    assert family_mail.to == ["lea.durand@example.org"] and "F000042" in family_mail.body
    assert town_mail.to == ["enfance@ville.fr"] and "DURAND" in town_mail.subject
    assert reverse("backoffice:requests") in town_mail.body


def test_signup_without_children_is_accepted(client, django_capture_on_commit_callbacks):
    data_kwargs = {"children": 0}
    response = signup(client, django_capture_on_commit_callbacks, **data_kwargs)
    assert response.status_code == 302
    assert Household.objects.get().children.count() == 0


def test_no_town_email_means_only_the_family_is_mailed(client, django_capture_on_commit_callbacks):
    TownFactory(email="")
    signup(client, django_capture_on_commit_callbacks)
    assert [m.to for m in mail.outbox] == [["lea.durand@example.org"]]


def nothing_created():
    return not Household.objects.exists() and not User.objects.exists() and not ChangeRequest.objects.exists()


@pytest.mark.parametrize(
    "overrides",
    [
        {"password1": "onze-caract", "password2": "onze-caract"},
        {"password1": "motdepasse123", "password2": "motdepasse123"},
        {"password2": "une autre phrase de passe"},
        {"email": "pas-une-adresse"},
        {"postcode": "7501"},
        {"mobile_phone": "12"},
        {"enfants-0-birth_date": ""},
        {"enfants-0-birth_date": "2099-01-01"},
        {"enfants-0-sex": ""},
    ],
)
def test_invalid_signup_saves_nothing(client, django_capture_on_commit_callbacks, overrides):
    response = signup(client, django_capture_on_commit_callbacks, **overrides)
    assert response.status_code == 200
    assert "rien n'a été enregistré" in response.content.decode()
    assert nothing_created()
    assert mail.outbox == []


def test_email_already_used_is_refused_with_a_way_out(client, django_capture_on_commit_callbacks):
    UserFactory(email="lea.durand@example.org")
    response = signup(client, django_capture_on_commit_callbacks, email="Lea.Durand@example.org")
    assert "Un compte existe déjà" in response.content.decode()
    assert not Household.objects.exists()


def test_add_child_button_redisplays_the_form_with_one_more_row_and_saves_nothing(client):
    data = signup_data(children=1)
    data["add_child"] = "1"
    response = client.post(reverse("accounts:signup"), data)
    html = response.content.decode()
    assert response.status_code == 200
    assert 'value="Tom"' in html and 'value="Durand"' in html
    assert "enfants-1-first_name" in html
    assert PASSWORD not in html
    assert "rien n'a été enregistré" not in html
    assert nothing_created()


def test_second_round_after_adding_a_row_creates_both_children(client, django_capture_on_commit_callbacks):
    data = signup_data(children=2)
    data["enfants-INITIAL_FORMS"] = "1"  # what the re-displayed form posts back
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("accounts:signup"), data)
    assert Child.objects.count() == 2


def test_an_empty_extra_row_is_ignored(client, django_capture_on_commit_callbacks):
    data = signup_data(children=1)
    data["enfants-TOTAL_FORMS"] = "2"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("accounts:signup"), data)
    assert response.status_code == 302
    assert Child.objects.count() == 1


def test_logged_in_user_is_sent_home(client):
    client.force_login(UserFactory())
    assert client.get(reverse("accounts:signup"))["Location"] == reverse("portal:home")
