import pytest
from django.urls import reverse

from portail.accounts.codes import ALPHABET, child_code_digest, normalize_code
from portail.accounts.models import AccessCode, User
from portail.accounts.services import issue_access_codes, revoke_access_codes
from portail.core.audit import Channel
from portail.core.errors import BusinessError
from portail.core.models import LogEntry
from tests.factories import ChildFactory, GuardianFactory, HouseholdFactory, StaffFactory, UserFactory, make_family

from .factories import GENERIC_ERROR, logged_in_user_id, post_code_login

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent():
    return StaffFactory(role="Agent d'accueil")


def test_generated_codes_are_two_groups_of_four_unambiguous_characters(agent):
    _, _, (child,) = make_family()
    child_code, payer_code = issue_access_codes(child=child, actor=agent, channel=Channel.STAFF)
    for code in (child_code, payer_code):
        assert len(code) == 9 and code[4] == "-"
        assert set(code.replace("-", "")) <= set(ALPHABET)
    assert child_code != payer_code


def test_codes_are_never_stored_or_logged_in_clear(agent):
    _, _, (child,) = make_family()
    child_code, payer_code = issue_access_codes(child=child, actor=agent, channel=Channel.STAFF)
    code = AccessCode.objects.get(child=child)
    assert code.child_code_digest == child_code_digest(child_code)
    assert normalize_code(child_code) not in code.child_code_digest
    assert code.payer_code_hash.startswith("argon2$argon2id$")
    assert normalize_code(payer_code) not in code.payer_code_hash
    entry = LogEntry.objects.get(action="access_codes.issued")
    dumped = str(entry.before) + str(entry.after) + entry.message
    assert normalize_code(child_code) not in dumped and normalize_code(payer_code) not in dumped
    assert entry.actor == agent and entry.channel == Channel.STAFF and entry.household == child.household


def test_child_codes_open_the_household_as_the_payer(client, agent):
    household, payer, (child,) = make_family()
    GuardianFactory(household=household, is_payer=False)
    child_code, payer_code = issue_access_codes(child=child, actor=agent, channel=Channel.STAFF)
    response = post_code_login(client, child_code, payer_code)
    assert response.status_code == 302 and response["Location"] == reverse("portal:home")
    assert logged_in_user_id(client) == str(payer.user.pk)
    assert AccessCode.objects.get(child=child).last_used_at is not None
    # The session survives the next request (the code backend can load the user).
    assert client.get(reverse("portal:home")).context["user"] == payer.user


def test_codes_are_accepted_in_lower_case_with_or_without_dash(client, agent):
    _, payer, (child,) = make_family()
    child_code, payer_code = issue_access_codes(child=child, actor=agent, channel=Channel.STAFF)
    post_code_login(client, child_code.replace("-", " ").lower(), payer_code.replace("-", "").lower())
    assert logged_in_user_id(client) == str(payer.user.pk)


def test_wrong_payer_code_is_refused_with_the_generic_message(client, agent):
    _, _, (child,) = make_family()
    child_code, _ = issue_access_codes(child=child, actor=agent, channel=Channel.STAFF)
    response = post_code_login(client, child_code, "ZZZZ-ZZZZ")
    assert GENERIC_ERROR in response.content.decode()
    assert logged_in_user_id(client) is None


def test_unknown_child_code_is_refused_with_the_generic_message(client):
    response = post_code_login(client, "ABCD-EFGH", "ABCD-EFGH")
    assert GENERIC_ERROR in response.content.decode()
    assert logged_in_user_id(client) is None


def test_issuing_new_codes_revokes_the_previous_ones(client, agent):
    _, payer, (child,) = make_family()
    old = issue_access_codes(child=child, actor=agent, channel=Channel.STAFF)
    new = issue_access_codes(child=child, actor=agent, channel=Channel.STAFF)
    assert AccessCode.objects.filter(child=child).count() == 2
    assert AccessCode.objects.active().filter(child=child).count() == 1
    post_code_login(client, *old)
    assert logged_in_user_id(client) is None
    post_code_login(client, *new)
    assert logged_in_user_id(client) == str(payer.user.pk)


def test_revoked_codes_no_longer_open_the_household(client, agent):
    _, _, (child,) = make_family()
    codes = issue_access_codes(child=child, actor=agent, channel=Channel.STAFF)
    assert revoke_access_codes(child=child, actor=agent, channel=Channel.STAFF) == 1
    post_code_login(client, *codes)
    assert logged_in_user_id(client) is None
    entry = LogEntry.objects.get(action="access_codes.revoked")
    assert entry.actor == agent and entry.household == child.household


