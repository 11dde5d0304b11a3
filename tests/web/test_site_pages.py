"""The pages outside a project in a real Chromium against a real Butler: sign-up and log-in
(errors, lockout), the dashboard (empty state, cards, live status, rename, delete), "+ New
Deploy" (single and multi-repository, errors next to the field), settings (avatar, password
with its strength hint), dialogs by keyboard, accessibility and the Content-Security-Policy.

Screenshots of every page and dialog at 375 and 1280 px land in tests/web/screenshots/."""

from __future__ import annotations

import io
import secrets

import pytest
import requests
from playwright.sync_api import expect

from tests import samples
from tests.web.conftest import (
    assert_accessible,
    bearer_for,
    csp_errors,
    log_in,
    screenshot,
    sign_up,
    watch_console,
)

pytestmark = [pytest.mark.browser, pytest.mark.docker]


def unique(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(3)}"


def api_import(live_butler, auth: dict, git_url: str, app_name: str) -> dict:
    answer = requests.post(
        f"{live_butler.base}/api/import",
        json={"git_url": git_url, "app_name": app_name},
        headers=auth,
        timeout=10,
    )
    assert answer.status_code in (200, 201), answer.text
    return answer.json()


def project_id_of(body: dict) -> int:
    return body.get("project_id") or body.get("id") or body["project"]["id"]


def test_sign_up_log_in_errors_and_lockout(page):
    errors = watch_console(page)
    name = unique("reg")
    page.goto("/accounts/register/")
    assert_accessible(page, context="register")
    page.get_by_label("Username").fill(name)
    page.get_by_label("Email").fill("not-an-email")
    page.get_by_label("Password").fill("123")
    page.get_by_role("button", name="Register").click()
    # Each error sits under its own field, and the field says it is invalid.
    email_error = page.locator("#id_email-error")
    expect(email_error).to_contain_text("valid email")
    expect(page.get_by_label("Email")).to_have_attribute("aria-invalid", "true")
    screenshot(page, "register-errors")

    page.get_by_label("Email").fill(f"{name}@example.com")
    page.get_by_label("Password").fill("a-long-passphrase")
    page.get_by_role("button", name="Register").click()
    page.wait_for_url("**/")
    expect(page.locator(".site-header")).to_contain_text(name)
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/accounts/login/**")

    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(".form-error")).to_contain_text("correct username and password")
    assert_accessible(page, context="login with an error")
    screenshot(page, "login-error")

    log_in(page, name)
    expect(page.get_by_role("heading", name="Projects", exact=True)).to_be_visible()

    # Failures for one username lock it for a while; the page says for how long.
    locked = unique("lock")
    page.get_by_role("button", name="Log out").click()
    for _ in range(6):  # five failures, then the sixth attempt is refused before checking
        page.get_by_label("Username").fill(locked)
        page.get_by_label("Password").fill("wrong password")
        with page.expect_navigation():
            page.get_by_role("button", name="Log in").click()
    expect(page.locator(".form-error")).to_contain_text("Too many login attempts. Try again in")
    screenshot(page, "login-locked")
    assert not csp_errors(errors), "\n".join(errors)


def test_empty_state_new_deploy_and_the_dashboard_cards(page, live_butler):
    errors = watch_console(page)
    name = unique("new")
    sign_up(page, name)
    response = page.goto("/")
    csp = response.headers.get("content-security-policy", "")
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp

    empty = page.locator("#empty-state")
    expect(empty).to_be_visible()
    expect(empty).to_contain_text("No projects yet")
    assert_accessible(page, context="empty dashboard")
    screenshot(page, "dashboard-empty")

    empty.get_by_role("link", name="+ New Deploy").click()
    page.wait_for_url("**/new/")
    expect(page.get_by_label("Frontend repository URL")).to_be_hidden()
    page.get_by_label("Git repository URL").fill("ftp://example.com/nope.git")
    page.get_by_role("button", name="Import").click()
    error = page.locator("#id_git_url-error")
    expect(error).to_be_visible()
    assert error.inner_text().strip()
    expect(page.get_by_label("Git repository URL")).to_have_attribute("aria-invalid", "true")
    assert_accessible(page, context="new deploy with an error")
    screenshot(page, "new-deploy-error")

    single = samples.static_repo(live_butler.repos / unique("site"))
    page.get_by_label("Git repository URL").fill(str(single))
    page.get_by_label("App name (optional)").fill(f"{name}-site")
    page.get_by_role("button", name="Import").click()
    page.wait_for_url("**/apps/*/")
    single_id = int(page.url.rstrip("/").rsplit("/", 1)[1])

    page.goto("/new/")
    page.get_by_label("Multi-Repository (Frontend + Backend)").check()
    expect(page.get_by_label("Git repository URL")).to_be_hidden()
    frontend, backend = samples.split_pair(
        live_butler.repos / unique("fe"), live_butler.repos / unique("be")
    )
    page.get_by_label("Frontend repository URL").fill(str(frontend))
    page.get_by_role("button", name="Import").click()
    expect(page.locator("#id_backend_url-error")).to_contain_text("Enter the Git URL")
    # The chosen kind survives the round trip (the server rendered it checked).
    expect(page.get_by_label("Multi-Repository (Frontend + Backend)")).to_be_checked()
    screenshot(page, "new-deploy-multi")
    page.get_by_label("Backend repository URL").fill(str(backend))
    page.get_by_label("App name (optional)").fill(f"{name}-pair")
    page.get_by_role("button", name="Import").click()
    page.wait_for_url("**/apps/*/")
    split_id = int(page.url.rstrip("/").rsplit("/", 1)[1])

    page.goto("/")
    cards = page.locator(".project-card")
    expect(cards).to_have_count(2)  # top-level projects only: the pair's components are not cards
    pair = page.locator(f"#project-{split_id}")
    expect(pair).to_contain_text("Multi-Repository")
    expect(pair.locator("[data-status-badge]")).to_have_text("Imported")
    site = page.locator(f"#project-{single_id}")
    expect(site).to_contain_text("Single Repository")
    expect(site).to_contain_text("Never deployed")
    expect(site.get_by_role("link", name="Open Site")).to_be_hidden()
    assert_accessible(page, context="dashboard")
    screenshot(page, "dashboard")
    assert not csp_errors(errors), "\n".join(errors)


