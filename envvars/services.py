"""Writes of environment variables, .env import/export, and the values a deploy gets.

Every change to a project's set moves `project.env_updated_at` forward (and its
components', when the project is a multi-repo parent whose variables they inherit), so the
API can say a redeploy is needed. `envvars_for_deploy` is the one function through which
values reach containers. No function here logs or puts a value in a message.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from dotenv.parser import parse_stream

import gitsources
from core import crypto
from core.errors import ApplicationError
from envvars.detection import detect_in_directory
from envvars.models import EnvironmentVariable
from envvars.selectors import UNREADABLE, envvar_keys, envvars_list
from envvars.validation import check_variable, check_variables
from projects.credentials import credential_for_clone
from projects.models import Project

logger = logging.getLogger(__name__)

MAX_DOTENV_BYTES = 1024 * 1024


@dataclass(frozen=True)
class DeployEnv:
    """What a container gets: its environment, its image's build args, and what is missing.

    `repr()` shows key names only, so logging one by mistake leaks no value.
    """

    runtime: dict[str, str] = field(repr=False)
    build_args: dict[str, str] = field(repr=False)
    unreadable: list[str]

    def __repr__(self) -> str:
        return (
            f"DeployEnv(runtime={sorted(self.runtime)}, build_args={sorted(self.build_args)}, "
            f"unreadable={self.unreadable})"
        )


def _lock_project(project: Project) -> None:
    # Serialises concurrent edits of one project's set (SQLite already serialises writers).
    Project.objects.select_for_update().filter(id=project.id).values_list("id").first()


def _touch(project: Project) -> None:
    """Record that the set changed; components inherit a parent's set, so they change too."""
    now = timezone.now()
    Project.objects.filter(Q(id=project.id) | Q(parent_id=project.id)).update(env_updated_at=now)
    project.env_updated_at = now


def _current_values(project: Project) -> tuple[dict[str, EnvironmentVariable], dict[str, str]]:
    """The project's rows by key, and the readable values by key."""
    rows = {row.key: row for row in EnvironmentVariable.objects.filter(project=project)}
    values: dict[str, str] = {}
    for key, row in rows.items():
        with contextlib.suppress(crypto.DecryptionError):
            values[key] = crypto.decrypt(row.value_encrypted)
    return rows, values


def _check_totals(*, count: int, size: int) -> None:
    """A project's whole set stays within `BUTLER_MAX_ENV_VARS` and `BUTLER_MAX_ENV_BYTES`."""
    if count > settings.BUTLER_MAX_ENV_VARS:
        raise ApplicationError(
            f"A project can have at most {settings.BUTLER_MAX_ENV_VARS} environment variables "
            f"(this would make {count}). Remove some, or raise BUTLER_MAX_ENV_VARS.",
            field="variables",
        )
    if size > settings.BUTLER_MAX_ENV_BYTES:
        raise ApplicationError(
            f"A project's environment variables can take at most "
            f"{settings.BUTLER_MAX_ENV_BYTES // 1024} KB in all (this would make "
            f"{size // 1024} KB). Raise BUTLER_MAX_ENV_BYTES if the app really needs more.",
            field="variables",
        )


def _apply(*, project: Project, variables: dict[str, str], remove_missing: bool) -> dict:
    """Write `variables` (already validated) into the project's set; counts what changed."""
    _check_totals(count=len(variables), size=sum(len(k) + len(v) for k, v in variables.items()))
    _lock_project(project)
    rows, current = _current_values(project)
    after = dict(current) if not remove_missing else {}
    after.update(variables)
    _check_totals(count=len(after), size=sum(len(k) + len(v) for k, v in after.items()))
    now = timezone.now()
    to_create, to_update = [], []
    unchanged = 0
    for key, value in variables.items():
        row = rows.get(key)
        if row is None:
            to_create.append(
                EnvironmentVariable(project=project, key=key, value_encrypted=crypto.encrypt(value))
            )
        elif current.get(key) == value and key in current:
            unchanged += 1
        else:
            row.value_encrypted = crypto.encrypt(value)
            row.updated_at = now
            to_update.append(row)
    removed, kept_unreadable = [], []
    if remove_missing:
        for key in rows:
            if key in variables:
                continue
            # An unreadable row is kept: the set the client sends back cannot have shown it,
            # and restoring the old key would make it readable again. DELETE removes it.
            (removed if key in current else kept_unreadable).append(key)
    if to_create:
        EnvironmentVariable.objects.bulk_create(to_create)
    if to_update:
        EnvironmentVariable.objects.bulk_update(to_update, ["value_encrypted", "updated_at"])
    if removed:
        EnvironmentVariable.objects.filter(project=project, key__in=removed).delete()
    if to_create or to_update or removed:
        _touch(project)
    return {
        "count": len(variables),
        "created": len(to_create),
        "updated": len(to_update),
        "unchanged": unchanged,
        "removed": len(removed),
        "errors": {key: UNREADABLE for key in sorted(kept_unreadable)},
    }


