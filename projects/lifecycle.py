"""Hooks that higher apps register to take part in a project's life, without this app
importing them.

Deleting a project must also stop its deployments and remove its containers and images, which
the deployments app owns. That app registers a hook here (in its `AppConfig.ready`); the
projects service calls every hook before the rows go.
"""

from __future__ import annotations

from collections.abc import Callable

DeleteHook = Callable[..., dict]

_before_delete: list[DeleteHook] = []


def on_project_delete(hook: DeleteHook) -> DeleteHook:
    """Register `hook(projects=[parent, *children]) -> {what it removed}`; idempotent."""
    if hook not in _before_delete:
        _before_delete.append(hook)
    return hook


def run_delete_hooks(*, projects) -> dict:
    """Call every hook; merge what they report (lists are concatenated)."""
    report: dict = {}
    for hook in _before_delete:
        for key, value in (hook(projects=projects) or {}).items():
            if isinstance(value, list):
                report.setdefault(key, []).extend(value)
            else:
                report[key] = value
    return report
