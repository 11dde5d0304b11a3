"""A container's own output, followed on the Docker Engine (`DockerRuntime.follow_logs`).

Each follower has its own API client and connection, read without a timeout (a quiet app is
not an error) and closed by `close()` from any thread: the socket is shut down, so a read
blocked in another thread returns at once and the engine stops streaming.

The engine's log stream multiplexes stdout and stderr in frames (an 8-byte header: stream,
length) inside HTTP chunks; frames and chunks need not line up, so the bytes are buffered and
cut into frames here. With `timestamps` every frame starts with the time the engine read it.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import docker
import docker.errors
import requests
import urllib3.exceptions

from .base import EngineUnavailable, LogChunk, RuntimeFailure
from .docker_errors import _engine_errors, _short

CONNECT_TIMEOUT = 10
READ_SIZE = 64 * 1024
_HEADER = struct.Struct(">BxxxL")
_STREAMS = {1: "stdout", 2: "stderr"}


def open_follow(
    client_kwargs: dict[str, Any],
    container_id: str,
    *,
    tty: bool,
    tail: int | None,
    since: datetime | None,
    follow: bool,
) -> DockerLogFollow:
    """Start reading the logs of `container_id` (an id already checked to be ours)."""
    api = docker.APIClient(timeout=CONNECT_TIMEOUT, **client_kwargs)
    params: dict[str, Any] = {
        "stdout": 1,
        "stderr": 1,
        "timestamps": 1,
        "follow": 1 if follow else 0,
        "tail": "all" if tail is None else str(max(0, int(tail))),
    }
    if since is not None:
        params["since"] = f"{since.timestamp():.6f}"
    try:
        with _engine_errors(f"read the logs of {container_id[:12]}"):
            response = api._get(
                api._url("/containers/{0}/logs", container_id), params=params, stream=True
            )
            api._raise_for_status(response)
    except BaseException:
        api.close()
        raise
    return DockerLogFollow(api, response, tty=tty)


class DockerLogFollow:
    """Iterate for `LogChunk`s; `close()` from any thread ends the iteration."""

    def __init__(self, api: docker.APIClient, response: requests.Response, *, tty: bool) -> None:
        self._api = api
        self._response = response
        self._tty = tty
        self._closed = threading.Event()
        self._sock = None
        with contextlib.suppress(Exception):
            self._sock = api._get_raw_response_socket(response)
            api._disable_socket_timeout(self._sock)

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        sock = getattr(self._sock, "_sock", self._sock)
        with contextlib.suppress(Exception):
            sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(Exception):
            self._response.close()
        with contextlib.suppress(Exception):
            self._api.close()

    def __iter__(self) -> Iterator[LogChunk]:
        buffer = bytearray()
        try:
            for data in self._reads():
                if self._closed.is_set():
                    return
                buffer += data
                yield from (self._raw(buffer) if self._tty else self._frames(buffer))
            if self._tty and buffer:
                yield _chunk("stdout", bytes(buffer))
        except (OSError, requests.RequestException, urllib3.exceptions.HTTPError) as exc:
            if self._closed.is_set():
                return
            raise EngineUnavailable(_short(exc)) from exc
        except docker.errors.DockerException as exc:
            if self._closed.is_set():
                return
            raise RuntimeFailure(f"Could not read the container's logs: {_short(exc)}") from exc
        finally:
            self.close()

    def _reads(self) -> Iterator[bytes]:
        raw = self._response.raw
        if raw.chunked and raw.supports_chunked_reads():
            yield from raw.read_chunked(decode_content=False)
            return
        while data := raw.read1(READ_SIZE):
            yield data

    @staticmethod
    def _frames(buffer: bytearray) -> Iterator[LogChunk]:
        while len(buffer) >= _HEADER.size:
            kind, length = _HEADER.unpack_from(buffer)
            end = _HEADER.size + length
            if len(buffer) < end:
                return
            payload = bytes(buffer[_HEADER.size : end])
            del buffer[:end]
            if kind in _STREAMS and payload:
                yield _chunk(_STREAMS[kind], payload)

    @staticmethod
    def _raw(buffer: bytearray) -> Iterator[LogChunk]:
        # A TTY has no frames: the engine puts a timestamp at the start of every line.
        while (end := buffer.find(b"\n")) >= 0:
            line = bytes(buffer[: end + 1])
            del buffer[: end + 1]
            yield _chunk("stdout", line)


def _chunk(stream: str, payload: bytes) -> LogChunk:
    text = payload.decode("utf-8", errors="replace")
    stamp, sep, rest = text.partition(" ")
    when = parse_engine_time(stamp) if sep else None
    if when is None:
        return LogChunk(time=None, stream=stream, text=text)
    return LogChunk(time=when, stream=stream, text=rest)


def parse_engine_time(stamp: str) -> datetime | None:
    """`2026-01-02T03:04:05.123456789Z` (RFC 3339, nanoseconds, trailing zeros trimmed).

    Called for every line of a flood: `fromisoformat` (C) on the microseconds, not strptime.
    """
    if len(stamp) < 20 or not stamp.endswith("Z") or stamp[10] != "T":
        return None
    main, dot, fraction = stamp[:-1].partition(".")
    if dot:
        fraction = fraction[:6]
        if not fraction.isdigit():
            return None
        main = f"{main}.{fraction.ljust(6, '0')}"
    try:
        return datetime.fromisoformat(main).replace(tzinfo=UTC)
    except ValueError:
        return None
