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


# ---- Helpers the page tests share (site and project pages) ----

PASSWORD = "a-long-passphrase"
BLOCKING_IMPACTS = {"serious", "critical"}


def assert_accessible(page, *, context: str = "") -> None:
    """No serious or critical axe-core violation on the page as it is now."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    bad = [v for v in results.response.get("violations", []) if v.get("impact") in BLOCKING_IMPACTS]
    details = "\n".join(
        f"{v['id']} ({v['impact']}): {v['help']} -> "
        + ", ".join(str(n.get("target")) for n in v.get("nodes", [])[:5])
        for v in bad
    )
    assert not bad, f"axe violations on {context or page.url}:\n{details}"


def watch_console(page) -> list[str]:
    """Collect the page's console errors (CSP refusals among them) and uncaught exceptions."""
    errors: list[str] = []

    def seen(msg):
        if msg.type == "error":
            where = msg.location or {}
            errors.append(f"{msg.text} [{where.get('url', '')}:{where.get('lineNumber', '')}]")

    page.on("console", seen)
    page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
    return errors


def csp_errors(errors: list[str]) -> list[str]:
    return [e for e in errors if "Content Security Policy" in e or "Content-Security-Policy" in e]


def sign_up(page, username: str, password: str = PASSWORD) -> None:
    """Register through the page (which signs the browser in) and land on the dashboard."""
    page.goto("/accounts/register/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Email").fill(f"{username}@example.com")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Register").click()
    page.wait_for_url("**/")


def log_in(page, username: str, password: str = PASSWORD) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/")


def bearer_for(live_butler, username: str, password: str = PASSWORD) -> dict:
    """API headers for a user that already exists (registered through the page)."""
    import requests

    body = requests.post(
        f"{live_butler.base}/api/auth/login",
        json={"username": username, "password": password},
        timeout=10,
    ).json()
    return {"Authorization": f"Bearer {body['access_token']}"}
