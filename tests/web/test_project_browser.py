"""A project's pages in a real Chromium against a real Butler (web, worker, Caddy, the engine):
deploy with the detection dialog, watch the phases and the live log, open the site, set a
variable and redeploy, roll back, cancel, a multi-repository Deploy All, the Logs page with ANSI
colours, domains. Screenshots of every page and dialog land in tests/web/screenshots/."""

from __future__ import annotations

import re
import secrets
import textwrap

import pytest
import requests
from playwright.sync_api import expect

from tests import samples
from tests.web.conftest import (
    assert_accessible,
    bearer_for,
    csp_errors,
    screenshot,
    sign_up,
    watch_console,
)

pytestmark = [pytest.mark.browser, pytest.mark.docker]

DEPLOY_TIMEOUT = 150_000  # ms: a build of a tiny Dockerfile app, on a busy machine


def ansi_app(path, *, marker: str):
    """A Dockerfile app (no downloads) that reads GREETING, shows it with `marker`, and prints
    ANSI-coloured lines on stdout and a line on stderr for every request."""
    server = textwrap.dedent(
        f"""
        import os, sys
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        GREETING = os.environ.get("GREETING", "(unset)")


        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                data = ("<h1>{marker}</h1><p>greeting=" + GREETING + "</p>").encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                print("\\x1b[32mserved\\x1b[0m " + self.path, flush=True)

            def log_message(self, fmt, *args):
                sys.stderr.write("request " + (fmt % args) + "\\n")
                sys.stderr.flush()


        if __name__ == "__main__":
            print("\\x1b[1;31mred alert\\x1b[0m plain \\x1b[94mblue\\x1b[0m", flush=True)
            ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("PORT", "8000"))), Handler).serve_forever()
        """
    )
    files = {
        "Dockerfile": 'FROM python:3.11-slim\nWORKDIR /srv\nCOPY server.py .\nEXPOSE 8000\nCMD ["python", "-u", "server.py"]\n',
        "server.py": server,
    }
    return samples.git_repo(path, files)


def served(url: str) -> str:
    response = requests.get(url, timeout=10)
    response.raise_for_status()
    return response.text


def wait_for_site(page):
    """The newest deploy panel ends running: its Open Site link, re-rendered by the server."""
    panel = page.locator(".deploy-panel").first
    expect(panel.locator("[data-role=open-site]")).to_be_visible(timeout=DEPLOY_TIMEOUT)
    expect(panel.locator("[data-role=badge]")).to_have_text("running")
    return panel.locator("[data-role=open-site]").get_attribute("href")


@pytest.fixture
def user(page, live_butler):
    """A new user, signed in in the browser, with API headers for setting things up."""
    name = "p" + secrets.token_hex(4)
    sign_up(page, name)
    return {"name": name, "auth": bearer_for(live_butler, name)}


