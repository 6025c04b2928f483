"""Browser journeys: Playwright driving Debian's chromium (never a downloaded browser).

Without chromium the tests skip with a clear message, so `python3 dev.py test` passes on a
bare machine; CI sets PORTAIL_REQUIRE_BROWSER=1 and then a missing browser is a failure.
"""

import os
import shutil

import pytest

CHROMIUM = os.environ.get("PORTAIL_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# Playwright's sync API runs an event loop in this thread; Django's ORM calls from the test
# itself (fixtures, assertions) are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        message = "Chromium introuvable (apt-get install chromium) : tests navigateur ignorés."
        if os.environ.get("PORTAIL_REQUIRE_BROWSER"):
            pytest.fail(message.replace("ignorés", "obligatoires en CI"))
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    # A phone-sized viewport: the phone is the families' main device.
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="fr-FR", base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()