def test_rename_and_delete_through_dialogs_by_keyboard(page, live_butler):
    errors = watch_console(page)
    name = unique("dlg")
    sign_up(page, name)
    auth = bearer_for(live_butler, name)
    repo = samples.static_repo(live_butler.repos / unique("site"))
    first = project_id_of(api_import(live_butler, auth, str(repo), f"{name}-one"))
    api_import(live_butler, auth, str(repo), f"{name}-two")
    page.goto("/")
    card = page.locator(f"#project-{first}")

    opener = card.get_by_role("link", name=f"Rename {name}-one")
    opener.focus()
    page.keyboard.press("Enter")
    dialog = page.locator("#rename-dialog")
    expect(dialog).to_be_visible()
    field = dialog.get_by_label("New name")
    expect(field).to_be_focused()
    expect(field).to_have_value(f"{name}-one")
    # Tab stays inside the modal dialog.
    for _ in range(6):
        page.keyboard.press("Tab")
        assert page.evaluate(
            "document.querySelector('#rename-dialog').contains(document.activeElement)"
        )
    assert_accessible(page, context="rename dialog")
    screenshot(page, "dialog-rename")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(opener).to_be_focused()

    with page.expect_response(lambda r: r.url.endswith("/rename/")):
        opener.click()  # the form comes anew (htmx): wait for it before typing
    expect(field).to_be_focused()  # site.js focuses it once the new form is in
    page.wait_for_timeout(200)
    field.fill(f"{name}-two")
    dialog.get_by_role("button", name="Rename").click()
    expect(dialog.locator(".field-error")).to_contain_text("already have a project")
    expect(dialog.get_by_label("New name")).to_be_focused()
    screenshot(page, "dialog-rename-error")
    dialog.get_by_label("New name").fill(f"{name}-renamed")
    dialog.get_by_role("button", name="Rename").click()
    expect(dialog).to_be_hidden()
    expect(card.locator("[data-project-name]")).to_have_text(f"{name}-renamed")
    expect(page.locator("#toasts")).to_contain_text(f"Renamed to {name}-renamed")
    listed = requests.get(f"{live_butler.base}/api/projects", headers=auth, timeout=10).json()
    listed = listed["results"] if isinstance(listed, dict) else listed
    api_names = [p["app_name"] for p in listed]
    assert f"{name}-renamed" in api_names

    opener = card.get_by_role("link", name=f"Delete {name}-renamed")
    opener.click()
    confirm = page.locator("#delete-dialog")
    expect(confirm).to_be_visible()
    expect(confirm.locator("[data-delete-list]")).to_contain_text("Containers")
    expect(confirm.locator("[data-delete-list]")).to_contain_text("Images")
    expect(confirm.get_by_role("link", name="Cancel")).to_be_focused()
    assert_accessible(page, context="delete dialog")
    screenshot(page, "dialog-delete")
    confirm.get_by_role("link", name="Cancel").click()
    expect(confirm).to_be_hidden()
    expect(opener).to_be_focused()
    expect(card).to_be_visible()

    opener.click()
    confirm.get_by_role("button", name=f"Delete {name}-renamed").click()
    expect(card).to_have_count(0)
    expect(page.locator(".project-card")).to_have_count(1)
    answer = requests.get(f"{live_butler.base}/api/projects/{first}", headers=auth, timeout=10)
    assert answer.status_code == 404
    assert not csp_errors(errors), "\n".join(errors)


