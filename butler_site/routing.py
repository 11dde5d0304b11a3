"""WebSocket routes (live deployment logs are added by the deployments app)."""

websocket_urlpatterns: list = []