def import_single(live_butler, user, repo) -> int:
    response = requests.post(
        f"{live_butler.base}/api/import",
        json={"git_url": str(repo)},
        headers=user["auth"],
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return response.json()["project_id"]


def test_deploy_detect_redeploy_roll_back_logs_and_domains(page, live_butler, user):
    errors = watch_console(page)
    repo = ansi_app(live_butler.repos / f"app-{secrets.token_hex(3)}", marker="version-one")
    project_id = import_single(live_butler, user, repo)

    # Opening the project shows Deploy first, prefilled.
    page.goto(f"/apps/{project_id}/")
    expect(page.get_by_role("heading", name="Deploy", exact=True)).to_be_visible()
    expect(page.get_by_label("Git repository URL")).to_have_value(str(repo))
    screenshot(page, "project-deploy-imported")
    assert_accessible(page, context="deploy page")

    # First deploy: the detection dialog, from the keyboard: Escape closes, focus returns.
    deploy = page.get_by_role("button", name="Deploy", exact=True)
    deploy.click()
    dialog = page.locator("#detect-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("cell", name="GREETING")).to_be_visible(timeout=30_000)
    expect(dialog).to_contain_text("server.py")
    expect(dialog.get_by_role("button", name="Import All")).to_be_focused()
    screenshot(page, "project-detect-dialog")
    assert_accessible(page, context="detection dialog")
    page.keyboard.press("Tab")  # Tab stays inside the modal dialog
    assert page.evaluate("document.activeElement.closest('dialog') !== null")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(deploy).to_be_focused()

    # Add Manually opens the Environment Variables page.
    deploy.click()
    dialog.get_by_role("link", name="Add Manually").click()
    page.wait_for_url(f"**/apps/{project_id}/env/")
    page.goto(f"/apps/{project_id}/")

    # Import All saves GREETING empty, then deploys: the phases and the live log.
    page.get_by_role("button", name="Deploy", exact=True).click()
    page.locator("#detect-dialog").get_by_role("button", name="Import All").click()
    page.wait_for_url(f"**/apps/{project_id}/")
    panel = page.locator(".deploy-panel").first
    expect(panel.locator(".step").first).to_have_class(re.compile("step-(done|current)"))
    expect(panel.locator("[data-role=log]")).to_contain_text(
        "Cloning", timeout=60_000, ignore_case=True
    )
    screenshot(page, "project-deploying")
    url = wait_for_site(page)
    expect(panel.locator(".step-done")).to_have_count(5)
    assert "version-one" in served(url) and "greeting=</p>" in served(url)
    screenshot(page, "project-deployed")

    # Set a variable: "redeploy needed", redeploy, the new value served (from a new commit).
    page.get_by_role("link", name="Environment Variables").click()
    expect(page.locator("#env-GREETING")).to_be_visible()
    page.get_by_label("Name", exact=True).fill("GREETING")
    page.get_by_label("Value", exact=True).fill("hello-there")
    page.get_by_role("button", name="Save variable").click()
    expect(page.get_by_text("Redeploy needed.")).to_be_visible()
    assert "hello-there" not in page.content()  # masked until revealed
    row = page.locator("#env-GREETING")
    row.get_by_role("link", name=re.compile("Reveal")).click()
    expect(row).to_contain_text("hello-there")
    screenshot(page, "project-env")
    assert_accessible(page, context="env page")
    two = (repo / "server.py").read_text().replace("version-one", "version-two")
    samples.git_repo(repo, {"server.py": two}, message="version two")
    page.get_by_role("button", name="Redeploy").first.click()
    page.wait_for_url(f"**/apps/{project_id}/")
    url = wait_for_site(page)
    assert "version-two" in served(url) and "greeting=hello-there" in served(url)

    # The Logs page: the app's own output live, ANSI as colours, stdout and stderr marked.
    page.get_by_role("link", name="Logs", exact=True).click()
    lines = page.locator("[data-role=lines]")
    expect(lines).to_contain_text("red alert", timeout=30_000)
    served(url)  # a request prints a line on each stream, live
    expect(lines).to_contain_text("served /", timeout=15_000)
    expect(lines.locator(".log-stderr").first).to_contain_text("request")
    expect(lines.locator("span.ansi-31.ansi-bold")).to_have_text("red alert")
    expect(lines.locator("span.ansi-94").first).to_have_text("blue")
    assert "\x1b" not in lines.inner_text() and "[0m" not in lines.inner_text()
    page.get_by_role("button", name="Pause").click()
    served(url)
    expect(page.locator("[data-role=state]")).to_contain_text("waiting", timeout=15_000)
    page.get_by_role("button", name="Resume").click()
    screenshot(page, "project-logs")
    assert_accessible(page, context="logs page")

    # Roll back to the first deployment: a confirmation dialog, then the Deploy page follows.
    page.get_by_role("link", name="Deployments").click()
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first.locator(".badge")).to_have_text("running")
    expect(rows.nth(1).locator("td.mono").nth(1)).to_have_text(re.compile(r"^[0-9a-f]{7}$"))
    screenshot(page, "project-deployments")
    assert_accessible(page, context="deployments page")
    opener = rows.nth(1).get_by_role("link", name=re.compile("Roll back"))
    opener.click()
    confirm = page.locator("#rollback-dialog")
    expect(confirm).to_be_visible()
    screenshot(page, "project-rollback-dialog")
    page.keyboard.press("Escape")
    expect(confirm).to_be_hidden()
    expect(opener).to_be_focused()
    opener.click()
    confirm.get_by_role("button", name="Roll back").click()
    page.wait_for_url(f"**/apps/{project_id}/")
    url = wait_for_site(page)
    assert "version-one" in served(url) and "greeting=</p>" in served(url)

    # Configuration: the stable URL and hostname; domains added and removed, errors by the field.
    page.get_by_role("link", name="Configuration").click()
    expect(page.locator(".facts").nth(1)).to_contain_text(url)
    page.get_by_label("Custom domain").fill("not a domain")
    page.get_by_role("button", name="Add domain").click()
    expect(page.locator("#id_domain-error")).to_contain_text("not a valid host name")
    expect(page.get_by_label("Custom domain")).to_have_attribute("aria-invalid", "true")
    screenshot(page, "project-configuration-error")
    page.get_by_label("Custom domain").fill(f"{user['name']}.example.com")
    page.get_by_role("button", name="Add domain").click()
    expect(page.locator(".domain-list")).to_contain_text(f"{user['name']}.example.com")
    screenshot(page, "project-configuration")
    assert_accessible(page, context="configuration page")
    page.get_by_role("button", name=re.compile("Remove")).click()
    expect(page.locator(".domain-list")).to_have_count(0)

    # The Logs page says so when the container stops.
    page.get_by_role("link", name="Logs", exact=True).click()
    expect(page.locator("[data-role=state]")).to_have_text("Live", timeout=30_000)
    stopped = requests.post(
        f"{live_butler.base}/api/projects/{project_id}/stop", headers=user["auth"], timeout=60
    )
    assert stopped.status_code == 200, stopped.text
    expect(page.locator("[data-role=ended]")).to_contain_text("It stopped", timeout=30_000)
    screenshot(page, "project-logs-stopped")
    assert not csp_errors(errors), errors


def test_a_failed_deploy_shows_the_error_and_the_lines_that_explain_it(page, live_butler, user):
    repo = samples.crashing_repo(live_butler.repos / f"crash-{secrets.token_hex(3)}")
    project_id = import_single(live_butler, user, repo)
    page.goto(f"/apps/{project_id}/")
    page.get_by_role("button", name="Deploy", exact=True).click()
    page.locator("#detect-dialog").get_by_role("button", name="Skip").click()
    panel = page.locator(".deploy-panel").first
    expect(panel.locator("[data-role=badge]")).to_have_text("failed", timeout=DEPLOY_TIMEOUT)
    error = panel.locator(".deploy-error")
    expect(error).to_contain_text("DATABASE_URL is not set")
    expect(error).to_contain_text("fatal: DATABASE_URL is not set")  # the app's last words
    expect(panel.locator(".step-failed")).to_have_count(1)
    expect(panel.get_by_role("button", name=re.compile("Cancel"))).to_have_count(0)
    screenshot(page, "project-failed")
    assert_accessible(page, context="failed deploy")


def test_cancel_a_deploy_while_it_builds(page, live_butler, user):
    repo = samples.slow_build_repo(live_butler.repos / f"slow-{secrets.token_hex(3)}", seconds=120)
    project_id = import_single(live_butler, user, repo)
    page.goto(f"/apps/{project_id}/")
    page.get_by_role("button", name="Deploy", exact=True).click()
    page.locator("#detect-dialog").get_by_role("button", name="Skip").click()
    page.wait_for_url(f"**/apps/{project_id}/")
    panel = page.locator(".deploy-panel").first
    expect(panel.locator("[data-role=badge]")).to_have_text("building", timeout=60_000)
    expect(panel.locator("[data-role=log]")).to_contain_text("sleeping", timeout=60_000)
    page.reload()  # mid-deploy, the page shows the same state, then follows again
    panel = page.locator(".deploy-panel").first
    expect(panel.locator("[data-role=badge]")).to_have_text("building")
    expect(panel.locator(".step-current")).to_contain_text("Building")
    screenshot(page, "project-building")
    panel.get_by_role("button", name=re.compile("Cancel")).click()
    panel = page.locator(".deploy-panel").first
    expect(panel.locator("[data-role=badge]")).to_have_text("cancelled", timeout=60_000)
    expect(panel).to_contain_text("Cancelled by")
    expect(panel.get_by_role("button", name=re.compile("Cancel"))).to_have_count(0)
    screenshot(page, "project-cancelled")


def test_multi_repo_deploy_all_then_components_and_their_logs(page, live_butler, user):
    tag = secrets.token_hex(3)
    frontend = ansi_app(live_butler.repos / f"fe-{tag}", marker="the-frontend")
    backend = ansi_app(live_butler.repos / f"be-{tag}", marker="the-backend")
    response = requests.post(
        f"{live_butler.base}/api/import-split",
        json={"frontend_url": str(frontend), "backend_url": str(backend)},
        headers=user["auth"],
        timeout=30,
    )
    assert response.status_code == 201, response.text
    project_id = response.json()["project_id"]

    page.goto(f"/apps/{project_id}/")
    expect(page.get_by_label("Frontend repository URL")).to_have_value(str(frontend))
    expect(page.get_by_label("Backend repository URL")).to_have_value(str(backend))
    for name in ("Deploy Frontend", "Deploy Backend"):
        expect(page.get_by_role("button", name=name)).to_be_visible()
    expect(page.locator("#components-title")).to_have_count(0)
    screenshot(page, "project-multi-imported")
    assert_accessible(page, context="multi-repo deploy page")

    page.get_by_role("button", name="Deploy All").click()
    dialog = page.locator("#detect-dialog")
    expect(dialog.get_by_role("cell", name="GREETING")).to_be_visible(timeout=30_000)
    expect(dialog).to_contain_text("frontend")
    dialog.get_by_role("button", name="Skip").click()
    page.wait_for_url(f"**/apps/{project_id}/")
    expect(page.locator(".deploy-panel")).to_have_count(2)
    expect(page.locator(".deploy-panel").first).to_contain_text("Backend")

    # Once both run, the components section appears (without a reload).
    components = page.locator("#components-title")
    expect(components).to_be_visible(timeout=DEPLOY_TIMEOUT * 2)
    cards = page.locator(".component-card")
    expect(cards).to_have_count(2)
    for card in (cards.nth(0), cards.nth(1)):
        expect(card.locator(".badge")).to_have_text("running")
    fe_url = cards.nth(0).locator(".component-url a").get_attribute("href")
    assert "the-frontend" in served(fe_url)
    screenshot(page, "project-multi-deployed")

    # A component's Logs button opens the logs dialog following it; Escape closes it.
    opener = cards.nth(1).get_by_role("link", name=re.compile("Logs"))
    opener.click()
    logs = page.locator("#logs-dialog")
    expect(logs).to_be_visible()
    expect(logs.locator("[data-role=lines]")).to_contain_text("red alert", timeout=30_000)
    expect(logs).to_contain_text("backend")
    screenshot(page, "project-logs-dialog")
    assert_accessible(page, context="logs dialog")
    page.keyboard.press("Escape")
    expect(logs).to_be_hidden()
    expect(opener).to_be_focused()

    # Variables per component.
    page.get_by_role("link", name="Environment Variables").click()
    page.get_by_role("link", name="Backend").click()
    page.get_by_label("Name", exact=True).fill("API_ONLY")
    page.get_by_label("Value", exact=True).fill("1")
    page.get_by_role("button", name="Save variable").click()
    expect(page.locator("#env-API_ONLY")).to_be_visible()
    expect(page.get_by_role("link", name="Backend")).to_have_attribute("aria-current", "page")
    screenshot(page, "project-multi-env")
