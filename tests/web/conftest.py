"""The web importer in a real headless Chromium (Debian's, which scripts/services.sh installs), driven by
Playwright against the server running for real on 127.0.0.1 on a Postgres schema of the test's own."""

import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.api.conftest import Served, serving
from tests.conftest import ROOT

T = TypeVar("T")
CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps trying to reach hosts it cannot reach here.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run"]  # fmt: skip
SHOTS = ROOT / "screenshots"


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: scripts/services.sh installs it (apt-get install chromium)")
    # launch() starts it headless with a fresh --user-data-dir of its own, removed when it closes.
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


def off_loop(call: Callable[[], T]) -> T:
    """`call` in a thread of its own: Playwright's sync API keeps an event loop running in this one, and the
    server's set-up runs one of its own."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(call).result()


@pytest.fixture
def served() -> Iterator[Served]:
    running = serving()
    yield off_loop(running.__enter__)
    off_loop(lambda: running.__exit__(None, None, None))


@pytest.fixture
def make_key(served: Served) -> Callable[[str, str], str]:
    """A new API key of the company with the scopes (comma-separated)."""
    return lambda company, scopes: off_loop(lambda: served.key(company, scopes))


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Path:
    """Where this test saves a screenshot of each step (screenshots/<test name>/)."""
    folder = SHOTS / request.node.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def person(browser: Browser, served: Served, locale: str = "en-GB") -> BrowserContext:
    """A browser of its own (its own cookies), at a laptop's width."""
    context = browser.new_context(base_url=served.url, locale=locale, viewport={"width": 1280, "height": 900},
                                  accept_downloads=True)  # fmt: skip
    context.set_default_timeout(15_000)
    return context


def sign_in(page: Page, key: str) -> None:
    page.goto("/app/")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/app/")
