"""How well search finds the document that answers a question: recall@k and MRR, per ranking.

.venv/bin/python -m eval.retrieval [--split test|dev|all] [--hybrid 1 0.5 0] [--k 5] [--json]

Needs PostgreSQL (`daert up`). The corpus is built at run time from the docstrings of about
80 standard-library modules of the running Python, one document per module (see
eval/stdlib_corpus.py), written to a temporary directory and ingested the way `daert ingest`
does it into a fresh collection, dropped afterwards unless --keep. Each question in
eval/datasets/stdlib_questions.jsonl asks, in a user's own words, for something one module
(or two, when both answer it) documents. A question is found at rank r when the r-th chunk
returned comes from one of its expected documents; recall@k counts questions found within
k, MRR averages 1/r over the first `depth` chunks (0 when not found). `--hybrid` lists the
rankings to compare: 1 is the vector arm alone, 0 the full-text arm alone, 0.5 the default
fusion of both. The test split is held back: tune on dev only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import psycopg

from agents.embeddings.ports import Embedder
from eval.stdlib_corpus import CorpusTooSmallError, write_corpus
from knowledge.vector.ports import SearchOptions, VectorStore

DATASETS = Path(__file__).parent / "datasets"
QUESTIONS = DATASETS / "stdlib_questions.jsonl"
Split = Literal["dev", "test", "all"]


@dataclass(frozen=True)
class RetrievalCase:
    question: str
    sources: tuple[str, ...]  # document names (module names, file stems) that answer it
    split: str


@dataclass
class RankingReport:
    """One ranking (a hybrid weight) over a set of questions."""

    hybrid: float
    k: int
    depth: int
    ranks: list[int | None] = field(default_factory=list)  # per question, 1-based
    answered: list[int] = field(default_factory=list)  # per question, chunks returned
    misses: list[str] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return sum(1 for r in self.ranks if r is not None and r <= self.k) / len(self.ranks)

    @property
    def recall_at_1(self) -> float:
        return sum(1 for r in self.ranks if r == 1) / len(self.ranks)

    @property
    def mrr(self) -> float:
        return sum(1 / r for r in self.ranks if r is not None) / len(self.ranks)

    @property
    def empty(self) -> int:
        """Questions for which this ranking returned nothing at all."""
        return sum(1 for n in self.answered if n == 0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "hybrid": self.hybrid,
            f"recall@{self.k}": round(self.recall, 4),
            "recall@1": round(self.recall_at_1, 4),
            f"mrr@{self.depth}": round(self.mrr, 4),
            "questions": len(self.ranks),
            "no_results": self.empty,
            "misses": self.misses,
        }


def load_cases(path: Path = QUESTIONS, split: Split = "test") -> list[RetrievalCase]:
    cases = []
    for line in path.read_text().splitlines():
        if line.strip():
            item = json.loads(line)
            case = RetrievalCase(item["question"], tuple(item["sources"]), item["split"])
            if split in {"all", case.split}:
                cases.append(case)
    return cases


def corpus_files(directory: Path, cases: Sequence[RetrievalCase]) -> list[Path]:
    """Write the corpus into `directory`; every question must have a document to find."""
    try:
        paths = write_corpus(directory)
    except CorpusTooSmallError as err:
        raise SystemExit(str(err)) from err
    names = {document_name(str(path)) for path in paths}
    unanswerable = [case.question for case in cases if not names & set(case.sources)]
    if unanswerable:
        raise SystemExit(
            f"{len(unanswerable)} questions expect modules missing from this Python's corpus "
            f"(first: {unanswerable[0]!r}); run with a full CPython 3.12+ build that keeps "
            "docstrings"
        )
    return paths


def document_name(source: str) -> str:
    return Path(source).stem


async def evaluate(
    store: VectorStore,
    embedder: Embedder,
    collection: str,
    cases: Sequence[RetrievalCase],
    hybrid: float,
    *,
    k: int = 5,
    depth: int = 10,
) -> RankingReport:
    """Search every question with one hybrid weight and record where its answer ranks."""
    report = RankingReport(hybrid=hybrid, k=k, depth=depth)
    vectors = await embedder.embed([case.question for case in cases])
    options = SearchOptions(k=depth, hybrid=hybrid)
    for case, vector in zip(cases, vectors, strict=True):
        hits = await store.search(collection, case.question, vector, options)
        names = [document_name(hit.source) for hit in hits]
        rank = next((i for i, name in enumerate(names, start=1) if name in case.sources), None)
        report.ranks.append(rank)
        report.answered.append(len(hits))
        if rank is None or rank > k:
            report.misses.append(f"{case.question} -> {', '.join(dict.fromkeys(names[:3]))}")
    return report


def render(reports: Sequence[RankingReport], *, chunks: int, documents: int) -> str:
    lines = [f"{documents} documents, {chunks} chunks, {len(reports[0].ranks)} questions"]
    for r in reports:
        lines.append(
            f"hybrid {r.hybrid:<4}: recall@{r.k} {r.recall:.3f}  recall@1 {r.recall_at_1:.3f}  "
            f"MRR@{r.depth} {r.mrr:.3f}  no results for {r.empty}"
        )
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> None:
    from daert.adapters import build_embedder, build_ingestor, build_vector_store  # noqa: PLC0415 - the composition root, only when run
    from daert.services.plan import build_supervisor, endpoints  # noqa: PLC0415 - the composition root, only when run
    from daert.settings import load_settings  # noqa: PLC0415

    settings = load_settings()
    store = build_vector_store(endpoints(settings, build_supervisor(settings)))
    embedder = build_embedder(settings)
    collection = args.collection or f"eval-retrieval-{uuid.uuid4().hex[:8]}"
    await store.setup()
    try:
        ingestor = build_ingestor(settings, store, embedder, collection)
        cases = load_cases(split=args.split)
        if args.collection:  # the same paths every run, so an unchanged document stays put
            directory = settings.data_dir / "eval" / "stdlib-corpus"
            directory.mkdir(parents=True, exist_ok=True)
            ingested = await ingestor.ingest([str(p) for p in corpus_files(directory, cases)])
        else:
            with tempfile.TemporaryDirectory(prefix="daert-stdlib-corpus-") as scratch:
                files = corpus_files(Path(scratch), cases)
                ingested = await ingestor.ingest([str(p) for p in files])
        failed = [r for r in ingested.results if r.outcome == "failed"]
        if failed:
            raise SystemExit(f"ingestion failed: {failed}")
        stats = await store.stats(collection)
        reports = [
            await evaluate(store, embedder, collection, cases, w, k=args.k, depth=args.depth)
            for w in args.hybrid
        ]
        if args.json:
            print(json.dumps({"stats": stats, "rankings": [r.to_dict() for r in reports]}))
        else:
            print(render(reports, chunks=stats["chunks"], documents=stats["documents"]))
            if args.misses:
                for r in reports:
                    print(f"\nmissed by hybrid {r.hybrid}:", *r.misses, sep="\n  ")
    finally:
        await store.aclose()
        if not args.keep and not args.collection:
            async with await psycopg.AsyncConnection.connect(store.url, autocommit=True) as conn:
                await conn.execute("DELETE FROM kb_collections WHERE name = %s", (collection,))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--split", choices=["dev", "test", "all"], default="test")
    parser.add_argument("--hybrid", type=float, nargs="+", default=[1.0, 0.5, 0.0])
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--depth", type=int, default=10, help="chunks searched per question")
    parser.add_argument("--collection", help="reuse (and keep) this collection")
    parser.add_argument("--keep", action="store_true", help="keep the evaluation collection")
    parser.add_argument("--misses", action="store_true", help="list the questions missed")
    parser.add_argument("--json", action="store_true")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
