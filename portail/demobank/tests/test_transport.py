"""The in-process HTTP transport: requests answered by Django in the same thread, never by the network."""

import pytest
import requests
from django.db import connection
from django.test import Client
from django.urls import get_urlconf
from django.utils import translation

from portail.demobank import transport
from portail.demobank.tests.helpers import enable_demo_bank
from portail.payments.models import Regie

pytestmark = pytest.mark.django_db


@pytest.fixture
def received(settings):
    return enable_demo_bank(settings)


def test_post_in_process_reaches_the_view(received):
    response = transport.post_in_process("http://testserver/test-notify/7/?from=bank", {"a": "1", "é": "ü"})
    assert response.status_code == 200
    assert response.text == "OK"
    assert response.headers["Content-Type"].startswith("text/plain")
    (entry,) = received
    assert entry["method"] == "POST"
    assert entry["regie_id"] == 7
    assert entry["query_string"] == "from=bank"
    assert entry["body"] == "a=1&%C3%A9=%C3%BC"
    assert entry["content_type"] == "application/x-www-form-urlencoded"
    assert entry["host"] == "testserver"
    assert entry["remote_addr"] == "127.0.0.1"


def test_get_in_process_with_port_and_localhost(received):
    response = transport.post_in_process("http://127.0.0.1:8000/test-notify/", {"x": "1"}, method="GET")
    assert response.status_code == 200
    assert received[-1]["method"] == "GET"
    assert received[-1]["query_string"] == "x=1"
    assert received[-1]["host"] == "127.0.0.1:8000"
    with transport.in_process_session() as session:
        assert session.get("http://localhost/test-notify/?y=2").status_code == 200
    assert received[-1]["query_string"] == "y=2"


def test_redirects_and_errors_are_responses(received):
    assert transport.post_in_process("http://testserver/nowhere/", {}).status_code == 404
    response = transport.post_in_process("http://testserver/test-boom/", {}, method="GET")
    assert response.status_code == 500


@pytest.mark.parametrize(
    "url", ["https://www.payfip.gouv.fr/tpa/services/securite", "http://203.0.113.1/x", "ftp://testserver/x"]
)
def test_non_local_urls_are_refused(received, url):
    with pytest.raises(transport.OutsideURLError):
        transport.post_in_process(url, {"a": "1"})
    with pytest.raises(requests.RequestException):
        transport.in_process_session().get(url)
    assert received == []


def test_the_demo_bank_host_is_local(settings):
    settings.PAYMENT_DEMO_BANK_BASE_URL = "http://portail.example.test:8000"
    assert transport.is_local_url("http://portail.example.test:8000/x")
    assert transport.is_local_url("http://localhost/x")
    assert not transport.is_local_url("http://example.test/x")


def test_nested_call_inside_a_request(received):
    response = Client(enforce_csrf_checks=True).post("/test-relay/")
    assert response.content == b"relayed 200 OK"
    assert received[-1]["body"] == "nested=1"


def test_thread_state_and_database_connection_survive(received):
    regie_count = Regie.objects.count()
    before = connection.connection
    with translation.override("fr"):
        transport.post_in_process("http://testserver/test-notify/", {})
        assert translation.get_language() == "fr"
    assert get_urlconf() is None
    assert connection.connection is before  # not closed by a request_finished signal
    assert Regie.objects.count() == regie_count
