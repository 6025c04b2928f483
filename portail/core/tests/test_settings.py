"""The infrastructure settings the rest of the portal relies on."""

import subprocess
import sys

import pytest
from django.conf import settings
from django.db import connection


def test_time_zone_and_language_are_french():
    assert settings.TIME_ZONE == "Europe/Paris"
    assert settings.USE_TZ is True
    assert settings.LANGUAGE_CODE == "fr"


@pytest.mark.django_db
def test_sqlite_runs_in_wal_with_immediate_transactions():
    if connection.vendor != "sqlite":
        pytest.skip("SQLite-only settings")
    assert connection.settings_dict["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA foreign_keys")
        assert cursor.fetchone()[0] == 1


def _deploy_check(env):
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        capture_output=True,
        text=True,
        env=env,
        cwd=settings.BASE_DIR,
    )


def test_deploy_check_refuses_the_development_secret_key():
    env = {"PATH": "/usr/bin:/bin", "DJANGO_ALLOWED_HOSTS": "portail.example.fr"}
    result = _deploy_check(env)
    assert result.returncode != 0
    assert "portail.E001" in result.stderr + result.stdout


def test_deploy_check_passes_with_production_settings():
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SECRET_KEY": "x7!pQz3@Lm9#Rt2$Vb8%Nc4^Wd6&Yf1*Gh5(Jk0)Ps-+=qwertyuiopasdfgh",
        "DJANGO_ALLOWED_HOSTS": "portail.example.fr",
    }
    result = _deploy_check(env)
    assert result.returncode == 0, result.stdout + result.stderr
