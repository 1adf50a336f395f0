"""Chromium for the browser tests: the distribution's build, driven by Playwright.

`playwright install` cannot download browsers here, so the tests use /usr/bin/chromium
(`apt-get install chromium`). Without it they are skipped, except in CI, where a missing
browser is a failure.
"""

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
WIDE: ViewportSize = {"width": 1280, "height": 900}
NARROW: ViewportSize = {"width": 420, "height": 900}


@pytest.fixture(scope="session")
def chromium() -> Path:
    """The Chromium executable, or skip (fail in CI) when it is not installed."""
    if not CHROMIUM.is_file() or not os.access(CHROMIUM, os.X_OK):
        reason = f"browser tests need Chromium at {CHROMIUM}: apt-get install -y chromium"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture(scope="session")
def browser(chromium: Path) -> Iterator[Browser]:
    """One headless Chromium for the whole session."""
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(chromium), args=LAUNCH_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (no cookies) and page, 1280 px wide."""
    context = browser.new_context(
        viewport=WIDE, accept_downloads=True, locale="en-GB", timezone_id="Europe/Berlin"
    )
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def screenshot(page: Page) -> Callable[..., Path]:
    """Save a full-page screenshot under test-artifacts/screenshots/ and return its path;
    fail when the page is wider than the viewport (something overflows sideways)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(name: str, *, narrow: bool = False) -> Path:
        path = SCREENSHOTS / f"{name}{'-narrow' if narrow else ''}.png"
        if narrow:
            page.set_viewport_size(NARROW)
        try:
            page.screenshot(path=str(path), full_page=True, animations="disabled")
            width = page.evaluate("document.documentElement.scrollWidth")
        finally:
            if narrow:
                page.set_viewport_size(WIDE)
        viewport = NARROW if narrow else WIDE
        assert width <= viewport["width"], f"{name}: the page overflows sideways ({width} px)"
        return path

    return take
