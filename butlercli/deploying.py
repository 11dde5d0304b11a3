"""Watching deployments to their end: each phase on a Rich progress display (plain lines when
not on a terminal), the build log with `--follow`, Ctrl-C asking whether to cancel, and a
summary: the URL, or the error and a non-zero exit."""

from __future__ import annotations

import re
import sys
import time

import typer
from rich.progress import Progress, ProgressColumn, SpinnerColumn, TextColumn
from rich.text import Text

from butlercli.client import Client
from butlercli.output import Output, clean
from butlercli.streams import DeploymentStream

ENDED = ("running", "failed", "cancelled", "superseded")
_LINE_STYLE = {"system": "dim", "warning": "yellow", "error": "red"}
_END_MARK = {"running": ("✓", "green"), "superseded": ("✓", "green")}


def queued_deployments(body: dict) -> list[tuple[str | None, int]]:
    """(label, id) of what a deploy or rollback queued, in the order they run (backend first)."""
    ids = body.get("deployment_ids")
    if isinstance(ids, dict) and ids:
        items = sorted(ids.items(), key=lambda item: item[0] != "backend")
        if len(items) == 1:
            return [(None, int(items[0][1]))]
        return [(str(label), int(value)) for label, value in items]
    if isinstance(ids, list) and ids:
        return [(None, int(value)) for value in ids]
    return [(None, int(body["deployment_id"]))]


class _Mark(SpinnerColumn):
    def render(self, task):
        if task.total is not None and task.completed >= task.total:
            return Text(task.fields.get("mark", "✓"), style=task.fields.get("mark_style", "green"))
        return super().render(task)


class _Elapsed(ProgressColumn):
    def render(self, task):
        since = task.fields.get("since")
        if since is None:
            return Text("")
        end = task.fields.get("end") or time.monotonic()
        return Text(f"{end - since:5.1f}s", style="dim")


