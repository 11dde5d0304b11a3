"""The `butler` command line: deploy, follow, roll back and manage env vars from a terminal.

Every command talks to a Butler's REST API (and its WebSockets for live output). The server is
`--url`, else `BUTLER_URL`, else the one of the last `butler login`, else
http://127.0.0.1:8000. Read commands take `--json` (plain JSON on stdout, nothing else)."""

from __future__ import annotations

import getpass
import json
import os
import re
import sys
import webbrowser
from enum import StrEnum
from pathlib import Path
from urllib.parse import quote

import typer
from rich.text import Text
from typer._click.exceptions import (  # Typer's own Click (typer is pinned)
    ClickException,
    NoArgsIsHelpError,
    UsageError,
)

from butlercli import __version__
from butlercli.client import Client, CliError, error_message
from butlercli.config import Config, config_path, normalize_url, server_url
from butlercli.deploying import Watcher, queued_deployments
from butlercli.output import Output, clean
from butlercli.streams import follow_runtime_logs

app = typer.Typer(
    name="butler",
    help="Deploy Git repositories to a Butler and manage the apps it runs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
env_app = typer.Typer(
    help="An app's environment variables (they take effect at the next deploy).",
    no_args_is_help=True,
)
app.add_typer(env_app, name="env")


class Component(StrEnum):
    frontend = "frontend"
    backend = "backend"


class State:
    url_option: str | None = None


state = State()
out: Output = Output()

JSON = typer.Option(False, "--json", help="Print plain JSON on stdout (for scripts).")
COMPONENT = typer.Option(
    None, "--component", "-c", help="The part of a multi-repo app: frontend or backend."
)
APP = typer.Argument(
    ..., help="The app's name (or its numeric id).", show_default=False, metavar="APP"
)


def _version(value: bool) -> None:
    if value:
        print(f"butler {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    url: str | None = typer.Option(
        None,
        "--url",
        help="The Butler to talk to (else $BUTLER_URL, else the last login's, else "
        "http://127.0.0.1:8000).",
        show_default=False,
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version."
    ),
) -> None:
    state.url_option = url


def client() -> Client:
    config = Config.load()
    return Client(server_url(state.url_option, config), config)


def _stdin_is_terminal() -> bool:
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


# --- logging in ------------------------------------------------------------------------------
@app.command()
def login(
    url: str | None = typer.Argument(
        None,
        help="The Butler to log in to (default: as for --url).",
        show_default=False,
        metavar="[URL]",
    ),
    username: str | None = typer.Option(None, "--username", "-u", help="Don't ask for it."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from standard input (scripts)."
    ),
) -> None:
    """Log in; the tokens are kept in ~/.config/butler/ (mode 0600)."""
    config = Config.load()
    server = normalize_url(url) if url else server_url(state.url_option, config)
    if not username:
        if not _stdin_is_terminal() and password_stdin:
            raise CliError("give --username with --password-stdin")
        username = typer.prompt("Username").strip()
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
    if not username or not password:
        raise CliError("a username and a password are needed")
    butler = Client(server, config)
    response = butler.request(
        "POST",
        "/api/auth/login",
        auth=False,
        json={"username": username, "password": password},
        expect=(200,),
    )
    body = response.json()
    if "access_token" not in body or "refresh_token" not in body:
        raise CliError(f"{server} did not answer like a Butler (no tokens in its login answer)")
    butler.save_tokens(body, body.get("username") or username)
    out.line(Text("Logged in to ") + Text(server, style="bold") + Text(f" as {username}."))
    out.info(f"Tokens saved in {config_path()}")


@app.command()
def logout() -> None:
    """Revoke this login's token and forget it."""
    butler = client()
    entry = butler.session
    if entry is None:
        out.info(f"Not logged in to {butler.url}.")
        return
    try:
        butler.request(
            "POST",
            "/api/auth/logout",
            auth=False,
            json={"refresh_token": entry["refresh_token"]},
            expect=(200, 400, 401),
        )
    except CliError as exc:
        out.warn(f"{exc.message} (the token was not revoked; it is forgotten here)")
    butler.config.forget(butler.url)
    butler.config.save()
    out.line(f"Logged out of {butler.url}.")


