"""The assistant's own cost: orchestration overhead per turn, semantic cache, router latency.

    daert up && .venv/bin/python -m eval.bench.assistant [--turns 60] [--delay 0.05]

1. Orchestration overhead: a model double that answers after a fixed delay serves both a
   direct streamed call through the gateway (the baseline) and full assistant turns (route,
   memory recall, cache lookup, checkpoint writes, answer), at concurrency 1 and 32. The
   difference is everything but model time.
2. Semantic cache: hit latency, and precision/recall of hits on the paraphrase set in
   eval/datasets/cache_paraphrases.jsonl (pairs that ask the same thing, and near-misses
   that do not).
3. Router latency: embedding + routing of one question, against embedding alone.
Needs the embedded PostgreSQL and Redis (`daert up`); the chat model is the double.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from core.deployments import DeploymentSpec
from daert.runtime import Runtime
from daert.services.plan import build_supervisor, endpoints
from daert.settings import load_settings
from memory.semantic_cache.ports import CacheScope
from memory.semantic_cache.redis import RedisSemanticCache

PARAPHRASES = Path(__file__).resolve().parents[1] / "datasets" / "cache_paraphrases.jsonl"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def line(name: str, values: list[float]) -> str:
    return f"{name:<34} p50 {pct(values, 0.5):8.2f} ms   p95 {pct(values, 0.95):8.2f} ms"


async def timed(
    make: Callable[[int], Awaitable[object]], total: int, concurrency: int
) -> list[float]:
    """Latency of each of `total` calls, `concurrency` in flight at a time."""
    gate = asyncio.Semaphore(concurrency)
    out: list[float] = []

    async def one(i: int) -> None:
        async with gate:
            began = time.perf_counter()
            await make(i)
            out.append((time.perf_counter() - began) * 1000)

    await asyncio.gather(*(one(i) for i in range(total)))
    return out


async def overhead(turns: int, delay: float) -> None:
    # The double runs in its own process, so its serving does not share our interpreter.
    double = subprocess.Popen(
        [sys.executable, "-m", "agents.testing.openai_double", "--delay", str(delay)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert double.stdout is not None
        url = double.stdout.readline().strip()
        spec = DeploymentSpec(model="openai/double", api_base=url)
        settings = load_settings(models={"chat": [spec]}, assistant_tools=[], model_retries=0)
        async with Runtime(settings) as runtime:
            gateway, assistant = await runtime.gateway(), await runtime.assistant()
            messages = [{"role": "user", "content": "hello there"}]

            async def direct(_: int) -> None:
                async for _piece in gateway.stream("chat", messages):
                    pass

            async def turn(i: int) -> None:
                await assistant.ask(f"hello there, question {uuid.uuid4().hex[:8]}",
                                    thread_id=f"bench-{uuid.uuid4().hex}",
                                       user_id=f"bench{i}", cache=False, memory=True)  # fmt: skip

            await direct(0)
            await turn(0)  # warm both paths
            print(f"model double answers after {delay * 1000:.0f} ms; {turns} turns each\n")
            for concurrency in (1, 32):
                base = await timed(direct, turns, concurrency)
                full = await timed(turn, turns, concurrency)
                print(line(f"direct model call  (c={concurrency})", base))
                print(line(f"assistant turn     (c={concurrency})", full))
                extra50 = pct(full, 0.5) - pct(base, 0.5)
                extra95 = pct(full, 0.95) - pct(base, 0.95)
                ratio = pct(full, 0.5) / pct(base, 0.5)
                print(f"{'orchestration overhead':<34} p50 {extra50:8.2f} ms   "
                      f"p95 {extra95:8.2f} ms   (x{ratio:.2f} of the direct call)\n")  # fmt: skip
            await gateway.flush()
    finally:
        double.terminate()
        double.wait(10)


async def cache_and_router(redis_url: str) -> None:
    from agents.embeddings.local import LocalMiniLM  # noqa: PLC0415
    from agents.router.embedding import EmbeddingRouter  # noqa: PLC0415

    embedder = LocalMiniLM()
    pairs = [json.loads(x) for x in PARAPHRASES.read_text().splitlines() if x.strip()]
    cache = RedisSemanticCache(redis_url, prefix=f"bench:{uuid.uuid4().hex[:6]}")
    scope = CacheScope(alias="chat")
    try:
        stored = [p["question"] for p in pairs]
        vectors = await embedder.embed(stored + [p["probe"] for p in pairs])
        for i, question in enumerate(stored):
            # one scope per pair, so a probe can only hit its own question
            await cache.store(question, vectors[i], f"answer {i}", CacheScope(alias=f"c{i}"))
        hits, true_hits, positives, latencies = 0, 0, 0, []
        for i, pair in enumerate(pairs):
            began = time.perf_counter()
            hit = await cache.lookup(
                pair["probe"], vectors[len(pairs) + i], CacheScope(alias=f"c{i}")
            )
            latencies.append((time.perf_counter() - began) * 1000)
            positives += pair["same"]
            if hit is not None:
                hits += 1
                true_hits += pair["same"]
        miss = []
        for _ in range(50):
            began = time.perf_counter()
            await cache.lookup("nothing like this", vectors[0], scope)
            miss.append((time.perf_counter() - began) * 1000)
        print(f"semantic cache on {len(pairs)} pairs ({positives} paraphrases, "
              f"{len(pairs) - positives} near-misses), threshold {cache.threshold}")  # fmt: skip
        print(line("cache lookup (hit or miss)", latencies))
        print(line("cache lookup (empty scope)", miss))
        precision = true_hits / hits if hits else 0.0
        recall = true_hits / positives if positives else 0.0
        print(f"{'hit precision / recall':<34} {precision:.2f} / {recall:.2f}\n")
    finally:
        await cache.clear()
        await cache.aclose()

    router = EmbeddingRouter(embedder)
    await router.setup()
    questions = [p["probe"] for p in pairs]
    embed_only = await timed(lambda i: embedder.embed([questions[i % len(questions)]]), 100, 1)
    routed = await timed(lambda i: router.route(questions[i % len(questions)]), 100, 1)
    print(line("embed one question (baseline)", embed_only))
    print(line("embed + route one question", routed))
    print(
        f"{'router cost over embedding':<34} p50 {pct(routed, 0.5) - pct(embed_only, 0.5):8.2f} ms"
    )


async def run(args: argparse.Namespace) -> None:
    settings = load_settings()
    urls = endpoints(settings, build_supervisor(settings))
    if urls.postgres is None or urls.redis is None:
        raise SystemExit("PostgreSQL and Redis are not running: start them with `daert up`")
    await overhead(args.turns, args.delay)
    await cache_and_router(urls.redis)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=60)
    parser.add_argument("--delay", type=float, default=0.05, help="model double latency, s")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
