"""How well the embedding router sends labelled questions to their route.

.venv/bin/python -m eval.routing [--threshold X] [--margin Y] [--dataset PATH] [--json]

A case counts as correct when its expected route is the first route the router returns; a
second, parallel route does not change that. The report adds per-route precision and recall,
a confusion matrix (expected -> first route returned) and every miss with its scores.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agents.embeddings.ports import Embedder
from agents.router.embedding import ROUTES, EmbeddingRouter

DATASET = Path(__file__).parent / "datasets" / "routing.jsonl"


@dataclass(frozen=True)
class RoutingCase:
    query: str
    route: str


@dataclass(frozen=True)
class RouteStats:
    """One route's row: how many cases expect it, how many it was given, how many rightly."""

    route: str
    expected: int
    predicted: int
    correct: int

    @property
    def precision(self) -> float:
        return self.correct / self.predicted if self.predicted else 0.0

    @property
    def recall(self) -> float:
        return self.correct / self.expected if self.expected else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass(frozen=True)
class Miss:
    query: str
    expected: str
    routes: list[str]
    confident: bool
    scores: dict[str, float]


@dataclass(frozen=True)
class RoutingReport:
    total: int
    correct: int
    unconfident: int  # cases that fell back because no route reached the threshold
    anywhere: int  # cases whose expected route was among the routes returned, first or not
    paired: int  # cases given a second, parallel route
    routes: list[str]
    per_route: dict[str, RouteStats]
    confusion: dict[str, dict[str, int]]  # expected route -> first route returned -> count
    misses: list[Miss] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "correct": self.correct,
            "accuracy": round(self.accuracy, 4),
            "unconfident": self.unconfident,
            "anywhere": self.anywhere,
            "paired": self.paired,
            "per_route": {
                route: {
                    **asdict(stats),
                    "precision": round(stats.precision, 4),
                    "recall": round(stats.recall, 4),
                    "f1": round(stats.f1, 4),
                }
                for route, stats in self.per_route.items()
            },
            "confusion": self.confusion,
            "misses": [asdict(miss) for miss in self.misses],
        }

    def render(self) -> str:
        """A plain-text report: accuracy, per-route table, confusion matrix, misses."""
        lines = [
            f"accuracy: {self.accuracy:.3f} ({self.correct}/{self.total}); "
            f"fell back below the threshold: {self.unconfident}",
            f"expected route among those returned: {self.anywhere}/{self.total}; "
            f"given a second route: {self.paired}",
            "",
            f"{'route':<10}{'n':>4}{'precision':>11}{'recall':>8}{'f1':>7}",
        ]
        for route in self.routes:
            s = self.per_route[route]
            lines.append(
                f"{route:<10}{s.expected:>4}{s.precision:>11.2f}{s.recall:>8.2f}{s.f1:>7.2f}"
            )
        lines += ["", "confusion (rows: expected, columns: first route returned)"]
        lines.append(f"{'':<10}" + "".join(f"{r:>9}" for r in self.routes))
        for expected in self.routes:
            row = self.confusion[expected]
            lines.append(f"{expected:<10}" + "".join(f"{row[r]:>9}" for r in self.routes))
        lines += ["", f"misses ({len(self.misses)}):"]
        for miss in self.misses:
            top = sorted(miss.scores.items(), key=lambda kv: kv[1], reverse=True)[:3]
            shown = ", ".join(f"{r} {s:.2f}" for r, s in top)
            flag = "" if miss.confident else " (fallback)"
            query = " ".join(miss.query.split())
            query = query if len(query) <= 90 else query[:87] + "..."
            lines.append(
                f"  {miss.expected:>8} -> {'+'.join(miss.routes)}{flag}: {query!r}  [{shown}]"
            )
        return "\n".join(lines)


def load_cases(path: Path = DATASET) -> list[RoutingCase]:
    """Labelled cases from a JSON-lines file of {"query": ..., "route": ...} objects."""
    cases = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as err:
            raise ValueError(f"{path}:{number}: not JSON ({err})") from err
        if not isinstance(item, dict):
            raise ValueError(f"{path}:{number}: expected an object with query and route")
        query, route = item.get("query"), item.get("route")
        if not isinstance(query, str) or not query.strip():
            raise ValueError(f"{path}:{number}: 'query' must be a non-empty string")
        if route not in ROUTES:
            raise ValueError(f"{path}:{number}: route {route!r} is not one of {', '.join(ROUTES)}")
        cases.append(RoutingCase(query, route))
    return cases


async def evaluate(router: EmbeddingRouter, cases: Sequence[RoutingCase]) -> RoutingReport:
    """Route every case (the queries embedded in one batch) and score the first route."""
    vectors = await router.embedder.embed([case.query for case in cases])
    routes = [r for r in ROUTES if r in router.exemplars or any(c.route == r for c in cases)]
    confusion = {expected: dict.fromkeys(routes, 0) for expected in routes}
    misses: list[Miss] = []
    unconfident = anywhere = paired = 0
    for case, vector in zip(cases, vectors, strict=True):
        decision = await router.route(case.query, vector)
        first = decision.routes[0]
        confusion[case.route][first] += 1
        unconfident += not decision.confident
        anywhere += case.route in decision.routes
        paired += len(decision.routes) > 1
        if first != case.route:
            misses.append(
                Miss(case.query, case.route, decision.routes, decision.confident, decision.scores)
            )
    per_route = {
        route: RouteStats(
            route,
            expected=sum(confusion[route].values()),
            predicted=sum(row[route] for row in confusion.values()),
            correct=confusion[route][route],
        )
        for route in routes
    }
    correct = sum(stats.correct for stats in per_route.values())
    return RoutingReport(
        len(cases), correct, unconfident, anywhere, paired, routes, per_route, confusion, misses
    )


@dataclass(frozen=True)
class Overlap:
    query: str
    exemplar: str
    similarity: float


async def exemplar_overlaps(
    embedder: Embedder,
    cases: Sequence[RoutingCase],
    exemplars: Mapping[str, Sequence[str]],
    *,
    limit: float = 0.9,
) -> list[Overlap]:
    """Cases whose nearest exemplar is more similar than `limit`: the set must stay disjoint."""
    texts = [u for utterances in exemplars.values() for u in utterances]
    queries = np.asarray(await embedder.embed([c.query for c in cases]), dtype=np.float32)
    shots = np.asarray(await embedder.embed(texts), dtype=np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True) + 1e-12
    shots /= np.linalg.norm(shots, axis=1, keepdims=True) + 1e-12
    sims = queries @ shots.T
    nearest = sims.argmax(axis=1)
    return [
        Overlap(case.query, texts[j], float(sims[i, j]))
        for i, (case, j) in enumerate(zip(cases, nearest, strict=True))
        if sims[i, j] > limit
    ]


async def _run(args: argparse.Namespace) -> RoutingReport:
    from agents.embeddings.local import LocalMiniLM  # noqa: PLC0415 - optional extra

    router = EmbeddingRouter(LocalMiniLM(), threshold=args.threshold, margin=args.margin)
    await router.setup()
    return await evaluate(router, load_cases(args.dataset))


def main(argv: Sequence[str] | None = None) -> None:
    defaults = inspect.signature(EmbeddingRouter).parameters
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threshold", type=float, default=defaults["threshold"].default)
    parser.add_argument("--margin", type=float, default=defaults["margin"].default)
    parser.add_argument("--dataset", type=Path, default=DATASET)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    report = asyncio.run(_run(args))
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(f"threshold {args.threshold}, margin {args.margin}, dataset {args.dataset}\n")
        print(report.render())


if __name__ == "__main__":
    main()
