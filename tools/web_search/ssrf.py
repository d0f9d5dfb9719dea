"""Server-side request forgery guard: fetch only public http(s) addresses unless allowed."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from core.errors import InputError


def check_url(url: str, *, allow_private: bool = False) -> str:
    """Return the URL when daert may fetch it; InputError `url_not_allowed` otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise InputError(
            f"not an http(s) URL: {url!r}",
            hint="give a full URL such as https://example.com/page",
            code="url_not_allowed",
        )
    if allow_private:
        return url
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 80, proto=socket.IPPROTO_TCP)
    except OSError as err:
        raise InputError(
            f"cannot resolve {parts.hostname}: {err}",
            hint="check the host name and this machine's network",
            code="url_unresolvable",
        ) from err
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global or address.is_multicast:
            raise InputError(
                f"{url} resolves to {address}, a private or local address",
                hint="set DAERT_CRAWL_ALLOW_PRIVATE=true to crawl your own network",
                code="url_not_allowed",
            )
    return url
