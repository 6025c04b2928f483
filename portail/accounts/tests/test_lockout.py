"""QUALITY S3 / T6: 10 failures per account in 15 minutes lock it for 15 minutes, with the
same message for a wrong, an unknown and a locked account, for e-mails and child codes alike."""

import pytest
from axes.models import AccessAttempt, AccessFailureLog

from portail.accounts.codes import normalize_code
from portail.accounts.services import issue_access_codes
from portail.core.audit import Channel
from tests.factories import make_family

from .factories import GENERIC_ERROR, logged_in_user_id, move_axes_clock, post_code_login, post_email_login

pytestmark = pytest.mark.django_db


def fail_email(client, email, times=10):
    for _ in range(times):
        response = post_email_login(client, email, "wrong-password-here")
        assert GENERIC_ERROR in response.content.decode()


def test_ten_failures_then_the_right_password_is_refused(client):
    _, guardian, _ = make_family()
    fail_email(client, guardian.user.email)
    response = post_email_login(client, guardian.user.email)
    assert response.status_code == 200
    assert GENERIC_ERROR in response.content.decode()
    assert logged_in_user_id(client) is None


def test_nine_failures_do_not_lock_the_account(client):
    _, guardian, _ = make_family()
    fail_email(client, guardian.user.email, times=9)
    post_email_login(client, guardian.user.email)
    assert logged_in_user_id(client) == str(guardian.user.pk)


def test_lock_is_per_account_not_per_address(client):
    _, locked, _ = make_family()
    _, other, _ = make_family()
    fail_email(client, locked.user.email)
    post_email_login(client, other.user.email)
    assert logged_in_user_id(client) == str(other.user.pk)


def test_the_right_password_is_accepted_again_after_fifteen_minutes(client):
    _, guardian, _ = make_family()
    fail_email(client, guardian.user.email)
    post_email_login(client, guardian.user.email)
    move_axes_clock(minutes=14)
    post_email_login(client, guardian.user.email)
    assert logged_in_user_id(client) is None
    move_axes_clock(minutes=2)
    post_email_login(client, guardian.user.email)
    assert logged_in_user_id(client) == str(guardian.user.pk)


def test_attempts_during_the_lock_do_not_extend_it(client):
    _, guardian, _ = make_family()
    fail_email(client, guardian.user.email)
    move_axes_clock(minutes=10)
    fail_email(client, guardian.user.email, times=3)
    move_axes_clock(minutes=6)
    post_email_login(client, guardian.user.email)
    assert logged_in_user_id(client) == str(guardian.user.pk)


def test_unknown_and_locked_accounts_get_the_same_message(client):
    _, guardian, _ = make_family()
    fail_email(client, guardian.user.email)
    locked = post_email_login(client, guardian.user.email).content.decode()
    unknown = post_email_login(client, "personne@example.org", "whatever-password").content.decode()
    assert GENERIC_ERROR in locked and GENERIC_ERROR in unknown
    assert locked.count("error-summary") == unknown.count("error-summary") == 1


def test_unknown_accounts_are_locked_too(client):
    fail_email(client, "personne@example.org")
    assert AccessAttempt.objects.get(username="personne@example.org").failures_since_start == 10


def test_success_clears_earlier_failures(client):
    _, guardian, _ = make_family()
    fail_email(client, guardian.user.email, times=5)
    post_email_login(client, guardian.user.email)
    assert logged_in_user_id(client) == str(guardian.user.pk)
    assert not AccessAttempt.objects.filter(username=guardian.user.email).exists()


def test_ten_wrong_payer_codes_then_the_right_codes_are_refused(client):
    _, payer, (child,) = make_family()
    child_code, payer_code = issue_access_codes(child=child, actor=None, channel=Channel.SYSTEM)
    for _ in range(10):
        assert GENERIC_ERROR in post_code_login(client, child_code, "ZZZZ-ZZZZ").content.decode()
    response = post_code_login(client, child_code, payer_code)
    assert GENERIC_ERROR in response.content.decode()
    assert logged_in_user_id(client) is None
    move_axes_clock(minutes=16)
    post_code_login(client, child_code, payer_code)
    assert logged_in_user_id(client) == str(payer.user.pk)
    # Success also clears the failures counted on the child code.
    assert not AccessAttempt.objects.exists()


def test_axes_records_never_hold_a_code_in_clear(client):
    _, _, (child,) = make_family()
    child_code, _ = issue_access_codes(child=child, actor=None, channel=Channel.SYSTEM)
    post_code_login(client, child_code, "ZZZZ-ZZZZ")
    attempt = AccessAttempt.objects.get()
    stored = attempt.username + attempt.post_data + attempt.get_data
    stored += "".join(log.username or "" for log in AccessFailureLog.objects.all())
    assert normalize_code(child_code) not in stored.upper().replace("-", "")
    assert "ZZZZ" not in stored


def test_unknown_child_code_gets_the_same_page_as_a_locked_one(client):
    _, _, (child,) = make_family()
    child_code, _ = issue_access_codes(child=child, actor=None, channel=Channel.SYSTEM)
    for _ in range(11):
        locked = post_code_login(client, child_code, "ZZZZ-ZZZZ").content.decode()
    unknown = post_code_login(client, "ABCD-EFGH", "ZZZZ-ZZZZ").content.decode()
    assert GENERIC_ERROR in locked and GENERIC_ERROR in unknown