def test_the_dashboard_follows_a_deploy_live(page, live_butler):
    errors = watch_console(page)
    name = unique("live")
    sign_up(page, name)
    auth = bearer_for(live_butler, name)
    repo = samples.static_repo(live_butler.repos / unique("site"), marker=f"live page {name}")
    project_id = project_id_of(api_import(live_butler, auth, str(repo), f"{name}-site"))
    page.goto("/")
    card = page.locator(f"#project-{project_id}")
    badge = card.locator("[data-status-badge]")
    expect(badge).to_have_text("Imported")
    page.evaluate("window.__notReloaded = true")
    box = card.bounding_box()

    answer = requests.post(
        f"{live_butler.base}/deploy",
        json={"deploy_type": "single", "project_id": project_id, "git_url": str(repo)},
        headers=auth,
        timeout=10,
    )
    assert answer.status_code == 202, answer.text
    # An in-between status shows (queued/cloning/building/...) before it runs.
    expect(badge).not_to_have_text("Imported", timeout=20_000)
    expect(badge).to_have_text("Running", timeout=120_000)
    expect(badge).to_have_class("badge badge-running")
    finished = live_butler.finished(auth, answer.json()["deployment_id"])
    assert finished["status"] == "running"
    open_site = card.get_by_role("link", name="Open Site")
    expect(open_site).to_be_visible()
    site_url = open_site.get_attribute("href")
    assert f"live page {name}" in requests.get(site_url, timeout=10).text
    assert page.evaluate("window.__notReloaded") is True
    after = card.bounding_box()
    assert (after["x"], after["y"], after["width"]) == (box["x"], box["y"], box["width"])
    expect(card.locator("[data-last-deploy]")).not_to_contain_text("Never deployed")
    screenshot(page, "dashboard-running")

    # Deleted elsewhere (the API): the card goes, without a reload.
    requests.delete(f"{live_butler.base}/api/projects/{project_id}", headers=auth, timeout=60)
    expect(card).to_have_count(0, timeout=20_000)
    expect(page.locator("#empty-state")).to_be_visible()
    assert page.evaluate("window.__notReloaded") is True
    assert not csp_errors(errors), "\n".join(errors)


def _png(color: str) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 64), color).save(out, format="PNG")
    return out.getvalue()


def test_settings_avatar_and_password(page, live_butler):
    errors = watch_console(page)
    name = unique("set")
    sign_up(page, name)
    page.goto("/settings/")
    assert_accessible(page, context="settings")
    screenshot(page, "settings")

    page.get_by_label("Upload a new avatar").set_input_files(
        {"name": "a.txt", "mimeType": "text/plain", "buffer": b"not an image"}
    )
    page.get_by_role("button", name="Save profile").click()
    expect(page.locator("#id_avatar-error")).to_contain_text("not a readable image")
    page.get_by_label("Upload a new avatar").set_input_files(
        {"name": "me.png", "mimeType": "image/png", "buffer": _png("#1a7f37")}
    )
    page.get_by_role("button", name="Save profile").click()
    expect(page.locator("#toasts")).to_contain_text("Profile saved")
    avatar = page.locator("img[data-avatar]")
    expect(avatar).to_be_visible()
    assert requests.get(live_butler.base + avatar.get_attribute("src"), timeout=10).ok
    expect(page.locator(".site-header img.avatar")).to_be_visible()
    screenshot(page, "settings-avatar")
    page.get_by_role("button", name="Remove avatar").click()
    expect(page.locator("#toasts")).to_contain_text("Avatar removed")
    expect(page.locator("img[data-avatar]")).to_have_count(0)

    opener = page.get_by_role("link", name="Change password")
    opener.click()
    dialog = page.locator("#password-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Current password")).to_be_focused()
    meter = dialog.locator("#password-strength")
    colours = {}
    for level, value in (
        ("weak", "abc"),
        ("fair", "abcdefgh12"),
        ("strong", "Correct-Horse-9-Battery"),
    ):
        dialog.get_by_label("New password").fill(value)
        expect(meter).to_have_attribute("data-level", level)
        colours[level] = meter.locator(".strength-fill").evaluate(
            "el => getComputedStyle(el).backgroundColor"
        )
    assert colours["weak"] == "rgb(198, 40, 40)"  # red
    assert colours["fair"] == "rgb(217, 119, 6)"  # orange
    assert colours["strong"] == "rgb(26, 127, 55)"  # green
    screenshot(page, "dialog-password")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(opener).to_be_focused()

    # The server decides: a wrong current password comes back next to its field.
    opener.click()
    dialog.get_by_label("Current password").fill("not my password")
    dialog.get_by_label("New password").fill("Correct-Horse-9-Battery")
    dialog.get_by_label("Confirm password").fill("Correct-Horse-9-Battery")
    dialog.get_by_role("button", name="Change password").click()
    expect(dialog).to_be_visible()
    expect(dialog.locator("#id_current_password-error")).to_contain_text("not correct")
    screenshot(page, "dialog-password-error")
    dialog.get_by_label("Current password").fill("a-long-passphrase")
    dialog.get_by_label("New password").fill("Correct-Horse-9-Battery")
    dialog.get_by_label("Confirm password").fill("Correct-Horse-9-Battery")
    dialog.get_by_role("button", name="Change password").click()
    expect(page.locator("#toasts")).to_contain_text("Password changed")
    page.get_by_role("button", name="Log out").click()
    log_in(page, name, "Correct-Horse-9-Battery")
    assert not csp_errors(errors), "\n".join(errors)
