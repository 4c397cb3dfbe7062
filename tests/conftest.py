"""The shared base: three people, healthchecks-style.

alice owns team A, bob is a reviewer in team A, charlie belongs to team B.
Every test that needs them asks for the fixture by name.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import User
from django.utils import translation

from studio.accounts.models import Membership, Role, Team

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _default_language():
    """Each test starts in the studio's default language.

    A request in Chinese leaves its language active in the thread (LocaleMiddleware activates
    it, nothing deactivates it), and a sign-in outside a request (force_login) saves the active
    language as the person's choice: the next test on that worker would read Chinese pages.
    """
    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _isolated_media(settings, tmp_path):
    """Each test writes media into its own folder and reads static files as they are."""
    # PBKDF2's million rounds cost most of a second per user created or signed
    # in; the hasher is not what these tests test (its choice is Django's).
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.AXES_ENABLED = True


def make_user(email: str, name: str) -> User:
    first, _, last = name.partition(" ")
    return User.objects.create_user(email, email, PASSWORD, first_name=first, last_name=last)


@pytest.fixture
def team_a(db) -> Team:
    return Team.objects.create(name="Team A")


@pytest.fixture
def team_b(db) -> Team:
    return Team.objects.create(name="Team B")


@pytest.fixture
def alice(team_a) -> User:
    user = make_user("alice@example.org", "Alice Adams")
    Membership.objects.create(team=team_a, user=user, role=Role.OWNER)
    return user


@pytest.fixture
def bob(team_a) -> User:
    user = make_user("bob@example.org", "Bob Brown")
    Membership.objects.create(team=team_a, user=user, role=Role.REVIEWER)
    return user


@pytest.fixture
def charlie(team_b) -> User:
    user = make_user("charlie@example.org", "Charlie Chen")
    Membership.objects.create(team=team_b, user=user, role=Role.OWNER)
    return user


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


@pytest.fixture
def bob_client(client, bob):
    client.force_login(bob)
    return client


@pytest.fixture
def charlie_client(client, charlie):
    client.force_login(charlie)
    return client


# Browser tests: Playwright driving Debian's Chromium (the browser download of
# `playwright install` is not available here, and not needed).
CHROMIUM = os.environ.get("STUDIO_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop on the main thread; the ORM
    # calls the test makes between page actions are still plain sync code.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


# Tests that start whole studios, worker machines or nginx as processes of their own (tens
# of seconds each) and use no test database. pytest-django puts tests without the database
# last, where one of these would end the run alone while the other worker idles; first, the
# rest of the suite fills the time around them. Longest first.
STARTS_PROCESSES = ("test_scaleout_shape.py", "test_runstudio.py", "test_scale_out.py")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def first(item: pytest.Item) -> bool:
        no_database = item.get_closest_marker("django_db") is None and not {
            "db",
            "transactional_db",
            "live_server",
        } & set(getattr(item, "fixturenames", ()))
        return item.path.name in STARTS_PROCESSES and no_database

    # The longest first, in STARTS_PROCESSES's order; the rest as they were (the sort is stable).
    items.sort(
        key=lambda item: STARTS_PROCESSES.index(item.path.name) if first(item) else len(STARTS_PROCESSES)
    )


_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Keeps each phase's report on the test, so its fixtures know at teardown whether it failed."""
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


def _failed(item: pytest.Item) -> bool:
    return any(report.failed for report in item.stash.get(_REPORTS, {}).values())


