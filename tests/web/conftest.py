"""Browser tests: Debian's Chromium driven by Playwright against a real Butler (`runbutler`:
Caddy, web, worker, the real engine). One Butler for the whole session; each test registers
its own user. Screenshots land in tests/web/screenshots/ (git-ignored): look at them."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from tests.live_butler import RealButler, remove_everything

CHROMIUM = os.environ.get("BUTLER_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).parent / "screenshots"
WIDTHS = {"phone": 375, "desktop": 1280}
# Without the background-networking flags Chromium keeps trying hosts this closed network refuses.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def live_butler(tmp_path_factory):
    """A real Butler for the browser tests of the whole session."""
    real = RealButler(tmp_path_factory.mktemp("butler"))
    try:
        real.start()
        yield real
    finally:
        remove_everything(real)


@pytest.fixture(scope="session")
def chromium():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"no Chromium at {CHROMIUM}: apt-get install chromium (or set BUTLER_TEST_CHROMIUM)"
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium, live_butler):
    """A fresh browser context (no cookies) at desktop width, `base_url` set to the Butler."""
    context = chromium.new_context(
        base_url=live_butler.base, viewport={"width": WIDTHS["desktop"], "height": 900}
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


def screenshot(page, name: str) -> list[Path]:
    """Save the page at both widths (phone, desktop) as tests/web/screenshots/<name>-<w>.png."""
    SCREENSHOTS.mkdir(exist_ok=True)
    slug = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    size = page.viewport_size or {"width": WIDTHS["desktop"], "height": 900}
    saved = []
    for label, width in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": size["height"]})
        path = SCREENSHOTS / f"{slug}-{label}.png"
        page.screenshot(path=str(path), full_page=True)
        saved.append(path)
    page.set_viewport_size(size)
    return saved
