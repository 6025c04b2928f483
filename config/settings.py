"""Portail Famille settings: one file, driven by the environment.

Infrastructure lives here (database, secrets, e-mail); business settings live in the
database (see portail.organisations). SQLite is the embedded default; set DATABASE_URL
to use PostgreSQL.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG", False)
# The development key only works with DEBUG or in tests; production must set its own.
DEV_SECRET_KEY = "dev-only-insecure-key-change-me-portail-famille-0123456789"
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", DEV_SECRET_KEY)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")
# Public address used in e-mails (activation, password reset).
SITE_URL = os.environ.get("PORTAIL_SITE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
    "portail.core",
    "portail.organisations",
    "portail.accounts",
    "portail.households",
    "portail.catalog",
    "portail.enrolments",
    "portail.bookings",
    "portail.payments",
    "portail.billing",
    # Always installed: its system checks keep the demo bank out of production.
    "portail.demobank",
    "portail.portal",
    "portail.backoffice",
    "portail.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "portail.accounts.middleware.SessionTimeoutMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Axes must be last: it turns lockouts raised by the backend into a response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portail.organisations.context_processors.town",
            ],
        },
    }
]

# --- Database -------------------------------------------------------------------------
SQLITE_PATH = os.environ.get("PORTAIL_SQLITE_PATH", str(BASE_DIR / "var" / "portail.sqlite3"))
if os.environ.get("DATABASE_URL"):
    DATABASES = {
        "default": dj_database_url.parse(os.environ["DATABASE_URL"], conn_max_age=600, conn_health_checks=True)
    }
else:
    Path(SQLITE_PATH).parent.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": SQLITE_PATH,
            "OPTIONS": {
                # IMMEDIATE takes the write lock at BEGIN, which serialises writers the way
                # select_for_update does on PostgreSQL (a no-op on SQLite).
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Authentication -------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "portail.accounts.backends.ChildCodeBackend",
]
PASSWORD_HASHERS = [
    "portail.accounts.hashers.PortailArgon2idHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "portail.accounts.validators.FrenchCommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "portal:home"
LOGOUT_REDIRECT_URL = "accounts:login"
# Activation and reset links expire after 3 days (invitation) / this timeout (reset).
PASSWORD_RESET_TIMEOUT = 60 * 60 * 24

# Lockout (django-axes): 10 failures on one account within 15 minutes lock it for 15 minutes.
AXES_FAILURE_LIMIT = 10
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = ["username"]
AXES_RESET_ON_SUCCESS = True
# A soft lock really ends 15 minutes after the 10th failure: attempts during the lock do not extend it.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# Never keep codes in clear in the axes tables (passwords are masked by default).
AXES_SENSITIVE_PARAMETERS = ["child_code", "payer_code"]
AXES_LOCKOUT_CALLABLE = "portail.accounts.views.lockout_response"
AXES_USERNAME_CALLABLE = "portail.accounts.backends.axes_username"
AXES_VERBOSE = False
# Lock per account, never per IP alone: families behind one town-hall or school NAT share an
# address (docs/decisions/0003-lockout-per-account.md). Axes warns about that on purpose.
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
AXES_ENABLE_ACCESS_FAILURE_LOG = True

# Sessions: 30 minutes idle, 12 hours absolute (ASVS L2), enforced by SessionTimeoutMiddleware.
SESSION_IDLE_TIMEOUT = int(os.environ.get("PORTAIL_SESSION_IDLE_SECONDS", 30 * 60))
SESSION_ABSOLUTE_TIMEOUT = 12 * 60 * 60
SESSION_COOKIE_AGE = SESSION_ABSOLUTE_TIMEOUT
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"

# --- Security (production defaults; DEBUG relaxes the transport ones) ---------------------
SECURE = env_bool("PORTAIL_SECURE", not DEBUG)
SESSION_COOKIE_SECURE = SECURE
CSRF_COOKIE_SECURE = SECURE
SECURE_SSL_REDIRECT = SECURE and env_bool("PORTAIL_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = 31536000 if SECURE else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE
SECURE_HSTS_PRELOAD = SECURE
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# --- Internationalisation -------------------------------------------------------------
LANGUAGE_CODE = "fr"
LANGUAGES = [("fr", "Français")]
TIME_ZONE = "Europe/Paris"
USE_I18N = True
USE_TZ = True

# --- Static and media -----------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("PORTAIL_STATIC_ROOT", BASE_DIR / "var" / "static"))
try:  # WhiteNoise warns about a missing folder before the first collectstatic.
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
except OSError:
    pass
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Family documents are private: stored outside any public folder, served by views.
MEDIA_ROOT = Path(os.environ.get("PORTAIL_MEDIA_ROOT", BASE_DIR / "var" / "media"))

# --- E-mail ---------------------------------------------------------------------------
EMAIL_BACKEND = os.environ.get(
    "DJANGO_EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", 25))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Portail Famille <portail@example.org>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("PORTAIL_LOG_LEVEL", "WARNING")},
    "loggers": {"axes": {"level": "WARNING"}},
}


# --- Payments ----------------------------------------------------------------------------------
# The local demo bank (portail.demobank) plays Systempay, PayFiP and TIPI for the demo and the tests;
# a system check refuses it without DEBUG (docs/payments.md).
PAYMENT_DEMO_BANK = env_bool("PORTAIL_DEMO_BANK", DEBUG)
PAYMENT_DEMO_BANK_BASE_URL = os.environ.get("PORTAIL_DEMO_BANK_BASE_URL", SITE_URL)
PAYMENT_DEMO_BANK_ALLOWED_WITHOUT_DEBUG = False  # the test settings only
PAYMENT_DEMO_BANK_PORTAL_RETURN_PATH = "/paiements/retour/"
