"""A local DuckDuckGo for the real `ddgs` client: an HTTPS-intercepting proxy serving its search.

`ddgs` posts the search form to https://html.duckduckgo.com/html/. Given `proxy=double.proxy`,
it sends `CONNECT html.duckduckgo.com:443` here; the double accepts, terminates TLS with a
certificate issued at start by its own CA (`ca_file`, for `verify=`), and answers with a
DuckDuckGo-shaped result page built from `results`. Any other host is refused, so a client
that wanders off to another engine fails loudly. Scripts: `status` (202 serves DuckDuckGo's
bot-check page, its way of rate limiting; 429 a plain refusal), `challenge` (the bot-check page
with any status) and `hang` (hold the answer until the double closes).
"""

from __future__ import annotations

import html
import ssl
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SEARCH_HOST = "html.duckduckgo.com"
HANG_LIMIT_S = 60.0  # a hung answer is released at exit, or after this at the latest


@dataclass(frozen=True)
class DuckDuckGoHit:
    title: str
    url: str
    snippet: str


@dataclass(frozen=True)
class RecordedRequest:
    """One HTTP request seen inside a tunnel: `form` holds the POST body or the query string."""

    method: str
    host: str
    path: str
    form: dict[str, str]
    headers: dict[str, str]


@dataclass
class DuckDuckGoDouble:
    results: list[DuckDuckGoHit] = field(default_factory=list)
    status: int = 200
    challenge: bool = False
    hang: bool = False
    tunnels: list[str] = field(default_factory=list)
    requests: list[RecordedRequest] = field(default_factory=list)

    @property
    def proxy(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def ca_file(self) -> str:
        """The PEM of the CA that issued the double's certificate, for `verify=`."""
        return str(self._ca_path)

    def __enter__(self) -> DuckDuckGoDouble:
        self._dir = tempfile.TemporaryDirectory(prefix="ddgs-double-")
        self._ca_path, chain, key = _issue_certificates(Path(self._dir.name), SEARCH_HOST)
        self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._tls.load_cert_chain(chain, key)
        self._tls.set_alpn_protocols(["http/1.1"])
        self._release = threading.Event()
        self._server = _ProxyServer(("127.0.0.1", 0), _ProxyHandler, self)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)
        self._dir.cleanup()

    def page(self, query: str) -> tuple[int, str]:
        """The status and HTML DuckDuckGo would answer a search with, as scripted."""
        if self.challenge or self.status == 202:
            return self.status, _challenge_page(query)
        if self.status != 200:
            return self.status, "Too Many Requests" if self.status == 429 else "Error"
        return 200, _results_page(query, self.results)


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], handler: Any, double: DuckDuckGoDouble) -> None:
        super().__init__(address, handler)
        self.double = double


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _ProxyServer
    tunnel_host: str | None = None

    def do_CONNECT(self) -> None:
        double = self.server.double
        double.tunnels.append(self.path)
        host, _, port = self.path.rpartition(":")
        if (host, port) != (SEARCH_HOST, "443"):
            self._answer(502, f"this double only speaks for {SEARCH_HOST}:443")
            self.close_connection = True
            return
        self.send_response(200, "Connection established")
        self.end_headers()
        try:
            tunnel = double._tls.wrap_socket(self.connection, server_side=True)
        except (ssl.SSLError, OSError):
            self.close_connection = True  # the client refused the certificate, or went away
            return
        # The rest of this connection is HTTP inside TLS, read by the same request loop.
        self.connection = tunnel
        self.rfile = tunnel.makefile("rb")
        self.wfile = tunnel.makefile("wb")  # flushed after each request
        self.tunnel_host = host

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._search(self.rfile.read(length).decode())

    def do_GET(self) -> None:
        self._search(urlsplit(self.path).query)

    def _search(self, encoded_form: str) -> None:
        double = self.server.double
        if self.tunnel_host is None:
            self._answer(405, "this proxy only tunnels (CONNECT)")
            return
        form = dict(parse_qsl(encoded_form, keep_blank_values=True))
        double.requests.append(
            RecordedRequest(
                self.command, self.tunnel_host, self.path, form, dict(self.headers.items())
            )
        )
        if urlsplit(self.path).path != "/html/":
            self._answer(404, "not found")
            return
        if double.hang:
            double._release.wait(HANG_LIMIT_S)
            self.close_connection = True
            return
        status, page = double.page(form.get("q", ""))
        self._answer(status, page, "text/html; charset=UTF-8")

    def _answer(self, status: int, body: str, content_type: str = "text/plain") -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        return None


def _results_page(query: str, hits: list[DuckDuckGoHit]) -> str:
    q = html.escape(query)
    if hits:
        links = "\n".join(_result(hit) for hit in hits)
    else:
        links = '<div class="no-results">No  results.</div>'
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{q} at DuckDuckGo</title></head>
<body>
<div id="header" class="header">
<form id="search_form" name="x" action="/html/" method="post">
<input class="search__input" type="text" name="q" value="{q}">
<input type="hidden" name="b" value=""><input type="hidden" name="kl" value="">
</form>
</div>
<div class="serp__results"><div id="links" class="results">
{links}
</div></div>
</body></html>
"""


def _result(hit: DuckDuckGoHit) -> str:
    url, title, snippet = (html.escape(s) for s in (hit.url, hit.title, hit.snippet))
    shown = html.escape(urlsplit(hit.url).netloc + urlsplit(hit.url).path)
    return f"""<div class="result results_links results_links_deep web-result ">
<div class="links_main links_deep result__body">
<h2 class="result__title"><a rel="nofollow" class="result__a" href="{url}">{title}</a></h2>
<div class="result__extras"><div class="result__extras__url">
<a class="result__url" href="{url}">{shown}</a>
</div></div>
<a class="result__snippet" href="{url}">{snippet}</a>
<div class="clear"></div>
</div>
</div>"""


def _challenge_page(query: str) -> str:
    q = html.escape(query)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{q} at DuckDuckGo</title></head>
<body>
<form id="challenge-form" action="//duckduckgo.com/anomaly.js?sv=html&amp;cc=sre" method="POST">
<div class="anomaly-modal__modal" data-testid="anomaly-modal">
<div class="anomaly-modal__title">Unfortunately, bots use DuckDuckGo too.</div>
<div class="anomaly-modal__description">Please complete the following challenge.</div>
</div>
</form>
</body></html>
"""


def _issue_certificates(directory: Path, host: str) -> tuple[Path, Path, Path]:
    """A throwaway CA and a certificate for `host` signed by it: (CA PEM, chain PEM, key PEM)."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "daert ddgs double CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(signs_certificates=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(signs_certificates=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    ca_path, chain_path, key_path = (directory / n for n in ("ca.pem", "chain.pem", "key.pem"))
    ca_path.write_bytes(ca.public_bytes(pem))
    chain_path.write_bytes(leaf.public_bytes(pem) + ca.public_bytes(pem))
    key_path.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return ca_path, chain_path, key_path


def _key_usage(*, signs_certificates: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=signs_certificates,
        crl_sign=signs_certificates,
        encipher_only=False,
        decipher_only=False,
    )
