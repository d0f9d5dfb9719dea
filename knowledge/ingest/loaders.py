"""Load a source (file or URL) into text with a type and metadata; refuse what is not text.

Types: `article` (Markdown, plain text, HTML main text, PDF), `code` (source files),
`records` (CSV rows, JSON / JSON Lines objects).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from charset_normalizer import from_bytes

from core.errors import InputError

DEFAULT_MAX_BYTES = 50 * 1024 * 1024

CODE_SUFFIXES = {
    ".py": "python", ".js": "javascript", ".mjs": "javascript", ".ts": "typescript",
    ".tsx": "typescript", ".jsx": "javascript", ".go": "go", ".rs": "rust", ".java": "java",
    ".kt": "kotlin", ".c": "c", ".h": "c", ".cc": "cpp", ".cpp": "cpp", ".hpp": "cpp",
    ".cs": "csharp", ".rb": "ruby", ".php": "php", ".swift": "swift", ".scala": "scala",
    ".sh": "shell", ".sql": "sql", ".lua": "lua",
}  # fmt: skip
TEXT_SUFFIXES = {".md": "markdown", ".markdown": "markdown", ".txt": "text", ".rst": "text"}
HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
RECORD_SUFFIXES = {".csv", ".json", ".jsonl", ".ndjson"}
SUPPORTED = set(CODE_SUFFIXES) | set(TEXT_SUFFIXES) | HTML_SUFFIXES | RECORD_SUFFIXES | {".pdf"}


@dataclass
class LoadedDocument:
    """What a loader read: text (or records), its type and what is known about it."""

    source: str
    doc_type: str  # article | code | records
    text: str
    title: str | None = None
    fmt: str = "text"  # markdown | text | html | pdf | python | ... | csv | json
    records: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)


def _refuse_binary(data: bytes, source: str) -> None:
    sample = data[:8192]
    if b"\x00" in sample:
        raise InputError(
            f"{source} looks binary (it contains NUL bytes), not text",
            hint="ingest text, Markdown, HTML, PDF, CSV/JSON or source files",
            code="binary_input",
        )


def decode(data: bytes, source: str) -> str:
    """UTF-8 when it is; else the most likely encoding; never a crash on broken bytes."""
    _refuse_binary(data, source)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        best = from_bytes(data).best()
        if best is None:
            return data.decode("utf-8", errors="replace")
        return str(best)


def _html(text: str) -> tuple[str, str | None, str | None]:
    from bs4 import BeautifulSoup  # noqa: PLC0415 - only for HTML

    soup = BeautifulSoup(text, "html.parser")
    title = soup.title.get_text(strip=True) if soup.title else None
    author_tag = soup.find("meta", attrs={"name": "author"})
    author = str(author_tag.get("content") or "") or None if author_tag else None
    for tag in soup(["script", "style", "noscript", "nav", "footer", "header", "aside", "form"]):
        tag.decompose()
    root = soup.find("main") or soup.find("article") or soup.body or soup
    lines = []
    for node in root.find_all(["h1", "h2", "h3", "h4", "p", "li", "pre", "td", "blockquote"]):
        piece = node.get_text(" ", strip=True)
        if not piece:
            continue
        if node.name in {"h1", "h2", "h3", "h4"}:
            piece = "#" * int(node.name[1]) + " " + piece  # keep sections for the chunker
        lines.append(piece)
    body = "\n\n".join(lines) if lines else root.get_text("\n", strip=True)
    return body, title, author


def _pdf(data: bytes, source: str) -> tuple[str, str | None, str | None, int]:
    from pypdf import PdfReader  # noqa: PLC0415 - only for PDF
    from pypdf.errors import PdfReadError  # noqa: PLC0415

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PdfReadError, ValueError, KeyError) as err:
        raise InputError(
            f"{source} is not a readable PDF: {err}", hint="check the file", code="pdf_unreadable"
        ) from err
    text = "\n\n".join(p.strip() for p in pages if p.strip())
    if not text.strip():
        raise InputError(
            f"{source} has no extractable text (a scanned PDF?)",
            hint="run OCR on it first (e.g. ocrmypdf) and ingest the result",
            code="pdf_no_text",
        )
    info = reader.metadata
    title = str(info.title) if info is not None and info.title else None
    author = str(info.author) if info is not None and info.author else None
    return text, title, author, len(pages)


def _records(text: str, suffix: str, source: str) -> list[dict[str, Any]]:
    try:
        if suffix == ".csv":
            return [dict(row) for row in csv.DictReader(io.StringIO(text))]
        if suffix in {".jsonl", ".ndjson"}:
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            data = json.loads(text)
            rows = data if isinstance(data, list) else [data]
    except (json.JSONDecodeError, csv.Error) as err:
        raise InputError(
            f"{source} is not valid {suffix[1:].upper()}: {err}",
            hint="fix the file, or ingest it as plain text with a .txt name",
            code="records_invalid",
        ) from err
    return [r if isinstance(r, dict) else {"value": r} for r in rows]


def _first_heading(text: str) -> str | None:
    for line in text.splitlines()[:50]:
        if line.startswith("# "):
            return line[2:].strip()
    return None


def from_bytes_as(data: bytes, source: str, suffix: str, **meta: Any) -> LoadedDocument:
    """Turn raw bytes named like `suffix` into a LoadedDocument."""
    suffix = suffix.lower()
    if suffix == ".pdf":
        text, title, author, pages = _pdf(data, source)
        meta = {**meta, "pages": pages} | ({"author": author} if author else {})
        return LoadedDocument(source, "article", text, title, "pdf", metadata=meta)
    text = decode(data, source)
    if suffix in HTML_SUFFIXES:
        body, title, author = _html(text)
        meta = meta | ({"author": author} if author else {})
        return LoadedDocument(source, "article", body, title, "html", metadata=meta)
    if suffix in RECORD_SUFFIXES:
        records = _records(text, suffix, source)
        return LoadedDocument(
            source, "records", text, Path(source).name, suffix[1:], records=records, metadata=meta
        )
    if suffix in CODE_SUFFIXES:
        return LoadedDocument(
            source, "code", text, Path(source).name, CODE_SUFFIXES[suffix], metadata=meta
        )
    fmt = TEXT_SUFFIXES.get(suffix, "text")
    title = _first_heading(text) if fmt == "markdown" else None
    return LoadedDocument(source, "article", text, title or Path(source).name, fmt, metadata=meta)


def load_file(path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> LoadedDocument:
    if not path.is_file():
        raise InputError(f"{path} is not a file", hint="check the path", code="source_not_found")
    size = path.stat().st_size
    if size > max_bytes:
        raise InputError(
            f"{path} is {size / 2**20:.0f} MiB, over the {max_bytes / 2**20:.0f} MiB limit",
            hint="split it, or raise DAERT_INGEST_MAX_BYTES",
            code="source_too_large",
        )
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        raise InputError(
            f"{path} has an unsupported type {suffix or '(no suffix)'}",
            hint="supported: " + " ".join(sorted(SUPPORTED)),
            code="unsupported_type",
        )
    modified = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC).isoformat()
    return from_bytes_as(path.read_bytes(), str(path), suffix, modified=modified)


def load_url(
    url: str, *, max_bytes: int = DEFAULT_MAX_BYTES, timeout: float = 30
) -> LoadedDocument:
    try:
        with httpx.stream("GET", url, timeout=timeout, follow_redirects=True) as response:
            if response.status_code != 200:
                raise InputError(
                    f"{url} answered HTTP {response.status_code}",
                    hint="check the URL",
                    code="source_unreachable",
                )
            chunks, size = [], 0
            for piece in response.iter_bytes():
                size += len(piece)
                if size > max_bytes:
                    raise InputError(
                        f"{url} is larger than {max_bytes / 2**20:.0f} MiB",
                        hint="raise DAERT_INGEST_MAX_BYTES",
                        code="source_too_large",
                    )
                chunks.append(piece)
            ctype = response.headers.get("content-type", "").split(";")[0].strip().lower()
    except httpx.HTTPError as err:
        raise InputError(
            f"cannot fetch {url}: {err}",
            hint="check the URL and the network",
            code="source_unreachable",
        ) from err
    suffix = {
        "text/html": ".html", "application/xhtml+xml": ".html", "application/pdf": ".pdf",
        "text/markdown": ".md", "text/csv": ".csv", "application/json": ".json",
        "text/plain": ".txt",
    }.get(ctype) or (Path(httpx.URL(url).path).suffix.lower() or ".html")  # fmt: skip
    fetched = dt.datetime.now(dt.UTC).isoformat()
    return from_bytes_as(b"".join(chunks), url, suffix, fetched=fetched, content_type=ctype)


def load(source: str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> LoadedDocument:
    if source.startswith(("http://", "https://")):
        return load_url(source, max_bytes=max_bytes)
    return load_file(Path(source), max_bytes=max_bytes)