@sensitive_variables()
@transaction.atomic
def envvars_replace(*, project: Project, variables: dict[str, str]) -> dict:
    """Make `variables` the project's whole set: add, update and remove to match.

    Existing keys keep their `is_build_time`. A stored value that cannot be decrypted is kept
    (and named in `errors`) unless `variables` gives it a new value. Returns counts:
    `count`, `created`, `updated`, `unchanged`, `removed`, `errors`.
    """
    check_variables(variables)
    return _apply(project=project, variables=variables, remove_missing=True)


@sensitive_variables()
@transaction.atomic
def envvar_set(
    *, project: Project, key: str, value: str, is_build_time: bool | None = None
) -> tuple[EnvironmentVariable, bool]:
    """Set one variable (creating it if new); returns (row, created)."""
    check_variable(key, value)
    _lock_project(project)
    row = EnvironmentVariable.objects.filter(project=project, key=key).first()
    if row is None:
        _rows, current = _current_values(project)
        current[key] = value
        _check_totals(count=len(current), size=sum(len(k) + len(v) for k, v in current.items()))
        row = EnvironmentVariable.objects.create(
            project=project,
            key=key,
            value_encrypted=crypto.encrypt(value),
            is_build_time=bool(is_build_time),
        )
        _touch(project)
        return row, True
    try:
        same_value = crypto.decrypt(row.value_encrypted) == value
    except crypto.DecryptionError:
        same_value = False
    same_flag = is_build_time is None or row.is_build_time == is_build_time
    if not (same_value and same_flag):
        if not same_value:
            row.value_encrypted = crypto.encrypt(value)
        if is_build_time is not None:
            row.is_build_time = is_build_time
        row.save(update_fields=["value_encrypted", "is_build_time", "updated_at"])
        _touch(project)
    return row, False


@transaction.atomic
def envvar_set_build_time(*, project: Project, key: str, is_build_time: bool) -> None:
    """Mark one variable as (not) also passed to the image build, keeping its value."""
    _lock_project(project)
    updated = EnvironmentVariable.objects.filter(project=project, key=key).exclude(
        is_build_time=is_build_time
    )
    if updated.update(is_build_time=is_build_time, updated_at=timezone.now()):
        _touch(project)


@transaction.atomic
def envvar_delete(*, project: Project, key: str) -> None:
    """Remove one variable; a 404 if the project has no variable of that name."""
    _lock_project(project)
    deleted, _ = EnvironmentVariable.objects.filter(project=project, key=key).delete()
    if not deleted:
        shown = key if len(key) <= 80 else f"{key[:80]}…"
        raise ApplicationError(
            f"This project has no environment variable named '{shown}'.", status_code=404
        )
    _touch(project)


