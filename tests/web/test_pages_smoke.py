"""The login page renders in a real browser (the harness the UI tests build on)."""

import pytest

from tests.web.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.docker]


def test_the_login_page_opens_in_chromium(page):
    page.goto("/accounts/login/")
    assert page.locator("input[name=username]").count() == 1
    assert all(path.stat().st_size > 0 for path in screenshot(page, "login"))