@pytest.fixture
def new_page(request, browser, live_server, settings):
    """A factory of pages, each in its own browser context (its own cookies).

    Open pages ask for changes every second rather than every 4 s: a test that watches
    one page follow another waits for the live refresh, not for the timer.

    Every context records a Playwright trace; when the test fails, each page's
    screenshot and each context's trace are kept in test-artifacts/ as
    <test>[-<n>].png and <test>[-<n>]-trace.zip (open with `playwright show-trace`).
    """
    settings.STUDIO_LIVE_REFRESH_SECONDS = 1
    contexts = []

    def make(viewport: tuple[int, int] = (1280, 860)):
        context = browser.new_context(
            base_url=live_server.url, viewport={"width": viewport[0], "height": viewport[1]}
        )
        context.set_default_timeout(15_000)
        context.tracing.start(screenshots=True, snapshots=True, sources=True)
        contexts.append(context)
        page = context.new_page()
        watch_console(page, console)
        return page

    console: list[str] = []
    yield make
    failed = _failed(request.node)
    name = re.sub(r"[^\w.-]+", "-", request.node.name).strip("-")
    if failed:
        ARTIFACTS.mkdir(exist_ok=True)
    for number, context in enumerate(contexts, start=1):
        stem = name if len(contexts) == 1 else f"{name}-{number}"
        try:
            if failed:
                for page in context.pages:
                    page.screenshot(path=str(ARTIFACTS / f"{stem}.png"), full_page=True)
                context.tracing.stop(path=str(ARTIFACTS / f"{stem}-trace.zip"))
            else:
                context.tracing.stop()
        finally:
            context.close()
    # Every page's console stays clean: no error, no warning, no uncaught exception (a blocked
    # inline style, an aborted request, a script error). A test that provokes one on purpose
    # (a 403 it asks for) says so with @pytest.mark.console_noise.
    if console and not failed and request.node.get_closest_marker("console_noise") is None:
        pytest.fail("The browser console was not clean:\n" + "\n".join(console), pytrace=False)


def watch_console(page, messages: list[str]) -> list[str]:
    """Collects the page's console errors and warnings, and uncaught exceptions, into messages.

    A page the test opened that answers 403 or 404 (charlie trying alice's video) logs
    "Failed to load resource" for itself, and for the favicon the plain error page lacks:
    those are what the test asked for, not noise.
    """
    documents: set[str] = set()

    def on_request(request) -> None:
        if request.is_navigation_request():
            parts = urlsplit(request.url)
            documents.update({request.url, f"{parts.scheme}://{parts.netloc}/favicon.ico"})

    def on_console(message) -> None:
        if message.type not in ("error", "warning"):
            return
        url = message.location.get("url", "")
        if message.text.startswith("Failed to load resource") and url in documents:
            return
        messages.append(f"{message.type}: {message.text} ({url})")

    page.on("request", on_request)
    page.on("console", on_console)
    page.on("pageerror", lambda e: messages.append(f"pageerror: {e}"))
    return messages


@pytest.fixture
def page(new_page):
    return new_page()


def sign_in(page, email: str, password: str = PASSWORD) -> None:
    page.goto("/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/login/" not in url)


def screenshot(page, name: str) -> Path:
    """Saves a full-page screenshot under test-artifacts/ to look at by eye."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    # The top bar is sticky: scroll to the top so it is drawn where people see it.
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(path), full_page=True)
    return path


# --- The demo provider (studio.demoprovider), over real HTTP on loopback ---


@pytest.fixture
def demo_provider():
    """A demo EvoLink provider running in a thread on a free loopback port.

    Yields an object with:
      .base_url  "http://127.0.0.1:<port>", for EvolinkClient(base_url, "sk-any-key")
      .port      the port
      .server    the DemoProvider: .tasks (dict id -> DemoTask, in creation order),
                 .queue_fault("503", count=1, on="create"|"query"|"file"|"any"),
                 .clear_faults(), .callback_attempts, .ledger_report() (tasks and
                 creates per idempotency key, billed and unfetched tasks),
                 .configure({...}), and settable options (.generation_seconds,
                 .result_ttl, .big_file_mb, .callback_delays, .render).
    Generations take 0.5 s and callbacks retry after 0.05/0.1/0.2 s; insecure
    (http, loopback) callback URLs are allowed. Results are the tiny clip (the
    real shape, a plain picture, encoded once per process): a test that looks at
    the picture sets .server.render = "full" before creating. Stopped (files
    removed) afterwards.
    """
    from types import SimpleNamespace

    from studio.demoprovider import start_in_thread

    server, base_url = start_in_thread(
        generation_seconds=0.5, allow_insecure_callbacks=True, callback_delays=(0.05, 0.1, 0.2), render="tiny"
    )
    try:
        yield SimpleNamespace(base_url=base_url, port=server.server_address[1], server=server)
    finally:
        server.shutdown()


@pytest.fixture
def studio_on_demo_provider(settings, demo_provider):
    """Points the studio at the demo_provider fixture, in demo mode (no key anywhere).

    keys.client_for_team(team) then talks to demo_provider; yields demo_provider.
    """
    settings.EVOLINK_API_KEY = ""
    settings.STUDIO_DEMO_PROVIDER_PORT = demo_provider.port
    settings.EVOLINK_BASE_URL = demo_provider.base_url
    return demo_provider