@sensitive_variables()
def parse_dotenv(content: str, *, field: str = "content") -> dict[str, str]:
    """The variables of a .env text, read as python-dotenv reads it, never interpolated.

    Understands quotes, `export`, comments and multi-line quoted values. `NAME` alone (no
    `=`) is an empty value. A line that is not `NAME=value` is a 400 naming its line number
    (never its content, which may hold a secret).
    """
    if len(content) > MAX_DOTENV_BYTES:
        raise ApplicationError(
            f"The .env content is larger than {MAX_DOTENV_BYTES // 1024} KB.", field=field
        )
    variables: dict[str, str] = {}
    bad_lines: list[int] = []
    # Not `dotenv_values()`: with its default interpolation `${HOME}` in an uploaded file
    # would be replaced by the Butler server's own environment.
    for binding in parse_stream(io.StringIO(content)):
        if binding.error:
            bad_lines.append(binding.original.line)
        elif binding.key is not None:
            variables[binding.key] = binding.value if binding.value is not None else ""
    if bad_lines:
        lines = ", ".join(str(n) for n in bad_lines[:10])
        more = f" (and {len(bad_lines) - 10} more)" if len(bad_lines) > 10 else ""
        raise ApplicationError(
            f"The .env content could not be read at line{'s' if len(bad_lines) > 1 else ''} "
            f"{lines}{more}: expected NAME=value.",
            field=field,
        )
    return variables


