"""Butler's REST API over HTTP: the login's tokens (refreshed when the access token has
expired, and once more on a 401), and every failure turned into one clear `CliError`."""

from __future__ import annotations

import re
import time
from urllib.parse import urlsplit, urlunsplit

import requests

from butlercli import __version__
from butlercli.config import Config, config_lock

TIMEOUT = 30
REFRESH_MARGIN = 60  # seconds before its expiry an access token counts as expired
NOT_LOGGED_IN = "not logged in: run `butler login`"


class CliError(Exception):
    """One line for stderr, and the exit status."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.message = message
        self.code = code


def unreachable(url: str, exc: BaseException) -> CliError:
    return CliError(f"cannot reach Butler at {url}: {_reason(exc)}")


def _reason(exc: BaseException) -> str:
    text = str(exc)
    found = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
    if found:
        return found.group(1).strip()
    if isinstance(exc, requests.Timeout | TimeoutError):
        return "timed out"
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "unknown host"
    return text.splitlines()[0][:200] if text else type(exc).__name__


def error_message(response: requests.Response) -> str:
    """The API's error body in one line: `{"detail": ..., "<field>": ["reason"]}`."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        text = " ".join(response.text.split())[:200]
        return f"Butler answered {response.status_code} {response.reason}" + (
            f": {text}" if text and not text.startswith("<") else ""
        )
    detail = body.get("detail")
    detail = detail if isinstance(detail, str) else ""
    fields = []
    for key, value in body.items():
        if key in ("detail", "code", "messages", "error"):
            continue
        reasons = value if isinstance(value, list) else [value]
        text = "; ".join(_flat(r) for r in reasons if _flat(r))
        if text and isinstance(value, list | str):
            fields.append(f"{key}: {text}")
    if detail and fields and any(detail in field for field in fields):
        return "; ".join(fields)
    parts = [detail, *fields] if detail else fields
    if not parts and isinstance(body.get("error"), str):
        parts = [body["error"]]
    return "; ".join(parts) or f"Butler answered {response.status_code} {response.reason}"


def _flat(value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_flat(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "; ".join(_flat(v) for v in value)
    return "" if value is None else str(value)


def ws_url(base: str, path: str) -> str:
    parts = urlsplit(base)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + path, "", ""))


class Client:
    def __init__(self, url: str, config: Config):
        self.url = url
        self.config = config
        self.http = requests.Session()
        self.http.headers["User-Agent"] = f"butler-cli/{__version__}"

    # --- the login -------------------------------------------------------------------------
    @property
    def session(self) -> dict | None:
        return self.config.session(self.url)

    def save_tokens(self, body: dict, username: str | None = None) -> None:
        old = self.session or {}
        entry = {
            "username": username or body.get("username") or old.get("username") or "",
            "access_token": body["access_token"],
            "refresh_token": body["refresh_token"],
            "expires_at": time.time() + float(body.get("expires_in") or 0),
        }
        self.config.set_session(self.url, entry)
        self.config.save()

    def refresh(self) -> bool:
        """Trade the refresh token for new tokens; False (and the login forgotten) if refused."""
        entry = self.session
        if entry is None:
            return False
        used = entry["refresh_token"]
        with config_lock():
            self.config = Config.load()  # what another `butler` may have saved meanwhile
            on_disk = self.session
            if on_disk is None:
                return False  # logged out meanwhile
            if on_disk["refresh_token"] != used:
                return True  # another `butler` refreshed it: its new tokens are ours too
            response = self._send("POST", "/api/auth/refresh", json={"refresh_token": used})
            if response.status_code == 401:
                self.config.forget(self.url)
                self.config.save()
                return False
            if response.status_code != 200:
                raise CliError(error_message(response))
            self.save_tokens(response.json())
            return True

    def access_token(self) -> str:
        entry = self.session
        if entry is None:
            raise CliError(NOT_LOGGED_IN)
        if time.time() > float(entry.get("expires_at") or 0) - REFRESH_MARGIN:
            if not self.refresh():
                raise CliError(NOT_LOGGED_IN)
            entry = self.session
        return entry["access_token"]

    # --- requests --------------------------------------------------------------------------
    def _send(self, method: str, path: str, *, headers: dict | None = None, **kwargs):
        try:
            return self.http.request(
                method, self.url + path, headers=headers, timeout=TIMEOUT, **kwargs
            )
        except requests.RequestException as exc:
            raise unreachable(self.url, exc) from None

    def request(
        self, method: str, path: str, *, auth: bool = True, expect=(200, 201, 202, 204), **kwargs
    ) -> requests.Response:
        headers = {"Accept": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self.access_token()}"
        response = self._send(method, path, headers=headers, **kwargs)
        if auth and response.status_code == 401:
            if not self.refresh():
                raise CliError(NOT_LOGGED_IN)
            headers["Authorization"] = f"Bearer {self.session['access_token']}"
            response = self._send(method, path, headers=headers, **kwargs)
            if response.status_code == 401:
                raise CliError(NOT_LOGGED_IN)
        if response.status_code not in expect:
            raise CliError(error_message(response))
        return response

    def get(self, path: str, **kwargs):
        return self.request("GET", path, **kwargs).json()

    def post(self, path: str, body: dict | None = None, **kwargs):
        return self.request("POST", path, json=body if body is not None else {}, **kwargs).json()

    def get_all(self, path: str, params: dict | None = None) -> list:
        """A plain-list endpoint, every page (pages are in the `Link` header)."""
        items: list = []
        params = {**(params or {}), "page_size": 200, "page": 1}
        while True:
            response = self.request("GET", path, params=params)
            page = response.json()
            items.extend(page)
            if 'rel="next"' not in response.headers.get("Link", "") or not page:
                return items
            params["page"] += 1

    # --- apps by name ----------------------------------------------------------------------
    def projects(self) -> list[dict]:
        return self.get_all("/api/projects")

    def project(self, app: str) -> dict:
        """The app named `app` (or with that id) of the logged-in user."""
        wanted = app.strip()
        projects = self.projects()
        for project in projects:
            if project.get("app_name") == wanted:
                return project
        if wanted.isdigit():
            for project in projects:
                if str(project.get("id")) == wanted:
                    return project
            response = self.request("GET", f"/api/projects/{wanted}", expect=(200, 404))
            if response.status_code == 200:
                return response.json()  # a component of a multi-repo project
        lowered = wanted.lower()
        for project in projects:
            if str(project.get("app_name", "")).lower() == lowered:
                return project
        raise CliError(f"no app named {wanted}; `butler ls` lists yours")
