"""HTTP JSON APIs fetched safely: limits always, and for sources a caller named, no request
to a host the configuration did not allow.

- A page limit and a byte limit (MLFN_SOURCE_MAX_PAGES, MLFN_SOURCE_MAX_BYTES).
- Redirects are followed by hand (at most 3), each one checked like the first URL.
- With a guard: every URL (first, redirect, `next` page) must start with an allowed prefix,
  with the prefix's own host (not a longer name, not behind a `user@`) and no `..` segment;
  its host is resolved and refused if any address is loopback, link-local, private,
  multicast, reserved or unspecified — unless the allowed prefix names that very IP address;
  the connection goes to the address that was checked (no second lookup to rebind).
- Errors name the URL and what went wrong, never what the server sent.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from core import json_text
from core.errors import SourceError, SourceNotAllowedError, not_unicode

MAX_REDIRECTS = 3
DEFAULT_MAX_PAGES = 100
DEFAULT_MAX_BYTES = 100 * 2**20
Resolver = Callable[[str, int], list[str]]


def climbs(url: str) -> bool:
    """Whether a URI's path has a `..` segment, written plainly or percent-encoded."""
    path = urlsplit(url).path if "://" in url else url
    for _ in range(3):  # %252e%252e decodes to %2e%2e, then to ..
        decoded = unquote(path)
        if decoded == path:
            break
        path = decoded
    return ".." in path.replace("\\", "/").split("/")


def under_prefix(url: str, prefix: str) -> bool:
    """`url` starts with `prefix` and names the same scheme and host (and user, port): an
    allowed `https://api.example.com` is no licence for `https://api.example.com.evil.net`
    or `https://api.example.com@evil.net`."""
    if not url.startswith(prefix):
        return False
    if "://" not in prefix:
        return True
    found, allowed = urlsplit(url), urlsplit(prefix)
    return not allowed.netloc or found.netloc.lower() == allowed.netloc.lower()


def system_resolver(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except socket.gaierror:
        raise SourceError(f"host '{host}' cannot be resolved") from None
    return sorted({str(info[4][0]) for info in infos})


@dataclass(frozen=True)
class FetchGuard:
    """What a caller-named source may reach: allowed URI prefixes."""

    prefixes: tuple[str, ...]
    resolve: Resolver = field(default=system_resolver)

    def check_prefix(self, url: str) -> str:
        if climbs(url):
            raise SourceNotAllowedError(
                "this data source climbs out of its folder ('..' in its path): name it without '..'"
            )
        prefix = next((p for p in self.prefixes if under_prefix(url, p)), None)
        if prefix is None:
            raise SourceNotAllowedError(
                "this data source is not allowed; allowed: a dataset in the store, or a URI "
                "under the environment's data_sources"
            )
        return prefix

    def address(self, url: str) -> str:
        """The checked IP address to connect to for `url`."""
        prefix = self.check_prefix(url)
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        named = urlsplit(prefix).hostname
        addresses = self.resolve(host, port)
        for address in addresses:
            ip = ipaddress.ip_address(address.split("%")[0])
            if _internal(ip) and named != address:
                raise SourceNotAllowedError(
                    f"host '{host}' resolves to an internal address; name it by IP in "
                    "data_sources to allow it"
                )
        if not addresses:
            raise SourceError(f"host '{host}' has no address")
        return addresses[0]


def _internal(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    mapped = getattr(ip, "ipv4_mapped", None)
    if mapped is not None:
        ip = mapped
    return bool(
        ip.is_loopback
        or ip.is_link_local
        or ip.is_private
        or ip.is_multicast
        or ip.is_unspecified
        or ip.is_reserved
    )


def limits() -> tuple[int, int]:
    pages = int(os.environ.get("MLFN_SOURCE_MAX_PAGES") or DEFAULT_MAX_PAGES)
    size = int(os.environ.get("MLFN_SOURCE_MAX_BYTES") or DEFAULT_MAX_BYTES)
    return pages, size


def get_json(
    client: Any, url: str, guard: FetchGuard | None, budget: list[int]
) -> tuple[Any, str, str | None]:
    """(payload, final URL, Link header) of one page, redirects followed by hand."""
    for _ in range(MAX_REDIRECTS + 1):
        if not url.startswith(("https://", "http://")):
            raise SourceError("a redirect left http(s)")
        request_url, extensions, headers = url, {}, {"Accept": "application/json"}
        if guard is not None:
            parts = urlsplit(url)
            address = guard.address(url)
            host = f"[{address}]" if ":" in address else address
            netloc = f"{host}:{parts.port}" if parts.port else host
            request_url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
            headers["Host"] = parts.netloc
            extensions = {"sni_hostname": parts.hostname or ""}
        response = _send(client, request_url, headers, extensions, url, budget)
        if response[0] in (301, 302, 303, 307, 308):
            location = response[2].get("location")
            if not location:
                raise SourceError(f"{url}: a redirect without a Location")
            url = str(_join(url, location))
            continue
        return _decode(response[1], url), url, response[2].get("link")
    raise SourceError(f"{url}: more than {MAX_REDIRECTS} redirects")


def _join(base: str, location: str) -> str:
    import httpx

    return str(httpx.URL(base).join(location))


def _send(
    client: Any,
    url: str,
    headers: dict[str, str],
    extensions: dict[str, Any],
    shown: str,
    budget: list[int],
) -> tuple[int, bytes, Any]:
    import httpx

    try:
        with client.stream("GET", url, headers=headers, extensions=extensions) as response:
            if response.status_code in (301, 302, 303, 307, 308):
                return response.status_code, b"", response.headers
            if response.status_code >= 400:
                raise SourceError(f"{shown}: HTTP {response.status_code}")
            chunks = []
            for chunk in response.iter_bytes():
                budget[0] -= len(chunk)
                if budget[0] < 0:
                    raise SourceError(
                        f"{shown}: the source is larger than MLFN_SOURCE_MAX_BYTES allows"
                    )
                chunks.append(chunk)
            return response.status_code, b"".join(chunks), response.headers
    except httpx.HTTPError as exc:
        raise SourceError(f"{shown} is unreachable ({type(exc).__name__})") from None


def _decode(body: bytes, url: str) -> Any:
    try:
        return json_text.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise SourceError(f"{url}: the answer is not JSON") from None
    except UnicodeEncodeError as exc:
        raise SourceError(f"{url}: the answer holds {not_unicode(exc)}") from None