class Phases:
    """One row per phase (a spinner while it lasts, ✓ and its time after), or on a pipe one
    plain line per phase."""

    def __init__(self, out: Output, *, quiet: bool):
        self.out = out
        self.quiet = quiet
        self.live = out.styled and not quiet
        self.progress: Progress | None = None
        self.rows: dict[str | None, tuple[str, float, int | None]] = {}
        self.started = time.monotonic()

    def _progress(self) -> Progress:
        if self.progress is None:
            self.progress = Progress(
                _Mark("dots"),
                TextColumn("{task.description}"),
                _Elapsed(),
                console=self.out.out,
                transient=False,
                refresh_per_second=8,
            )
            self.progress.start()
            for label, (phase, since, _task) in list(self.rows.items()):
                task = self.progress.add_task(self._name(label, phase), total=1, since=since)
                self.rows[label] = (phase, since, task)
        return self.progress

    @staticmethod
    def _name(label: str | None, phase: str) -> str:
        return f"{label}: {phase}" if label else phase

    def phase(self, label: str | None, phase: str, detail: str = "") -> None:
        if self.quiet:
            return
        now = time.monotonic()
        previous = self.rows.pop(label, None)
        if not self.live:
            suffix = f" ({detail})" if detail else ""
            self.out.line(f"-> {self._name(label, phase)}{suffix}  [{now - self.started:.1f}s]")
            if phase not in ENDED:
                self.rows[label] = (phase, now, None)
            return
        progress = self._progress()
        description = self._name(label, phase) + (f" ({detail})" if detail else "")
        mark, style = _END_MARK.get(phase, ("✗", "red" if phase == "failed" else "yellow"))
        if phase in ENDED and phase not in _END_MARK and previous and previous[2] is not None:
            # it ended in the middle of that phase: its row says so
            words = Text(self._name(label, previous[0])) + Text(f": {phase}", style=style)
            progress.update(
                previous[2],
                description=words.markup,
                completed=1,
                end=now,
                mark=mark,
                mark_style=style,
            )
            return
        if previous is not None and previous[2] is not None:
            progress.update(previous[2], completed=1, end=now)
        if phase in ENDED:
            progress.add_task(
                Text(description, style=style).markup,
                total=1,
                completed=1,
                mark=mark,
                mark_style=style,
            )
        else:
            task = progress.add_task(Text(description).markup, total=1, since=now)
            self.rows[label] = (phase, now, task)

    def print(self, text: Text) -> None:
        console = self.progress.console if self.progress is not None else self.out.out
        console.print(text, soft_wrap=True)

    def pause(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def resume(self) -> None:
        if self.live and self.rows:
            self._progress()

    def stop(self) -> None:
        self.pause()


class Watcher:
    def __init__(self, client: Client, out: Output, *, project_id: int, follow: bool, quiet: bool):
        self.client = client
        self.out = out
        self.project_id = project_id
        self.follow = follow and not quiet
        self.quiet = quiet
        self.phases = Phases(out, quiet=quiet)
        self.results: list[dict] = []
        self.project: dict | None = None

    def run(self, deployments: list[tuple[str | None, int]]) -> int:
        try:
            for index, (label, deployment_id) in enumerate(deployments):
                self._watch(label, deployment_id, later=[d for _l, d in deployments[index:]])
                self.results.append(self.client.get(f"/api/deployments/{deployment_id}"))
        finally:
            self.phases.stop()
        self.project = self.client.get(f"/api/projects/{self.project_id}")
        return self._summary()

    def _watch(self, label: str | None, deployment_id: int, later: list[int]) -> None:
        prefix = Text(f"{label} | ", style="cyan") if label else Text("")

        def on_lines(lines: list[dict]) -> None:
            if not self.follow:
                return
            for line in lines:
                style = _LINE_STYLE.get(str(line.get("stream")), "")
                self.phases.print(prefix + Text(clean(str(line.get("text", ""))), style=style))

        def on_status(status: str) -> None:
            detail = ""
            if status == "queued":
                body = self.client.get(f"/api/deployments/{deployment_id}")
                queue = body.get("queue") or {}
                if queue.get("waiting_for"):
                    detail = f"waiting for {queue['waiting_for']}"
            self.phases.phase(label, status, detail)

        def on_skipped(count: int) -> None:
            if self.follow:
                self.phases.print(
                    prefix + Text(f"({count} lines skipped: too fast to show)", "dim")
                )

        stream = DeploymentStream(
            self.client,
            deployment_id,
            on_lines=on_lines,
            on_status=on_status,
            on_skipped=on_skipped,
        )
        while True:
            try:
                stream.follow()
                return
            except KeyboardInterrupt:
                self.phases.pause()
                answer = self._ask_cancel()
                if answer is False:
                    self.out.info(
                        "Stopped following; the deployment goes on. `butler status APP` shows "
                        "it, `butler cancel APP` stops it."
                    )
                    raise typer.Exit(130) from None
                if answer:
                    self._cancel(later)
                self.phases.resume()

    def _ask_cancel(self) -> bool | None:
        """True: cancel; False: stop following; None (answered no): go on following."""
        try:
            if not sys.stdin.isatty():
                return False
        except (AttributeError, ValueError):
            return False
        try:
            answer = typer.confirm("\nCancel the deployment?", default=False)
        except (typer.Abort, KeyboardInterrupt, EOFError):
            return False
        return True if answer else None

    def _cancel(self, ids: list[int]) -> None:
        for deployment_id in ids:
            response = self.client.request(
                "POST", f"/api/deployments/{deployment_id}/cancel", expect=(200, 202, 409)
            )
            if response.status_code != 409:
                self.out.info("Cancelling the deployment…")

    def _summary(self) -> int:
        project = self.project or {}
        name = project.get("app_name") or "the app"
        failed = [d for d in self.results if d.get("status") not in ("running", "superseded")]
        if self.quiet:
            return 1 if failed else 0
        for deployment in self.results:
            for warning in [] if self.follow else deployment.get("warnings") or []:
                text = warning.get("message", "") if isinstance(warning, dict) else str(warning)
                self.out.warn(re.sub(r"^warning:\s*", "", text, flags=re.IGNORECASE))
        if not failed:
            url = project.get("deployed_url") or ""
            line = Text("✓ ", style="green") + Text(f"{name} is running")
            if url:
                line += Text(" at ") + Text(url, style="bold")
            self.out.line(line)
            if project.get("http_url"):
                self.out.line(Text(f"  also at {project['http_url']}"))
            return 0
        for deployment in failed:
            error = str(deployment.get("error") or deployment.get("message") or "").strip()
            first, _, rest = error.partition("\n")
            if rest.strip() and not self.follow:
                for extra in rest.strip().splitlines():
                    self.out.err.print(Text(clean(extra), style="dim"), soft_wrap=True)
            what = f"deployment #{deployment.get('number')} of {deployment.get('app_name') or name}"
            verb = "was cancelled" if deployment.get("status") == "cancelled" else "failed"
            raise_error = f"{what} {verb}" + (f": {first}" if first else "")
            self.out.error(raise_error)
        return 1
