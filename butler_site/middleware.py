"""Tolerate a trailing slash on the API's slash-less paths (`/api/import/` = `/api/import`)."""

from __future__ import annotations

from django.urls import Resolver404, resolve


class TrailingSlashTolerantMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path = request.path_info
        if len(path) > 1 and path.endswith("/"):
            try:
                resolve(path)
            except Resolver404:
                try:
                    resolve(path[:-1])
                except Resolver404:
                    pass
                else:
                    request.path_info = path[:-1]
        return self.get_response(request)
