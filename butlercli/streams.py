"""The live streams (WebSockets): a deployment's log (`ws/deployments/<id>/`, resumed after
the last line seen when the connection drops) and a running app's output
(`ws/projects/<id>/logs/`). Signed in with the bearer header on the handshake, never with the
token in the URL."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from urllib.parse import urlencode

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.sync.client import connect

from butlercli import __version__
from butlercli.client import NOT_LOGGED_IN, Client, CliError, unreachable, ws_url

RECONNECT_FOR = 60.0  # seconds of failed reconnects before giving up
ENDED = {"running", "failed", "cancelled", "superseded"}


class _Closed(Exception):
    def __init__(self, code: int | None, reason: str = ""):
        self.code = code
        self.reason = reason


def _messages(client: Client, path: str, params: dict):
    """Yield the JSON messages of one connection; `_Closed` with the close code at the end."""
    query = urlencode({k: v for k, v in params.items() if v is not None})
    url = ws_url(client.url, path) + (f"?{query}" if query else "")
    headers = {"Authorization": f"Bearer {client.access_token()}"}
    try:
        socket = connect(
            url,
            additional_headers=headers,
            user_agent_header=f"butler-cli/{__version__}",
            open_timeout=15,
            max_size=8 * 1024 * 1024,
            compression=None,
        )
    except InvalidStatus as exc:
        raise CliError(
            f"Butler refused the live stream {path} (HTTP {exc.response.status_code})"
        ) from None
    except (OSError, InvalidHandshake, TimeoutError) as exc:
        raise _Closed(None, str(exc)) from None
    with socket:
        try:
            while True:
                raw = socket.recv(timeout=None)
                try:
                    message = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(message, dict):
                    yield message
        except ConnectionClosed as exc:
            rcvd = exc.rcvd
            raise _Closed(rcvd.code if rcvd else None, rcvd.reason if rcvd else "") from None


class _Reconnects:
    """How long a stream keeps retrying a lost connection, and the one refresh on a 4401."""

    def __init__(self, client: Client):
        self.client = client
        self.since: float | None = None
        self.refreshed = False

    def ok(self) -> None:
        self.since = None
        self.refreshed = False

    def after(self, closed: _Closed, what: str) -> None:
        """Wait before the next attempt, or raise the error that ends the stream."""
        if closed.code == 4401:
            if self.refreshed or not self.client.refresh():
                raise CliError(NOT_LOGGED_IN)
            self.refreshed = True
            return
        if closed.code == 4403:
            raise CliError(f"{what} is not one of yours (or no longer exists)")
        if closed.code == 1008:
            raise CliError(f"Butler closed the stream of {what}: {closed.reason or 'policy'}")
        now = time.monotonic()
        if self.since is None:
            self.since = now
        elif now - self.since > RECONNECT_FOR:
            if closed.code is None:
                raise unreachable(self.client.url, Exception(closed.reason or "connection lost"))
            raise CliError(f"lost the live stream of {what} (close code {closed.code})")
        time.sleep(min(2.0, 0.3 + (now - self.since) / 5))


class DeploymentStream:
    """Follows one deployment to its end; `after` is the last log line seen, so a new
    `follow()` (after a Ctrl-C that did not cancel, or a dropped connection) resumes there."""

    def __init__(
        self,
        client: Client,
        deployment_id: int,
        *,
        on_lines: Callable[[list[dict]], None],
        on_status: Callable[[str], None],
        on_skipped: Callable[[int], None],
    ):
        self.client = client
        self.id = deployment_id
        self.after = 0
        self.status: str | None = None
        self.on_lines = on_lines
        self.on_status = on_status
        self.on_skipped = on_skipped

    def follow(self) -> None:
        retry = _Reconnects(self.client)
        while True:
            try:
                for message in _messages(
                    self.client, f"/ws/deployments/{self.id}/", {"after": self.after}
                ):
                    retry.ok()
                    self._handle(message)
            except _Closed as closed:
                if closed.code == 1000:
                    return
                retry.after(closed, f"deployment #{self.id}")

    def _handle(self, message: dict) -> None:
        kind = message.get("type")
        if kind == "log":
            lines = [
                line
                for line in message.get("lines") or []
                if isinstance(line, dict) and int(line.get("seq") or 0) > self.after
            ]
            if lines:
                self.after = max(int(line.get("seq") or 0) for line in lines)
                self.on_lines(lines)
        elif kind == "status":
            status = str(message.get("status") or "")
            if status and status != self.status:
                self.status = status
                self.on_status(status)
        elif kind == "skipped":
            self.on_skipped(int(message.get("count") or 0))


def follow_runtime_logs(
    client: Client,
    project: dict,
    *,
    tail: int,
    component: str | None,
    on_lines: Callable[[list[dict]], None],
    on_note: Callable[[str], None],
) -> str:
    """Print the app's output as it comes; across a redeploy or rollback it goes on with the
    new container. Returns why it ended (the container stopped, the app was deleted)."""
    retry = _Reconnects(client)
    params = {"tail": tail, "component": component}
    name = project.get("app_name") or f"#{project['id']}"
    while True:
        end_reason = None
        following = _running_deployment(client, project["id"], component)
        try:
            for message in _messages(client, f"/ws/projects/{project['id']}/logs/", params):
                retry.ok()
                kind = message.get("type")
                if kind == "log":
                    on_lines(
                        [line for line in message.get("lines") or [] if isinstance(line, dict)]
                    )
                elif kind == "skipped":
                    on_note(f"({int(message.get('count') or 0)} lines skipped: too fast to show)")
                elif kind == "end":
                    end_reason = str(message.get("reason") or "the output ended")
        except _Closed as closed:
            if closed.code == 1000:
                reason = end_reason or "the output ended"
                now = _running_deployment(client, project["id"], component)
                if now is not None and (now != following or "replaced by deployment" in reason):
                    on_note(f"{name} now runs deployment #{now[1]}: following its output")
                    params["tail"] = max(tail, 200)  # all of the new container's output so far
                    time.sleep(0.3)
                    continue
                return reason
            retry.after(closed, name)
            params["tail"] = 0  # resume: what was already shown is not shown again


def _running_deployment(client: Client, project_id: int, component: str | None):
    """(id, number) of the deployment whose container serves now, or None."""
    response = client.request(
        "GET",
        f"/api/projects/{project_id}/deployments",
        params={"page_size": 20},
        expect=(200, 404),
    )
    if response.status_code != 200:
        return None
    for deployment in response.json():
        if component and deployment.get("component_type") != component:
            continue
        if deployment.get("status") == "running":
            return (deployment.get("id"), deployment.get("number"))
    return None