@sensitive_variables()
@transaction.atomic
@sensitive_variables()
def dotenv_upload_read(upload) -> str:
    """An uploaded `.env` file as text: at most MAX_DOTENV_BYTES, UTF-8 (a BOM allowed)."""
    raw = upload.read(MAX_DOTENV_BYTES + 1)
    if len(raw) > MAX_DOTENV_BYTES:
        raise ApplicationError(
            f"The .env file is larger than {MAX_DOTENV_BYTES // 1024} KB.", field="file"
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ApplicationError("The .env file is not UTF-8 text.", field="file") from None


def envvars_import_dotenv(*, project: Project, content: str, replace: bool = False) -> dict:
    """Import a .env text: add and update its variables (and, with `replace`, remove others).

    Returns counts: `imported` (variables in the file), `created`, `updated`, `unchanged`,
    `removed`, `keys` (the names imported) and `errors` (unreadable rows kept).
    """
    variables = parse_dotenv(content)
    check_variables(variables)
    result = _apply(project=project, variables=variables, remove_missing=replace)
    result["imported"] = result.pop("count")
    result["keys"] = sorted(variables)
    return result


_BARE_VALUE = re.compile(r"[A-Za-z0-9_./:@%+,-]+")


def dotenv_quote(value: str) -> str:
    """`value` as a .env value python-dotenv reads back exactly (single quotes are literal)."""
    if value == "" or _BARE_VALUE.fullmatch(value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@sensitive_variables()
def envvars_export_dotenv(*, project: Project) -> str:
    """The project's variables as a .env text, sorted by key.

    Values that are not plain words are single-quoted (backslash and quote escaped), which
    python-dotenv reads back unchanged, newlines and `#`/`$` included. Read it without
    interpolation (Butler's import does) to keep a `${...}` inside a value as written.
    Unreadable values become a comment naming the key.
    """
    listing = envvars_list(project=project)
    lines = [f"# Environment variables of {project.app_name} (exported by Butler)"]
    if any("${" in item.value for item in listing.items):
        lines.append("# Some values contain '${': read this file with interpolation off.")
    entries = [(item.key, f"{item.key}={dotenv_quote(item.value)}") for item in listing.items]
    entries += [
        (key, f"# {key}: {message}, not exported") for key, message in listing.errors.items()
    ]
    lines += [line for _key, line in sorted(entries)]
    return "\n".join(lines) + "\n"


@sensitive_variables()
def envvars_for_deploy(*, project: Project) -> DeployEnv:
    """THE way values reach a container: decrypted env and build args for `project`.

    A multi-repo component gets its parent's variables (shared by both components) overlaid
    with its own. Every variable is in `runtime`; those marked `is_build_time` are also in
    `build_args`. A value that cannot be decrypted is left out and its key is listed in
    `unreadable` (and logged by name, never value); the deploy goes on without it. A
    component's unreadable value is not replaced by the parent's: its intent is unknown.
    """
    layers = [project.parent_id, project.id] if project.parent_id else [project.id]
    rows = sorted(
        EnvironmentVariable.objects.filter(project_id__in=layers).only(
            "project_id", "key", "value_encrypted", "is_build_time"
        ),
        key=lambda row: (layers.index(row.project_id), row.key),
    )
    runtime: dict[str, str] = {}
    build_args: dict[str, str] = {}
    unreadable: set[str] = set()
    for row in rows:
        try:
            value = crypto.decrypt(row.value_encrypted)
        except crypto.DecryptionError:
            logger.warning(
                "Environment variable %s of project %s %s; deploying without it.",
                row.key,
                row.project_id,
                UNREADABLE,
            )
            runtime.pop(row.key, None)
            build_args.pop(row.key, None)
            unreadable.add(row.key)
            continue
        unreadable.discard(row.key)
        runtime[row.key] = value
        if row.is_build_time:
            build_args[row.key] = value
        else:
            build_args.pop(row.key, None)
    return DeployEnv(runtime=runtime, build_args=build_args, unreadable=sorted(unreadable))


# ---- detection from repositories -------------------------------------------------------

DETECT_CLONE_TIMEOUT = 60  # seconds per clone, the user is waiting


@dataclass(frozen=True)
class RepoToScan:
    component: str | None  # "frontend" / "backend" for a multi-repo project, else None
    url: str
    branch: str | None = None
    project: Project | None = None  # whose set `is_set` is checked against


def _clone_and_scan(repo: RepoToScan, *, time_budget: float):
    """(DetectionResult, None) or (None, a message saying what went wrong)."""
    try:
        gitsources.check_git_source(repo.url)
    except gitsources.GitSourceError as exc:
        return None, str(exc)
    work = Path(settings.BUTLER_WORK_DIR)
    work.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(
            prefix="detect-", dir=work, ignore_cleanup_errors=True
        ) as tmp:
            dest = Path(tmp) / "repo"
            gitsources.clone(
                url=repo.url,
                dest=dest,
                branch=repo.branch or None,
                timeout=min(settings.BUTLER_CLONE_TIMEOUT, DETECT_CLONE_TIMEOUT),
                credential=credential_for_clone(project=repo.project) if repo.project else None,
            )
            return detect_in_directory(dest, time_budget=time_budget), None
    except (gitsources.GitError, gitsources.GitSourceError) as exc:
        return None, str(exc)
    except Exception:  # advice only: a surprise here must not become a 500
        logger.exception(
            "Environment variable detection failed for %s", gitsources.sanitize(repo.url)
        )
        return None, "Detection failed unexpectedly; the server log has the details."


def envvars_detect(*, repos: list[RepoToScan]) -> dict:
    """Clone each repository shallowly into a temporary directory (always removed), scan it
    and merge what was found into the API's `suggestions` shape.

    Never raises for a bad URL, an unreachable repository or a timeout: the answer then has
    `error` (and `errors` by component) and whatever the other repositories gave.
    """
    scan_budget = float(settings.BUTLER_DETECT_TIME_BUDGET)  # for scanning; clones have theirs
    suggestions: dict[str, dict] = {}
    errors: dict[str, str] = {}
    scanned_files, truncated = 0, False
    for repo in repos:
        result, error = _clone_and_scan(repo, time_budget=max(scan_budget, 0.0))
        label = repo.component or "repository"
        if error is not None:
            errors[label] = error
            continue
        scan_budget -= result.elapsed
        scanned_files += result.scanned_files
        truncated = truncated or result.truncated
        known = envvar_keys(project=repo.project) if repo.project is not None else set()
        for name, found in result.variables.items():
            entry = {
                "detected_from": found.detected_from,
                "source": found.source,
                "component": repo.component,
                "priority": found.priority,
                "default": found.default,
                "is_set": name in known,
                "build_time": found.build_time,
                "description": found.description,
            }
            current = suggestions.get(name)
            if current is None:
                suggestions[name] = {**entry, "components": [repo.component]}
            else:
                current["components"].append(repo.component)
                if entry["priority"] > current["priority"]:
                    suggestions[name] = {**entry, "components": current["components"]}
    body: dict = {
        "suggestions": dict(sorted(suggestions.items())),
        "scanned_files": scanned_files,
        "truncated": truncated,
    }
    if truncated:
        body["warning"] = (
            f"Scanning stopped after {settings.BUTLER_DETECT_TIME_BUDGET:g} s "
            "(BUTLER_DETECT_TIME_BUDGET); the suggestions may be incomplete."
        )
    if errors:
        body["errors"] = errors
        body["error"] = "; ".join(
            message if label == "repository" else f"{label}: {message}"
            for label, message in errors.items()
        )
    return body
