"""Loaders, cleaning and chunking on real files, no services."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import InputError
from knowledge.ingest.chunking import ChunkSpec, chunk, estimate_tokens
from knowledge.ingest.loaders import load
from knowledge.ingest.pipeline import clean, expand
from tests.support.pdf import write_pdf

LONG_MD = (
    "# Guide\n\nIntro paragraph.\n\n## Install\n\n"
    + "\n\n".join(
        f"Step {i}: run the command number {i} and check that it printed the expected output."
        for i in range(40)
    )
    + "\n\n## Use\n\nCall it.\n"
)


def test_markdown_splits_at_sections_with_overlap(tmp_path: Path) -> None:
    doc = load(str(_write(tmp_path / "g.md", LONG_MD)))
    assert doc.doc_type == "article" and doc.title == "Guide"
    spec = ChunkSpec(max_tokens=80, overlap=20)
    chunks = chunk(doc, spec)
    assert len(chunks) > 3
    assert all(estimate_tokens(c.content) <= spec.max_tokens for c in chunks)
    assert {c.metadata["section"] for c in chunks} == {"Guide", "Install", "Use"}
    install = [c.content for c in chunks if c.metadata["section"] == "Install"]
    assert install[0].split("\n\n")[-1] == install[1].split("\n\n")[0]  # overlap carried


def test_a_short_post_is_one_chunk(tmp_path: Path) -> None:
    doc = load(str(_write(tmp_path / "p.txt", "Shipped v2 today. Thanks all!")))
    assert [c.content for c in chunk(doc, ChunkSpec())] == ["Shipped v2 today. Thanks all!"]


def test_code_splits_at_functions_and_classes(tmp_path: Path) -> None:
    source = "import os\n\n\ndef alpha():\n    return 1\n\n\n@cached\nclass Beta:\n    pass\n"
    doc = load(str(_write(tmp_path / "m.py", source)))
    chunks = chunk(doc, ChunkSpec())
    assert [c.metadata.get("symbol") for c in chunks] == [None, "alpha", "Beta"]
    assert chunks[2].content.startswith("@cached")
    assert chunks[1].metadata["language"] == "python"


def test_records_are_one_chunk_each(tmp_path: Path) -> None:
    csv_doc = load(str(_write(tmp_path / "r.csv", "name,city\nAda,London\nAlan,Wilmslow\n")))
    assert [c.content for c in chunk(csv_doc, ChunkSpec())] == [
        "name: Ada\ncity: London",
        "name: Alan\ncity: Wilmslow",
    ]
    rows = [{"id": 1, "tags": ["a", "b"]}, {"id": 2, "tags": []}]
    json_doc = load(str(_write(tmp_path / "r.json", json.dumps(rows))))
    assert chunk(json_doc, ChunkSpec())[0].content == 'id: 1\ntags: ["a", "b"]'


def test_html_keeps_main_text_and_headings(tmp_path: Path) -> None:
    html = (
        "<html><head><title>T</title><script>evil()</script></head><body>"
        "<nav>Home | About</nav><main><h1>Title</h1><p>Real text.</p></main>"
        "<footer>(c) someone</footer></body></html>"
    )
    doc = load(str(_write(tmp_path / "x.html", html)))
    assert doc.title == "T"
    assert doc.text == "# Title\n\nReal text."


def test_pdf_text_and_pdf_without_text(tmp_path: Path) -> None:
    doc = load(str(write_pdf(tmp_path / "a.pdf", ["Hello from a PDF.", "Second line."], "Doc")))
    assert "Hello from a PDF." in doc.text and doc.title == "Doc" and doc.metadata["pages"] == 1
    with pytest.raises(InputError) as caught:
        load(str(write_pdf(tmp_path / "empty.pdf", [])))
    assert caught.value.code == "pdf_no_text"
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 garbage")
    with pytest.raises(InputError) as caught:
        load(str(tmp_path / "broken.pdf"))
    assert caught.value.code == "pdf_unreadable"


def test_bad_inputs_are_refused_clearly(tmp_path: Path) -> None:
    (tmp_path / "junk.txt").write_bytes(b"\x7fELF\x00\x01\x02binary")
    cases = {
        "binary_input": str(tmp_path / "junk.txt"),
        "unsupported_type": str(_write(tmp_path / "a.exe", "x")),
        "source_not_found": str(tmp_path / "missing.md"),
        "records_invalid": str(_write(tmp_path / "bad.json", "{nope")),
    }
    for code, source in cases.items():
        with pytest.raises(InputError) as caught:
            load(source)
        assert caught.value.code == code, source
    big = tmp_path / "big.txt"
    big.write_bytes(b"a" * 2048)
    with pytest.raises(InputError) as caught:
        load(str(big), max_bytes=1024)
    assert caught.value.code == "source_too_large"


def test_broken_encoding_is_decoded_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "latin.txt"
    path.write_bytes("Café crème, déjà vu — naïve façade.".encode("cp1252"))
    assert "Café" in load(str(path)).text


def test_clean_and_expand(tmp_path: Path) -> None:
    assert clean("a\r\nb\x07  \n\n\n\nc") == "a\nb\n\nc"
    (tmp_path / "d" / ".git").mkdir(parents=True)
    _write(tmp_path / "d" / ".git" / "x.md", "no")
    _write(tmp_path / "d" / "a.md", "yes")
    _write(tmp_path / "d" / "b.bin", "no")
    assert list(expand([str(tmp_path / "d")])) == [str(tmp_path / "d" / "a.md")]


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_the_embedder_tokenizer_counts_tokens_not_padding() -> None:
    from knowledge.ingest.chunking import embedder_token_counter

    count = embedder_token_counter()
    assert count("Jupiter") <= 3
    assert 5 <= count("Jupiter has dozens of moons; Ganymede is the largest.") <= 20


def test_urls_are_fetched_typed_and_size_limited(tmp_path: Path) -> None:
    import functools
    import http.server
    import threading

    (tmp_path / "page.html").write_text(
        '<html><head><title>Page</title><meta name="author" content="Grace"></head>'
        "<body><main><p>Served over HTTP.</p></main></body></html>"
    )
    (tmp_path / "notes.md").write_text("# Notes\n\nPlain markdown.")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        page = load(f"{base}/page.html")
        assert (page.title, page.text, page.metadata["author"]) == (
            "Page",
            "Served over HTTP.",
            "Grace",
        )
        assert page.metadata["content_type"] == "text/html"
        assert load(f"{base}/notes.md").text.startswith("# Notes")
        with pytest.raises(InputError) as caught:
            load(f"{base}/missing.html")
        assert caught.value.code == "source_unreachable"
        with pytest.raises(InputError) as caught:
            load(f"{base}/page.html", max_bytes=16)
        assert caught.value.code == "source_too_large"
    finally:
        server.shutdown()
        server.server_close()
    with pytest.raises(InputError) as caught:
        load(base + "/page.html")  # the server is gone
    assert caught.value.code == "source_unreachable"


def test_stream_events_are_validated() -> None:
    from knowledge.ingest.stream import parse_event

    collection, op, doc = parse_event({"source": "s1", "text": "hello", "collection": "c"})
    assert (collection, op, doc is not None and doc.text) == ("c", "upsert", "hello")
    assert parse_event({"source": "s1", "op": "delete"})[1:] == ("delete", None)
    bad = [
        {"text": "no source"},
        {"source": "s", "op": "drop"},
        {"source": "s", "type": "video", "text": "x"},
        {"source": "s", "text": "x", "metadata": "[1]"},
        {"source": "s", "type": "records"},
        {"source": "s", "text": "  "},
    ]
    for fields in bad:
        with pytest.raises(InputError) as caught:
            parse_event(fields)
        assert caught.value.code == "stream_event_invalid", fields
    with pytest.raises(InputError) as caught:
        parse_event({"source": "s", "text": "x" * 2000}, max_bytes=1024)
    assert caught.value.code == "source_too_large"


def test_huge_unbroken_text_is_chunked_quickly_and_within_limits(tmp_path: Path) -> None:
    words = " ".join(f"word{i}" for i in range(60_000))  # one paragraph, no sentence ends
    blob = "A" * 200_000  # one "word" of 200 kB
    doc = load(str(_write(tmp_path / "big.txt", words + "\n\n" + blob)))
    spec = ChunkSpec(max_tokens=100, overlap=10)
    chunks = chunk(doc, spec)  # linear time: the quadratic packer never finished this
    assert all(estimate_tokens(c.content) <= spec.max_tokens * 1.1 for c in chunks)
    assert "".join(c.content for c in chunks if c.content.startswith("A")).count("A") >= 200_000