def test_revoking_without_active_codes_changes_nothing(agent):
    _, _, (child,) = make_family()
    assert revoke_access_codes(child=child, actor=agent, channel=Channel.STAFF) == 0
    assert not LogEntry.objects.filter(action="access_codes.revoked").exists()


def test_payer_without_user_gets_one_without_password_and_with_their_free_email(agent):
    household = HouseholdFactory()
    payer = GuardianFactory(household=household, user=None, email="sans.compte@example.org")
    child = ChildFactory(household=household)
    issue_access_codes(child=child, actor=agent, channel=Channel.STAFF)
    payer.refresh_from_db()
    assert payer.user is not None
    assert payer.user.email == "sans.compte@example.org"
    assert not payer.user.has_usable_password()
    assert payer.user.is_active and not payer.user.is_staff


def test_payer_whose_email_is_taken_gets_a_user_without_email(agent):
    UserFactory(email="pris@example.org")
    household = HouseholdFactory()
    payer = GuardianFactory(household=household, user=None, email="pris@example.org")
    child = ChildFactory(household=household)
    issue_access_codes(child=child, actor=agent, channel=Channel.STAFF)
    payer.refresh_from_db()
    assert payer.user.email is None
    assert User.objects.filter(email="pris@example.org").count() == 1


def test_codes_open_a_household_whose_payer_has_no_email(client, agent):
    household = HouseholdFactory()
    GuardianFactory(household=household, user=None, email="")
    child = ChildFactory(household=household)
    codes = issue_access_codes(child=child, actor=agent, channel=Channel.STAFF)
    post_code_login(client, *codes)
    assert logged_in_user_id(client) is not None
    assert client.get(reverse("portal:home")).context["household"] == household


def test_household_without_payer_cannot_get_codes(agent):
    household = HouseholdFactory()
    GuardianFactory(household=household, is_payer=False)
    child = ChildFactory(household=household)
    with pytest.raises(BusinessError):
        issue_access_codes(child=child, actor=agent, channel=Channel.STAFF)
    assert not AccessCode.objects.exists()


def test_explicit_codes_for_the_demo_town_work_as_given(client):
    _, payer, (child,) = make_family()
    returned = issue_access_codes(
        child=child, actor=None, channel=Channel.SYSTEM, child_code="DEMO-0001", payer_code="123456"
    )
    assert returned == ("DEMO-0001", "123456")
    post_code_login(client, "demo0001", "123456")
    assert logged_in_user_id(client) == str(payer.user.pk)


def test_an_explicit_child_code_already_given_to_another_child_is_refused():
    _, _, (child_a,) = make_family()
    _, _, (child_b,) = make_family()
    issue_access_codes(child=child_a, actor=None, channel=Channel.SYSTEM, child_code="DEMO-0001", payer_code="111111")
    with pytest.raises(BusinessError):
        issue_access_codes(
            child=child_b, actor=None, channel=Channel.SYSTEM, child_code="demo0001", payer_code="2222222"
        )
    assert not AccessCode.objects.filter(child=child_b).exists()


def test_malformed_explicit_codes_are_refused():
    _, _, (child,) = make_family()
    with pytest.raises(BusinessError):
        issue_access_codes(child=child, actor=None, channel=Channel.SYSTEM, child_code="AB", payer_code="123456")


def test_codes_never_open_a_staff_account(client):
    household = HouseholdFactory()
    staff_parent = StaffFactory(role="Administrateur")
    GuardianFactory(household=household, user=staff_parent, email=staff_parent.email)
    child = ChildFactory(household=household)
    codes = issue_access_codes(child=child, actor=None, channel=Channel.SYSTEM)
    post_code_login(client, *codes)
    assert logged_in_user_id(client) is None


def test_codes_follow_the_current_payer(client):
    household, old_payer, (child,) = make_family()
    codes = issue_access_codes(child=child, actor=None, channel=Channel.SYSTEM)
    old_payer.is_payer = False
    old_payer.save()
    new_payer = GuardianFactory(household=household, is_payer=True)
    post_code_login(client, *codes)
    assert logged_in_user_id(client) == str(new_payer.user.pk)


def test_code_login_honours_a_safe_next(client):
    _, _, (child,) = make_family()
    codes = issue_access_codes(child=child, actor=None, channel=Channel.SYSTEM)
    response = post_code_login(client, *codes, next="/famille/")
    assert response["Location"] == "/famille/"
