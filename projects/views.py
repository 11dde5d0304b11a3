"""Server-rendered pages for projects (the UI issue styles and extends them)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from projects import selectors


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    projects = selectors.project_list_for_user(user=request.user)[:200]
    return render(request, "projects/dashboard.html", {"projects": projects})
