"""In-process HTTP: requests sent to this very Django site are answered by calling Django directly.

The demo bank notifies the portal (IPN, urlcl, urlnotif) and the payment adapter calls the demo
PayFiP SOAP service. Over real sockets that would deadlock a single-threaded runserver (the
request that calls waits for itself) and would need a listening server in tests. Instead a
`requests` adapter turns the PreparedRequest into a WSGI environ and runs it through Django's
request handler in the same thread, on the same database connection (so it also works inside a
transaction-wrapped test and inside a running request).

Only local hosts are dispatched (127.0.0.1, localhost, ::1, testserver and the host of
settings.PAYMENT_DEMO_BANK_BASE_URL); anything else raises OutsideURLError: the demo bank never
calls the internet.
"""

import io
import logging
import sys
from http import HTTPStatus
from urllib.parse import unquote_to_bytes, urlsplit

import requests
from django.conf import settings
from django.core.handlers.base import BaseHandler
from django.core.handlers.wsgi import WSGIRequest, get_script_name
from django.urls import get_script_prefix, get_urlconf, set_script_prefix, set_urlconf
from django.utils import translation
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
ALWAYS_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "testserver"})


class OutsideURLError(requests.exceptions.InvalidURL):
    """The URL is not this site: the demo bank and its transport never leave the machine."""


def demo_bank_base_url() -> str:
    return (getattr(settings, "PAYMENT_DEMO_BANK_BASE_URL", "") or DEFAULT_BASE_URL).rstrip("/")


def local_hosts() -> set[str]:
    hosts = set(ALWAYS_LOCAL_HOSTS)
    base_host = urlsplit(demo_bank_base_url()).hostname
    if base_host:
        hosts.add(base_host.lower())
    return hosts


def is_local_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and (parts.hostname or "").lower() in local_hosts()


class _InProcessHandler(BaseHandler):
    """Django's request handler without the WSGI server around it (and without the
    request_started/request_finished signals, whose close_old_connections would close the
    database connection the calling request or test is still using)."""

    def __init__(self):
        super().__init__()
        self.load_middleware()


def _environ(request: requests.PreparedRequest, body: bytes) -> dict:
    parts = urlsplit(request.url)
    scheme = parts.scheme
    port = parts.port or (443 if scheme == "https" else 80)
    host_header = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
    if parts.hostname and ":" in parts.hostname:  # IPv6 literal
        host_header = f"[{parts.hostname}]" + (f":{parts.port}" if parts.port else "")
    environ = {
        "REQUEST_METHOD": (request.method or "GET").upper(),
        "SCRIPT_NAME": "",
        # WSGI servers pass the path unquoted, as latin-1 text (PEP 3333).
        "PATH_INFO": unquote_to_bytes(parts.path or "/").decode("iso-8859-1"),
        "QUERY_STRING": parts.query,
        "SERVER_NAME": parts.hostname or "localhost",
        "SERVER_PORT": str(port),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scheme,
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name, value in (request.headers or {}).items():
        key = name.upper().replace("-", "_")
        if key == "CONTENT_TYPE":
            environ["CONTENT_TYPE"] = value
        elif key in ("CONTENT_LENGTH", "HOST"):
            continue
        else:
            environ[f"HTTP_{key}"] = value
    environ["HTTP_HOST"] = host_header
    return environ


def _body_bytes(body) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    if hasattr(body, "read"):
        return body.read()
    return b"".join(chunk if isinstance(chunk, bytes) else str(chunk).encode("utf-8") for chunk in body)


def dispatch(request: requests.PreparedRequest) -> requests.Response:
    """Run one request through Django in this thread and return it as a requests.Response."""
    if not is_local_url(request.url):
        raise OutsideURLError(f"In-process transport refuses a non-local URL: {request.url}")
    body = _body_bytes(request.body)
    environ = _environ(request, body)
    # The nested request changes thread-local state (URLconf, script prefix, active language):
    # put back what the calling request had.
    previous_urlconf = get_urlconf()
    previous_prefix = get_script_prefix()
    with translation.override(translation.get_language()):
        try:
            set_script_prefix(get_script_name(environ))
            django_request = WSGIRequest(environ)
            django_response = _InProcessHandler().get_response(django_request)
            if django_response.streaming:
                content = b"".join(django_response.streaming_content)
            else:
                content = django_response.content
            # Not response.close(): it would send request_finished (see _InProcessHandler).
            django_request.close()
        finally:
            set_urlconf(previous_urlconf)
            set_script_prefix(previous_prefix)

    response = requests.Response()
    response.status_code = django_response.status_code
    response.reason = django_response.reason_phrase or HTTPStatus(django_response.status_code).phrase
    response.headers = CaseInsensitiveDict(dict(django_response.items()))
    for name, morsel in django_response.cookies.items():
        response.cookies.set(name, morsel.value)
    response._content = content
    response._content_consumed = True
    response.raw = io.BytesIO(content)
    response.encoding = get_encoding_from_headers(response.headers)
    response.url = request.url
    response.request = request
    return response


class InProcessAdapter(BaseAdapter):
    """A requests transport adapter that answers from this Django site, never from the network."""

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        response = dispatch(request)
        response.connection = self
        return response

    def close(self):
        pass


def in_process_session() -> requests.Session:
    """A requests.Session whose every http(s) call is dispatched in-process (or refused)."""
    session = requests.Session()
    session.trust_env = False  # no proxy, no .netrc: nothing from the environment
    adapter = InProcessAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def post_in_process(url: str, data, *, method: str = "POST", headers: dict | None = None) -> requests.Response:
    """What the demo bank uses to notify the portal: a form POST (or GET) answered in-process.

    Redirects are not followed (a bank does not follow them). Raises OutsideURLError for a
    non-local URL.
    """
    if not is_local_url(url):
        raise OutsideURLError(f"In-process transport refuses a non-local URL: {url}")
    with in_process_session() as session:
        if method.upper() == "GET":
            response = session.get(url, params=data, headers=headers, allow_redirects=False)
        else:
            response = session.request(method.upper(), url, data=data, headers=headers, allow_redirects=False)
    if response.status_code >= 400:
        logger.warning("In-process %s %s answered HTTP %s", method.upper(), url, response.status_code)
    return response