# --- deploying -------------------------------------------------------------------------------
_SCP_LIKE = re.compile(r"^[\w.+-]+@[\w.-]+:")


def is_git_url(text: str) -> bool:
    """A URL or a path (Butler's accepted Git URLs), as opposed to the name of an app."""
    return (
        "://" in text
        or text.startswith(("/", ".", "~", "git@"))
        or bool(_SCP_LIKE.match(text))
        or text.endswith(".git")
    )


def _local_path(url: str) -> str:
    """A relative or ~ path that exists here becomes absolute (Butler clones from its path)."""
    if "://" in url or _SCP_LIKE.match(url) or url.startswith("/"):
        return url
    path = Path(url).expanduser()
    return str(path.resolve()) if path.exists() else url


def _read_env_file(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise CliError(f"cannot read --env-file {path}: {reason}") from None


def _by_name(projects: list[dict], name: str | None) -> dict | None:
    if not name:
        return None
    return next((p for p in projects if p.get("app_name") == name), None)


@app.command()
def deploy(
    target: str | None = typer.Argument(
        None,
        help="A Git URL (or a path Butler may clone) for a new app, or the name of one of "
        "your apps to deploy it again.",
        show_default=False,
        metavar="[GIT_URL|APP]",
    ),
    frontend: str | None = typer.Option(None, "--frontend", help="A multi-repo app's frontend."),
    backend: str | None = typer.Option(None, "--backend", help="A multi-repo app's backend."),
    name: str | None = typer.Option(
        None, "--name", "-n", help="The app's name (an app of yours by that name is redeployed)."
    ),
    branch: str | None = typer.Option(None, "--branch", "-b", help="The branch to deploy."),
    env_file: Path | None = typer.Option(
        None, "--env-file", help="A .env file imported into the app's variables first."
    ),
    follow: bool = typer.Option(False, "--follow", "-f", help="Stream the build log."),
    wait: bool = typer.Option(
        True, "--wait/--no-wait", help="Wait for the end (the default) or only queue it."
    ),
    json_out: bool = JSON,
) -> None:
    """Deploy a repository (or a frontend + backend pair), or deploy an app again.

    `butler deploy URL` creates an app and deploys it; `butler deploy APP` deploys an existing
    app again (a new commit, new variables). Exits non-zero when the deployment fails.
    """
    split = frontend is not None or backend is not None
    if split and target:
        raise CliError("give either a Git URL (or an app) or --frontend and --backend, not both")
    if split and not (frontend and backend):
        raise CliError("a multi-repo app needs both --frontend URL and --backend URL")
    if not split and not target:
        raise CliError("give a Git URL, the name of one of your apps, or --frontend and --backend")
    content = _read_env_file(env_file)
    butler = client()
    projects = butler.projects()

    form: dict = {}
    if branch:
        form["branch"] = branch
    if split:
        existing = _by_name(projects, name)
        if existing is None:
            body = {"frontend_url": _local_path(frontend), "backend_url": _local_path(backend)}
            if name:
                body["app_name"] = name
            if branch:
                body["branch"] = branch
            existing = butler.post("/api/import-split", body)
        elif existing.get("project_type") != "split":
            raise CliError(f"{name} is not a multi-repo app: deploy it with `butler deploy {name}`")
        project_id = existing.get("id") or existing.get("project_id")
        if content is not None:
            _import_env(butler, project_id, content)
            content = None
        form.update(
            deploy_type="split",
            project_id=project_id,
            frontend_url=_local_path(frontend),
            backend_url=_local_path(backend),
        )
    elif not is_git_url(target):
        if name and name != target:
            raise CliError("--name names a new app; to rename one use the web UI or the API")
        project = butler.project(target)
        form["project_id"] = project["id"]
        if project.get("project_type") == "split":
            form["deploy_type"] = "split"
            if content is not None:
                _import_env(butler, project["id"], content)
                content = None
    else:
        git_url = _local_path(target)
        existing = _by_name(projects, name)
        if existing is None and not name:
            same = [p for p in projects if p.get("git_url") == git_url]
            if len(same) == 1 and same[0].get("project_type") != "split":
                existing = same[0]
                out.info(
                    f"Deploying {existing['app_name']} again (the same repository; "
                    "`--name NEW` makes another app)"
                )
        if existing is not None:
            form.update(project_id=existing["id"], git_url=git_url)
        elif name:
            body = {"git_url": git_url, "app_name": name}
            if branch:
                body["branch"] = branch
            created = butler.post("/api/import", body)
            form["project_id"] = created.get("project_id") or created["id"]
        else:
            form["git_url"] = git_url
    files = {"env_file": (".env", content.encode(), "text/plain")} if content is not None else None
    if files:
        queued = butler.request("POST", "/deploy", data=form, files=files).json()
    else:
        queued = butler.request("POST", "/deploy", json=form).json()
    _after_queue(butler, queued, follow=follow, wait=wait, json_out=json_out)


def _import_env(butler: Client, project_id: int, content: str) -> None:
    butler.post("/api/env-vars/import", {"project_id": project_id, "content": content})


def _after_queue(butler: Client, queued: dict, *, follow: bool, wait: bool, json_out: bool):
    deployments = queued_deployments(queued)
    if not wait:
        if json_out:
            out.json(queued)
            return
        for label, deployment_id in deployments:
            part = f" ({label})" if label else ""
            out.line(f"Queued deployment {deployment_id}{part}.")
        out.info("Follow it with `butler status APP`; `butler cancel APP` stops it.")
        return
    watcher = Watcher(butler, out, project_id=queued["project_id"], follow=follow, quiet=json_out)
    code = watcher.run(deployments)
    if json_out:
        out.json({"project": watcher.project, "deployments": watcher.results})
    raise typer.Exit(code)


@app.command()
def rollback(
    app_name: str = APP,
    deployment: str | None = typer.Argument(
        None,
        help="The deployment (its number, as in `#3`) whose release to run again "
        "(default: the release before the running one).",
        show_default=False,
        metavar="[DEPLOYMENT]",
    ),
    release: int | None = typer.Option(
        None, "--release", "-r", help="The release number to run again (see `butler releases`)."
    ),
    follow: bool = typer.Option(False, "--follow", "-f", help="Stream the deployment's log."),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Wait for the end (the default)."),
    json_out: bool = JSON,
) -> None:
    """Run an earlier release again (its image and variables; no build)."""
    if deployment is not None and release is not None:
        raise CliError("give a deployment or --release, not both")
    butler = client()
    project = butler.project(app_name)
    body: dict = {}
    if deployment is not None:
        body["deployment_id"] = _deployment_id(butler, project, deployment)
    elif release is not None:
        releases = butler.get_all(f"/api/projects/{project['id']}/releases")
        found = [r for r in releases if r.get("number") == release]
        if not found:
            raise CliError(
                f"no release v{release} of {project['app_name']}; `butler releases` lists them"
            )
        body["release_id"] = found[0]["id"]
    queued = butler.post(f"/api/projects/{project['id']}/rollback", body)
    queued.setdefault("project_id", project["id"])
    _after_queue(butler, queued, follow=follow, wait=wait, json_out=json_out)


def _some(names: list[str], shown: int = 2) -> str:
    more = f" +{len(names) - shown}" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def _deployments(butler: Client, project: dict) -> list[dict]:
    return butler.get_all(f"/api/projects/{project['id']}/deployments")


def _deployment_id(butler: Client, project: dict, number: str) -> int:
    """The id of the app's deployment #number (a multi-repo app: the backend's, if both)."""
    wanted = number.strip().lstrip("#")
    if not wanted.isdigit():
        raise CliError(f"DEPLOYMENT is a deployment's number (as in #3), not {number!r}")
    found = [d for d in _deployments(butler, project) if str(d.get("number")) == wanted]
    if not found:
        raise CliError(
            f"no deployment #{wanted} of {project['app_name']}; `butler releases "
            f"{project['app_name']}` lists them"
        )
    found.sort(key=lambda d: d.get("component_type") != "backend")
    return int(found[0]["id"])


@app.command()
def cancel(app_name: str = APP) -> None:
    """Cancel the app's deployment that is queued or in progress."""
    butler = client()
    project = butler.project(app_name)
    response = butler.request(
        "POST", f"/api/projects/{project['id']}/cancel", expect=(200, 202, 409)
    )
    if response.status_code == 409:
        raise CliError(f"nothing to cancel: {error_message(response)}")
    for deployment in response.json():
        state_text = (
            "cancelled" if deployment.get("status") == "cancelled" else "is being cancelled"
        )
        out.line(
            f"Deployment #{deployment.get('number')} of {deployment.get('app_name')} {state_text}."
        )


# --- reading ---------------------------------------------------------------------------------
_STATUS_STYLE = {
    "running": "green",
    "failed": "red",
    "missing": "red",
    "stopped": "yellow",
    "cancelled": "yellow",
    "deploying": "cyan",
    "queued": "cyan",
    "cloning": "cyan",
    "building": "cyan",
    "starting": "cyan",
}


def _status(status: str | None) -> Text:
    return Text(status or "", style=_STATUS_STYLE.get(status or "", ""))


def _when(stamp: str | None) -> str:
    if not stamp:
        return ""
    return stamp.replace("T", " ")[:16]


def _url(project: dict) -> str:
    return project.get("http_url") or project.get("deployed_url") or ""


@app.command("ls")
def list_apps(json_out: bool = JSON) -> None:
    """List your apps."""
    projects = client().projects()
    if json_out:
        out.json(projects)
        return
    rows = [
        [
            p.get("app_name"),
            _status(p.get("status")),
            p.get("deployed_url") or "",
            p.get("http_url") or "",
            "multi-repo" if p.get("project_type") == "split" else (p.get("strategy") or ""),
            _when(p.get("updated_at")),
        ]
        for p in projects
    ]
    out.table(
        ["NAME", "STATUS", "URL", "NAME URL", "KIND", "UPDATED"],
        rows,
        empty="No apps yet: `butler deploy GIT_URL` deploys one.",
    )


@app.command()
def status(app_name: str = APP, json_out: bool = JSON) -> None:
    """An app's state, addresses and latest deployment."""
    butler = client()
    project = butler.project(app_name)
    recent = butler.request(
        "GET", f"/api/projects/{project['id']}/deployments", params={"page_size": 5}
    ).json()
    components = []
    if project.get("project_type") == "split":
        components = butler.get(f"/projects/{project['id']}/components")
        if isinstance(components, dict):
            components = components.get("components") or list(components.values())
    if json_out:
        out.json({"project": project, "components": components, "deployments": recent})
        return
    domains = ", ".join(d.get("domain", "") for d in project.get("domains") or [])
    pairs: list[tuple[str, object]] = [
        ("app", f"{project.get('app_name')} (id {project.get('id')})"),
        ("status", project.get("status")),
        ("url", project.get("deployed_url")),
        ("name url", project.get("http_url")),
        ("domains", domains),
        ("git", project.get("git_url")),
        ("branch", project.get("branch")),
        ("strategy", project.get("strategy")),
    ]
    for component in components if isinstance(components, list) else []:
        if isinstance(component, dict):
            pairs.append(
                (
                    component.get("component_type") or "component",
                    f"{component.get('status')}  {_url(component)}  {component.get('git_url')}",
                )
            )
    if recent:
        latest = recent[0]
        part = f" ({latest['component_type']})" if latest.get("component_type") else ""
        line = f"#{latest.get('number')}{part} {latest.get('status')}, {_when(latest.get('created_at'))}"
        if latest.get("commit_sha"):
            line += f", commit {latest['commit_sha'][:7]}"
        pairs.append(("last deploy", line))
        if latest.get("error"):
            pairs.append(("error", str(latest["error"]).splitlines()[0]))
    out.fields(pairs)


def _has_display() -> bool:
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


@app.command("open")
def open_app(
    app_name: str = APP,
    print_only: bool = typer.Option(False, "--print", help="Print the URL, don't open it."),
    json_out: bool = JSON,
) -> None:
    """Open the app in a browser (prints the URL when there is no display)."""
    project = client().project(app_name)
    url = _url(project)
    if json_out:
        keys = ("app_name", "deployed_url", "http_url", "hostname", "domains")
        out.json({"url": url, **{k: project.get(k) for k in keys}})
        return
    if not url:
        raise CliError(
            f"{project.get('app_name')} has no URL yet: deploy it (`butler deploy {app_name}`)"
        )
    if print_only or not _has_display() or not webbrowser.open(url):
        print(url)
        return
    out.info(f"Opening {url}")


@app.command()
def logs(
    app_name: str = APP,
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing as the app prints."),
    tail: int = typer.Option(200, "--tail", "-n", help="How many of the last lines to show."),
    since: str | None = typer.Option(
        None, "--since", help="Only lines newer than this: seconds ago (300) or an ISO time."
    ),
    component: Component | None = COMPONENT,
    json_out: bool = JSON,
) -> None:
    """The running app's own output (stdout and stderr)."""
    if not 0 <= tail <= 5000:
        raise CliError("--tail must be between 0 and 5000")
    butler = client()
    project = butler.project(app_name)
    part = component.value if component else None
    if project.get("project_type") == "split" and part is None:
        raise CliError(
            f"{project['app_name']} is a multi-repo app: add --component frontend or backend"
        )

    def show(lines: list[dict]) -> None:
        for line in lines:
            if json_out:
                out.json_line(line)
            else:
                style = "yellow" if line.get("stream") == "stderr" else ""
                out.out.print(Text(clean(str(line.get("text", ""))), style=style), soft_wrap=True)

    if not follow:
        params = {"tail": tail}
        if since:
            params["since"] = since
        if part:
            params["component"] = part
        body = butler.get(f"/api/projects/{project['id']}/logs", params=params)
        if json_out:
            out.json(body)
        else:
            show(body.get("lines") or [])
        return
    if since:
        raise CliError("--since works without --follow; with it, use --tail")
    try:
        reason = follow_runtime_logs(
            butler,
            project,
            tail=tail,
            component=part,
            on_lines=show,
            on_note=lambda note: out.info(note),
        )
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    out.info(reason)


@app.command()
def releases(app_name: str = APP, json_out: bool = JSON) -> None:
    """What the app's builds produced, newest first, and which can be rolled back to."""
    butler = client()
    project = butler.project(app_name)
    items = butler.get_all(f"/api/projects/{project['id']}/releases")
    if json_out:
        out.json(items)
        return
    numbers = {d.get("id"): d.get("number") for d in _deployments(butler, project)}
    split = project.get("project_type") == "split"
    rows = []
    for item in items:
        if item.get("is_current"):
            rollback_text = ""
        elif item.get("can_rollback"):
            rollback_text = "yes"
        else:
            rollback_text = item.get("rollback_unavailable") or "no"
        row = [
            f"v{item.get('number')}",
            Text("* running", style="green") if item.get("is_current") else "",
            (item.get("commit_sha") or "")[:7],
            item.get("strategy") or "",
            _some(item.get("env_keys") or []),
            _when(item.get("created_at")),
            rollback_text,
            ", ".join(f"#{numbers.get(d, '?')}" for d in item.get("deployment_ids") or []),
        ]
        if split:
            row.insert(1, item.get("component_type") or "")
        rows.append(row)
    columns = [
        "RELEASE",
        "",
        "COMMIT",
        "STRATEGY",
        "VARIABLES",
        "CREATED",
        "ROLLBACK",
        "DEPLOYMENTS",
    ]
    if split:
        columns.insert(1, "PART")
    out.table(columns, rows, empty=f"No releases of {project['app_name']} yet.")


# --- addresses and removal ---------------------------------------------------------------------
@app.command()
def domains(
    app_name: str = APP,
    action: str | None = typer.Argument(
        None, help="add or rm", show_default=False, metavar="[add|rm]"
    ),
    domain: str | None = typer.Argument(
        None, help="The domain to add or remove.", show_default=False, metavar="[DOMAIN]"
    ),
    json_out: bool = JSON,
) -> None:
    """The app's addresses; `add DOMAIN` and `rm DOMAIN` change its custom domains."""
    butler = client()
    project = butler.project(app_name)
    base = f"/api/projects/{project['id']}/domains"
    if action is None:
        body = butler.get(base)
    elif action not in ("add", "rm", "remove"):
        raise CliError(f"unknown action {action!r}: use `add DOMAIN` or `rm DOMAIN`")
    elif not domain:
        raise CliError(f"`butler domains {app_name} {action}` needs a DOMAIN")
    elif action == "add":
        body = butler.post(base, {"domain": domain})
    else:
        body = butler.request("DELETE", f"{base}/{quote(domain, safe='')}").json()
    if json_out:
        out.json(body)
        return
    if action == "add":
        out.line(f"Added {domain} to {project['app_name']}.")
    elif action:
        out.line(f"Removed {domain} from {project['app_name']}.")
    out.fields(
        [
            ("url", body.get("url")),
            ("hostname", body.get("hostname")),
            ("name url", body.get("http_url")),
        ]
    )
    rows = [
        [d.get("domain"), "https" if d.get("https") else "http", _when(d.get("created_at"))]
        for d in body.get("domains") or []
    ]
    out.table(["DOMAIN", "SERVED AS", "ADDED"], rows, empty="No custom domains.")


@app.command("rm")
def remove(
    app_name: str = APP,
    yes: bool = typer.Option(False, "--yes", "-y", help="Don't ask."),
) -> None:
    """Delete an app and everything Butler made for it (asks first)."""
    butler = client()
    project = butler.project(app_name)
    name = project["app_name"]
    if not yes:
        if not _stdin_is_terminal():
            raise CliError(f"not deleting {name} without --yes (no terminal to ask on)")
        try:
            sure = typer.confirm(
                f"Delete {name} with its containers, images, addresses and variables?",
                default=False,
            )
        except typer.Abort:
            sure = False
        if not sure:
            out.info(f"Kept {name}.")
            raise typer.Exit(1)
    body = butler.request("DELETE", f"/api/projects/{project['id']}").json()
    removed = body.get("removed") or {}
    counts = [
        _count(len(v), k.replace("_", " ")) for k, v in removed.items() if isinstance(v, list) and v
    ]
    out.line(f"Deleted {name}." + (f" Removed: {', '.join(counts)}." if counts else ""))


def _count(n: int, plural: str) -> str:
    singular = {"work dirs": "work dir", "compose projects": "compose project"}.get(
        plural, plural[:-1] if plural.endswith("s") else plural
    )
    return f"{n} {singular if n == 1 else plural}"


@app.command()
def health(json_out: bool = JSON) -> None:
    """Is the Butler up: its database, Docker Engine and front proxy (exit 1 unless healthy)."""
    butler = client()
    response = butler.request("GET", "/health", auth=False, expect=(200, 503))
    try:
        body = response.json()
    except ValueError:
        raise CliError(f"{butler.url}/health did not answer JSON: is this a Butler?") from None
    if json_out:
        out.json(body)
    else:
        overall = body.get("status") or "unknown"
        out.line(
            Text(f"{butler.url}: ")
            + Text(overall, style="green" if overall == "healthy" else "red")
        )
        for part in ("database", "docker", "proxy"):
            info = body.get(part) or {}
            ok = bool(info.get("ok"))
            extra = info.get("server_version") or info.get("vendor") or info.get("error") or ""
            out.line(
                Text(f"  {part:<9}")
                + Text("ok" if ok else "down", style="green" if ok else "red")
                + Text(f"  {clean(str(extra))}" if extra else "")
            )
    if body.get("status") != "healthy":
        raise typer.Exit(1)


# --- environment variables ---------------------------------------------------------------------
def _env_target(butler: Client, app_name: str, component: Component | None) -> tuple[dict, dict]:
    project = butler.project(app_name)
    ref = {"project_id": project["id"]}
    if component:
        ref["component"] = component.value
    return project, ref


def _redeploy_note(project: dict, needed) -> None:
    if needed:
        out.info(f"Takes effect at the next deploy: `butler deploy {project['app_name']}`")


MASK = "••••••"


@env_app.command("list")
def env_list(
    app_name: str = APP,
    component: Component | None = COMPONENT,
    reveal: bool = typer.Option(False, "--reveal", help="Show the values (masked otherwise)."),
    json_out: bool = JSON,
) -> None:
    """The app's variables (values masked unless --reveal)."""
    butler = client()
    project, ref = _env_target(butler, app_name, component)
    body = butler.get("/api/env-vars", params=ref)
    if not reveal:
        body["variables"] = dict.fromkeys(body.get("variables") or {}, MASK)
        body["inherited"] = dict.fromkeys(body.get("inherited") or {}, MASK)
        for item in body.get("items") or []:
            item["value"] = MASK
    if json_out:
        out.json(body)
        return
    rows = [
        [
            item.get("key"),
            item.get("value"),
            "build" if item.get("is_build_time") else "",
            _when(item.get("updated_at")),
        ]
        for item in body.get("items") or []
    ]
    rows += [[key, value, "inherited", ""] for key, value in (body.get("inherited") or {}).items()]
    out.table(
        ["KEY", "VALUE", "", "UPDATED"], rows, empty=f"{project['app_name']} has no variables."
    )
    for error in body.get("errors") or []:
        out.warn(str(error))
    _redeploy_note(project, body.get("redeploy_needed"))


@env_app.command("set")
def env_set(
    app_name: str = APP,
    pairs: list[str] = typer.Argument(
        ...,
        help="KEY=VALUE pairs, or one KEY with --stdin.",
        show_default=False,
        metavar="KEY=VALUE...",
    ),
    from_stdin: bool = typer.Option(
        False, "--stdin", help="Read the value of the one KEY from standard input."
    ),
    build_time: bool = typer.Option(
        False, "--build-time", help="Also give it to the image build (as a build argument)."
    ),
    component: Component | None = COMPONENT,
) -> None:
    """Set variables: `KEY=VALUE ...`, or `KEY --stdin` to keep a secret out of argv."""
    if from_stdin:
        if len(pairs) != 1 or "=" in pairs[0]:
            raise CliError("with --stdin give exactly one KEY (no =VALUE)")
        if _stdin_is_terminal():
            value = getpass.getpass(f"Value of {pairs[0]}: ")
        else:
            value = sys.stdin.read()
            value = value[:-1] if value.endswith("\n") else value
            value = value[:-1] if value.endswith("\r") else value
        items = [(pairs[0], value)]
    else:
        items = []
        for pair in pairs:
            key, sep, value = pair.partition("=")
            if not sep or not key:
                raise CliError(
                    f"expected KEY=VALUE, got {key!r} (use `--stdin` to read a value from "
                    "standard input)"
                )
            items.append((key, value))
    butler = client()
    project, ref = _env_target(butler, app_name, component)
    needed = False
    for key, value in items:
        body = {**ref, "value": value}
        if build_time:
            body["is_build_time"] = True
        answer = butler.request("PUT", f"/api/env-vars/{quote(key, safe='')}", json=body).json()
        needed = answer.get("redeploy_needed", needed)
        out.line(f"Set {key} on {project['app_name']}.")
    _redeploy_note(project, needed)


@env_app.command("unset")
def env_unset(
    app_name: str = APP,
    keys: list[str] = typer.Argument(
        ..., help="The variables to remove.", show_default=False, metavar="KEY..."
    ),
    component: Component | None = COMPONENT,
) -> None:
    """Remove variables."""
    butler = client()
    project, ref = _env_target(butler, app_name, component)
    needed = False
    for key in keys:
        response = butler.request(
            "DELETE", f"/api/env-vars/{quote(key, safe='')}", params=ref, expect=(200, 204, 404)
        )
        if response.status_code == 404:
            raise CliError(f"{project['app_name']} has no variable {key}")
        needed = response.json().get("redeploy_needed", needed)
        out.line(f"Removed {key} from {project['app_name']}.")
    _redeploy_note(project, needed)


@env_app.command("import")
def env_import(
    app_name: str = APP,
    file: str = typer.Argument(
        ..., help="A .env file, or - for standard input.", show_default=False, metavar="FILE"
    ),
    replace: bool = typer.Option(False, "--replace", help="Remove the variables it doesn't name."),
    component: Component | None = COMPONENT,
) -> None:
    """Import a .env file into the app's variables."""
    content = sys.stdin.read() if file == "-" else _read_env_file(Path(file))
    butler = client()
    project, ref = _env_target(butler, app_name, component)
    body = butler.post("/api/env-vars/import", {**ref, "content": content, "replace": replace})
    out.line(f"{body.get('message', 'Imported')} into {project['app_name']}.")
    _redeploy_note(project, body.get("redeploy_needed"))


@env_app.command("export")
def env_export(
    app_name: str = APP,
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write to this file (mode 0600) instead of stdout."
    ),
    component: Component | None = COMPONENT,
    json_out: bool = typer.Option(False, "--json", help="The variables as a JSON object."),
) -> None:
    """The app's variables as a .env file."""
    butler = client()
    _project, ref = _env_target(butler, app_name, component)
    if json_out:
        text = None
        data = butler.get("/api/env-vars", params=ref).get("variables") or {}
    else:
        text = butler.request("GET", "/api/env-vars/export", params=ref).text
    if output is None:
        if json_out:
            out.json(data)
        else:
            sys.stdout.write(text)
        return
    payload = json.dumps(data, indent=2) + "\n" if json_out else text
    try:
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as sink:
            sink.write(payload)
    except OSError as exc:
        raise CliError(f"cannot write {output}: {exc.strerror or exc}") from None
    out.info(f"Wrote {output}")


