"""WebSocket routes."""

from django.urls import path

from deployments.consumers import DeploymentLogConsumer

websocket_urlpatterns = [
    path("ws/deployments/<int:deployment_id>/", DeploymentLogConsumer.as_asgi()),
]
