"""WebSocket routes (docs/api.md describes each stream)."""

from django.urls import path, re_path

from deployments.live.consumers import DeploymentLogConsumer, EventsConsumer, RuntimeLogConsumer

websocket_urlpatterns = [
    path("ws/events/", EventsConsumer.as_asgi()),
    path("ws/deployments/<int:deployment_id>/", DeploymentLogConsumer.as_asgi()),
    path("ws/projects/<int:project_id>/logs/", RuntimeLogConsumer.as_asgi()),
    # The original API's per-client stream: the same events, whatever the client id.
    re_path(r"^ws/(?P<client_id>[A-Za-z0-9_.-]{1,100})/?$", EventsConsumer.as_asgi()),
]