@env_app.command("detect")
def env_detect(
    target: str = typer.Argument(
        ...,
        help="A Git URL to scan (or one of your apps).",
        show_default=False,
        metavar="GIT_URL|APP",
    ),
    json_out: bool = JSON,
) -> None:
    """The variables a repository's code reads, and what they are for."""
    butler = client()
    if is_git_url(target):
        params = {"git_url": _local_path(target)}
    else:
        params = {"project_id": butler.project(target)["id"]}
    body = butler.get("/api/env-vars/detect", params=params)
    if json_out:
        out.json(body)
    else:
        suggestions = body.get("suggestions") or {}
        rows = [
            [
                key,
                info.get("component") or "",
                info.get("priority") or "",
                "yes" if info.get("is_set") else "",
                info.get("default") or "",
                info.get("source") or info.get("detected_from") or "",
                info.get("description") or "",
            ]
            for key, info in suggestions.items()
        ]
        out.table(
            ["VARIABLE", "PART", "PRIORITY", "SET", "DEFAULT", "FOUND IN", "WHAT"],
            rows,
            empty="No variables found." if not body.get("error") else "",
        )
    if body.get("error"):
        raise CliError(str(body["error"]))


# --- the entry point -----------------------------------------------------------------------------
def hoist_url(args: list[str]) -> list[str]:
    """`--url X` is the whole command's option; it is taken after the command too
    (`butler health --url X`), as users type it, by moving it to the front."""
    front: list[str] = []
    rest: list[str] = []
    items = iter(args)
    for arg in items:
        if arg == "--":
            rest += [arg, *items]
            break
        if arg == "--url":
            front += [arg, next(items, "")]
        elif arg.startswith("--url="):
            front.append(arg)
        else:
            rest.append(arg)
    return [*front, *rest]


def run() -> None:
    """`butler`: every failure is one line on stderr and a non-zero exit, never a traceback."""
    command = typer.main.get_command(app)
    try:
        code = command.main(args=hoist_url(sys.argv[1:]), prog_name="butler", standalone_mode=False)
    except CliError as exc:
        out.error(exc.message)
        sys.exit(exc.code)
    except NoArgsIsHelpError as exc:
        sys.stderr.write(exc.format_message() + "\n")
        sys.exit(2)
    except UsageError as exc:
        where = f" (`{exc.ctx.command_path} --help` shows how)" if exc.ctx else ""
        out.error(exc.format_message() + where)
        sys.exit(2)
    except ClickException as exc:
        out.error(exc.format_message())
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt, EOFError):
        out.info("interrupted")
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(1)
    except Exception as exc:
        if os.environ.get("BUTLER_DEBUG"):
            raise
        out.error(f"unexpected {type(exc).__name__}: {exc} (BUTLER_DEBUG=1 shows where)")
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
