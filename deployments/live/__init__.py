"""Everything live: events, deployment logs and runtime logs over WebSockets.

- `auth`: who a socket is (bearer header, `?token=`, session cookie) and until when;
- `hub`: the embedded fan-out, one outbox reader per web process for all of its sockets;
- `pacing`: how many lines a second one socket gets, and the `skipped` marker beyond that;
- `runtime_logs`: a running container's own output, masked (the socket's and the API's);
- `consumers`: `ws/events/`, `ws/deployments/{id}/`, `ws/projects/{id}/logs/`.
"""
