"""Shared helpers of the PostgreSQL concurrency tests: a real multi-process web server on the test database.

`run_gunicorn()` starts gunicorn from the venv (sync workers, like production) on the database the
test process uses (pytest-django's test_<name>), on a listening socket this process created and
passes down (no free-port race). Tests must use `django_db(transaction=True)` so that what they
write is committed and seen by the server. `worker_init` is Python source run in every worker
after the application is loaded: the negative controls use it to switch a lock off there.

Why gunicorn and not pytest-django's `live_server`: the live server is Django's threaded WSGI
server inside the test process. It opens one database connection per request thread (200 parallel
requests would exceed PostgreSQL's default max_connections of 100), listens with a backlog of 10
(the other connection attempts are dropped and retried by the kernel after 1 s) and shares the GIL
with the 200 client threads. gunicorn with a few sync workers is what production runs: excess
requests wait in the listen queue, not in PostgreSQL's lock queue.
"""

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class LiveServer:
    host: str
    port: int
    log_path: Path
    process: subprocess.Popen

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def database_url() -> str:
    """The URL of the database this process is connected to (the test database once it is set up)."""
    from django.db import connection

    db = connection.settings_dict
    password = f":{quote(db['PASSWORD'], safe='')}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{quote(db['USER'] or 'postgres', safe='')}{password}@{host}:{port}/{db['NAME']}"


def _wait_until_serving(server: LiveServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"gunicorn stopped at start-up:\n{server.log_tail()}")
        try:
            conn = http.client.HTTPConnection(server.host, server.port, timeout=5)
            conn.request("GET", "/")
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer within {timeout} s:\n{server.log_tail()}")


@contextlib.contextmanager
def run_gunicorn(*, log_dir: Path, workers: int = 4, worker_init: str = "", extra_env: dict | None = None):
    """Yield a LiveServer (gunicorn, `workers` sync workers) on the current test database; stop it after."""
    from django.conf import settings

    log_dir.mkdir(parents=True, exist_ok=True)
    config = log_dir / "gunicorn_conf.py"
    hook = textwrap.indent(textwrap.dedent(worker_init).strip() or "pass", "    ")
    config.write_text(
        "def when_ready(server):\n"
        "    # Import every URLconf and view once in the master, before the workers fork.\n"
        "    from django.urls import get_resolver\n"
        "    get_resolver().url_patterns\n\n\n"
        "def post_worker_init(worker):\n" + hook + "\n",
        encoding="utf-8",
    )
    log_path = log_dir / "gunicorn.log"
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(2048)
    host, port = listener.getsockname()
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_DEBUG": "0",
        # Plain HTTP on loopback: no HTTPS redirect and no Secure-only cookies (TLS is the proxy's job).
        "PORTAIL_SECURE": "0",
        # The same key as the test process, which writes the session rows the clients use.
        "DJANGO_SECRET_KEY": settings.SECRET_KEY,
        "DJANGO_EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
        # A refused booking is a 409 by design: keep django.request's warning per 4xx out of the output.
        "PORTAIL_LOG_LEVEL": "ERROR",
        **(extra_env or {}),
    }
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "config.wsgi:application",
        "--bind",
        f"fd://{listener.fileno()}",
        "--workers",
        str(workers),
        "--worker-class",
        "sync",
        "--preload",
        "--timeout",
        "120",
        "--graceful-timeout",
        "5",
        "--config",
        str(config),
        "--error-logfile",
        str(log_path),
        "--log-level",
        "warning",
    ]
    output = log_path.open("ab")
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, pass_fds=(listener.fileno(),), stdout=output, stderr=subprocess.STDOUT
    )
    server = LiveServer(host=host, port=port, log_path=log_path, process=process)
    try:
        _wait_until_serving(server, timeout=60)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGQUIT)  # quick shutdown: the workers exit and close their connections
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        listener.close()
        output.close()


@pytest.fixture(scope="module")
def live_gunicorn(django_db_setup, tmp_path_factory):
    """One gunicorn (4 sync workers, locks on) for every test of a module."""
    with run_gunicorn(log_dir=tmp_path_factory.mktemp("gunicorn")) as server:
        yield server
