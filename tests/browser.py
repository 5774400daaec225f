"""Real-browser tests: Debian's Chromium driven by Playwright's Python package.

Playwright's own browser download does not work on our machines, so the browser is the system
one (`apt-get install chromium`, which `.ci/run` does). Use it from a test module with

    from .browser import browser_fixture, page_fixture, screenshot  # noqa: F401

and ask for the fixtures `browser` and `page` by those names (the `_fixture` names only keep
ruff from seeing the test arguments as redefinitions of the imports). `browser` is one headless
Chromium per test module; `page` is a fresh page in a fresh context (its own cookies and
storage) for each test, and fails the test if the page threw an uncaught JavaScript error. For
other context options (user agent, viewport, locale) use `new_page`.
Screenshots go to test-artifacts/screenshots/ at the repository root (git-ignored).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Playwright

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
# As root --no-sandbox is required. The rest keep Chromium from reaching for the internet
# (closed here: it would retry refused connections at every start) and from doing work that
# a test never needs.
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
# Playwright's default of 30 s turns every mistake into a long wait; loopback pages are fast.
DEFAULT_TIMEOUT_MS = 10_000

# One Playwright driver per process, shared by every browser launched: the sync API refuses to
# start a second driver while one is running ("Sync API inside the asyncio loop").
_driver: Playwright | None = None
_driver_users = 0


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _unavailable(reason: str) -> None:
    """Fail loudly in CI, where a missing browser is a broken setup; skip on a developer's box."""
    if in_ci():
        pytest.fail(f"{reason} (CI is set, so browser tests must run)", pytrace=False)
    pytest.skip(reason)


def chromium_path() -> str:
    if not os.access(CHROMIUM, os.X_OK):
        _unavailable("chromium not installed: apt-get install chromium")
    return CHROMIUM


@contextmanager
def launch_chromium(*extra_args: str) -> Iterator[Browser]:
    """Start headless Chromium (after the shared Playwright driver if need be); close it after."""
    global _driver, _driver_users
    executable = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright not installed: .venv/bin/pip install -e '.[test]'")
    if _driver is None:
        _driver = sync_playwright().start()
    _driver_users += 1
    try:
        browser = _driver.chromium.launch(
            executable_path=executable,
            headless=True,
            args=[*CHROMIUM_ARGS, *extra_args],
        )
        try:
            yield browser
        finally:
            browser.close()
    finally:
        _driver_users -= 1
        if _driver_users == 0:
            _driver.stop()
            _driver = None


@contextmanager
def new_page(browser: Browser, **context_options) -> Iterator[Page]:
    """A page in a new browser context; fails on uncaught JavaScript errors in the page."""
    context = browser.new_context(**context_options)
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"uncaught JavaScript errors in the page: {errors}"


@pytest.fixture(scope="module", name="browser")
def browser_fixture() -> Iterator[Browser]:
    with launch_chromium() as instance:
        yield instance


@pytest.fixture(name="page")
def page_fixture(browser) -> Iterator[Page]:
    with new_page(browser) as instance:
        yield instance


def screenshot(page: Page, name: str, *, full_page: bool = True) -> Path:
    """Save a PNG of the page as test-artifacts/screenshots/<name>.png and return its path."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "screenshot"
    path = SCREENSHOTS / f"{safe}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=full_page)
    return path
