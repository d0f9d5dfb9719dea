"""Knowledge base at scale: ingestion throughput, search latency, HNSW recall vs exact search.

    .venv/bin/python -m eval.bench.knowledge [--chunks 100000] [--queries 200]

Needs the embedded services (`daert up`). The corpus is real text: the Python sources,
docstrings and documents installed in this virtualenv, chunked like `daert ingest` does. It
is written into a fresh collection `bench-<n>` (dropped afterwards unless --keep). Recall@10
compares the HNSW index against an exact scan of the same vectors in the same run, for several
`ef_search` values.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psycopg
from pgvector.psycopg import register_vector_async

from agents.embeddings.local import LocalMiniLM
from daert.services.plan import build_supervisor, endpoints
from daert.settings import load_settings
from knowledge.ingest.chunking import ChunkSpec, chunk, embedder_token_counter
from knowledge.ingest.loaders import load
from knowledge.vector.pgvector import PgVectorStore
from knowledge.vector.ports import Chunk, DocumentRecord, SearchOptions

SUFFIXES = {".py", ".md", ".rst", ".txt"}


def corpus_files() -> Iterator[Path]:
    roots = sorted({Path(p) for p in sys.path if p.endswith("site-packages")})
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.suffix in SUFFIXES and path.is_file() and path.stat().st_size < 512_000:
                yield path


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(args: argparse.Namespace) -> None:  # noqa: PLR0915 - one linear report
    settings = load_settings()
    urls = endpoints(settings, build_supervisor(settings))
    if urls.postgres is None:
        raise SystemExit("PostgreSQL is not running: start it with `daert up`")
    store = PgVectorStore(urls.postgres)
    await store.setup()
    embedder = LocalMiniLM(batch_size=128)
    count = embedder_token_counter()
    spec = ChunkSpec(max_tokens=128, overlap=16, post_max_tokens=128)
    collection = f"bench-{args.chunks}"
    await store.ensure_collection(collection, embedder.name, embedder.dimension)

    embed_s = store_s = 0.0
    written = files = 0
    began = time.perf_counter()
    sample: list[str] = []
    rng = random.Random(11)
    for path in corpus_files():
        if written >= args.chunks:
            break
        try:
            doc = load(str(path))
        except Exception:  # noqa: BLE001, S112 - the corpus takes what loads
            continue
        pieces = [p.content for p in chunk(doc, spec, count)][: args.chunks - written]
        if not pieces:
            continue
        t0 = time.perf_counter()
        vectors = await embedder.embed(pieces)
        t1 = time.perf_counter()
        chunks = [
            Chunk(i, text, vec) for i, (text, vec) in enumerate(zip(pieces, vectors, strict=True))
        ]
        await store.replace_document(collection, DocumentRecord(str(path), "bench"), chunks)
        t2 = time.perf_counter()
        embed_s, store_s = embed_s + t1 - t0, store_s + t2 - t1
        written += len(pieces)
        files += 1
        sample.extend(p for p in pieces if rng.random() < 0.01 and len(p) > 80)
        if files % 200 == 0:
            print(f"  {written} chunks from {files} files ...", file=sys.stderr, flush=True)
    total = time.perf_counter() - began
    print(f"ingested {written} chunks from {files} files in {total:.0f}s: "
          f"{written / total:.1f} chunks/s; embedding {embed_s / total:.0%} of the time "
          f"({written / embed_s:.1f} chunks/s), storing {store_s / total:.0%} "
          f"({written / store_s:.1f} chunks/s)")  # fmt: skip

    queries = [" ".join(q.split()[:12]) for q in rng.sample(sample, min(args.queries, len(sample)))]
    qvecs = await embedder.embed(queries)
    async with await psycopg.AsyncConnection.connect(urls.postgres) as conn:
        await register_vector_async(conn)
        t0 = time.perf_counter()
        await conn.execute("ANALYZE kb_chunks")
        truth: list[list[int]] = []
        exact_ms: list[float] = []
        for vec in qvecs:
            async with conn.transaction():
                await conn.execute("SET LOCAL enable_indexscan = off")
                await conn.execute("SET LOCAL enable_bitmapscan = off")
                t = time.perf_counter()
                rows = await (
                    await conn.execute(
                        "SELECT id FROM kb_chunks WHERE collection = %s "
                        "ORDER BY embedding::vector(384) <=> %s::vector(384) LIMIT 10",
                        (collection, np.asarray(vec, dtype=np.float32)),
                    )
                ).fetchall()
                exact_ms.append((time.perf_counter() - t) * 1000)
            truth.append([int(r[0]) for r in rows])
    exact = statistics.median(exact_ms)
    print(f"exact scan:   p50 {exact:7.1f} ms  p95 {pct(exact_ms, 0.95):7.1f} ms")
    for ef in args.ef:
        latencies: list[float] = []
        recalls: list[float] = []
        for vec, expected in zip(qvecs, truth, strict=True):
            t = time.perf_counter()
            hits = await store.search(
                collection, "", vec, SearchOptions(k=10, hybrid=1.0, candidates=10, ef_search=ef)
            )
            latencies.append((time.perf_counter() - t) * 1000)
            recalls.append(len({h.chunk_id for h in hits} & set(expected)) / max(1, len(expected)))
        median = statistics.median(latencies)
        print(
            f"hnsw ef={ef:<4}: p50 {median:7.1f} ms  p95 {pct(latencies, 0.95):7.1f} ms  "
            f"recall@10 {statistics.mean(recalls):.3f}  speed-up vs exact {exact / median:.1f}x"
        )
    for label, weight in (("full text (BM25)", 0.0), ("hybrid (RRF)", 0.5)):
        latencies = []
        for text, vec in zip(queries, qvecs, strict=True):
            t = time.perf_counter()
            await store.search(collection, text, vec, SearchOptions(k=10, hybrid=weight))
            latencies.append((time.perf_counter() - t) * 1000)
        median = statistics.median(latencies)
        print(f"{label}: p50 {median:7.1f} ms  p95 {pct(latencies, 0.95):7.1f} ms")
    if not args.keep:
        async with await psycopg.AsyncConnection.connect(urls.postgres, autocommit=True) as conn:
            await conn.execute("DELETE FROM kb_collections WHERE name = %s", (collection,))
    print(f"(setup {t0 - began:.0f}s)", file=sys.stderr)
    await store.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--ef", type=int, nargs="+", default=[10, 40, 100, 200])
    parser.add_argument("--keep", action="store_true", help="keep the bench collection")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
