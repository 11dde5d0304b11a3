"""Downloading a URL on a user's behalf, only from where Butler may connect.

The host is resolved and its addresses checked (`core.addresses`), then the connection is
made to that very address (TLS still verified against the host name), so a DNS answer that
changes between the check and the connection changes nothing. Every redirect is checked the
same way. Bounded in size and time, and cancellable.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from urllib.parse import urljoin, urlsplit

from core.addresses import AddressRefused, check_addresses, resolve
from core.cancel import CancelToken

MAX_REDIRECTS = 5
CHUNK = 64 * 1024


class FetchFailed(Exception):
    """The download did not happen; the message says why (never a port's state)."""


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


def fetch(
    url: str, *, max_bytes: int, timeout: float = 60.0, cancel: CancelToken | None = None
) -> bytes:
    """The body of `url` (http or https), following up to five redirects."""
    for _hop in range(MAX_REDIRECTS + 1):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FetchFailed(f"'{url[:200]}' is not an http(s) URL.")
        if parts.username or parts.password:
            raise FetchFailed("A download URL must not carry credentials.")
        host = parts.hostname
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            addresses = resolve(host, port, what="download host")
            check_addresses(host, addresses, what="download host", doing="download from")
        except AddressRefused as exc:
            raise FetchFailed(str(exc)) from None
        cls = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
        conn = cls(host, port, addresses[0], timeout)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            conn.request("GET", path, headers={"User-Agent": "butler-build-fetch"})
            response = conn.getresponse()
            if response.status in (301, 302, 303, 307, 308) and response.getheader("Location"):
                url = urljoin(url, response.getheader("Location"))
                continue
            if response.status != 200:
                raise FetchFailed(f"{host} answered {response.status} for {url[:200]}.")
            body = bytearray()
            while chunk := response.read(CHUNK):
                if cancel is not None:
                    cancel.raise_if_cancelled()
                body += chunk
                if len(body) > max_bytes:
                    raise FetchFailed(
                        f"{url[:200]} is larger than {max_bytes // (1024 * 1024)} MB."
                    )
            return bytes(body)
        except (OSError, http.client.HTTPException) as exc:
            if isinstance(exc, ssl.SSLCertVerificationError):
                raise FetchFailed(f"{host}'s TLS certificate could not be verified.") from None
            raise FetchFailed(f"Could not download from {host}.") from None
        finally:
            conn.close()
    raise FetchFailed(f"{url[:200]} redirects more than {MAX_REDIRECTS} times.")
