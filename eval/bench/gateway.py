"""Gateway overhead: raw HTTP vs LiteLLM alone vs the daert gateway, on one local endpoint.

    .venv/bin/python -m eval.bench.gateway [--calls 300]

The endpoint is the OpenAI-compatible double in its own process, answering at once, so what
is measured is client-side overhead. The three clients take turns in rounds, in one run, and
the report gives median and p95 per call and the differences between them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

import httpx

from agents.gateway import ModelGateway, resolve
from agents.gateway.gateway import _litellm
from core.deployments import DeploymentSpec

MESSAGES = [{"role": "user", "content": "ping"}]


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _time(call: Callable[[], Awaitable[object]], n: int) -> list[float]:
    out = []
    for _ in range(n):
        began = time.perf_counter()
        await call()
        out.append((time.perf_counter() - began) * 1000)
    return out


async def run(calls: int, rounds: int) -> None:
    double = subprocess.Popen(
        [sys.executable, "-m", "agents.testing.openai_double"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert double.stdout is not None
        url = double.stdout.readline().strip()
        litellm = _litellm()
        gateway = ModelGateway(
            resolve(
                {"chat": [DeploymentSpec(model="openai/double", api_base=url)]},
                local_url=None,
                default_timeout=30,
                env=os.environ,
            ),
            retries=0,
        )
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            payload = {"model": "double", "messages": MESSAGES}

            async def raw() -> object:
                response = await client.post("/chat/completions", json=payload)
                return response.json()

            async def lite() -> object:
                return await litellm.acompletion(
                    model="openai/double", api_base=url, api_key="x", messages=MESSAGES
                )

            async def gw() -> object:
                return await gateway.complete("chat", MESSAGES)

            clients = {"raw httpx": raw, "litellm": lite, "gateway": gw}
            for call in clients.values():  # warm connections and caches
                await _time(call, 20)
            times: dict[str, list[float]] = {name: [] for name in clients}
            per_round = max(1, calls // rounds)
            for _ in range(rounds):
                for name, call in clients.items():
                    times[name] += await _time(call, per_round)
        print(f"{'client':<10} {'calls':>6} {'median ms':>10} {'p95 ms':>8}")
        for name, values in times.items():
            print(
                f"{name:<10} {len(values):>6} {statistics.median(values):>10.2f} "
                f"{_p(values, 0.95):>8.2f}"
            )
        med = {n: statistics.median(v) for n, v in times.items()}
        p95 = {n: _p(v, 0.95) for n, v in times.items()}
        print(
            f"\nlitellm over raw:  median +{med['litellm'] - med['raw httpx']:.2f} ms, "
            f"p95 +{p95['litellm'] - p95['raw httpx']:.2f} ms"
        )
        print(
            f"gateway over litellm: median +{med['gateway'] - med['litellm']:.2f} ms, "
            f"p95 +{p95['gateway'] - p95['litellm']:.2f} ms (target: < 2 ms)"
        )
        print(f"gateway / raw ratio: {med['gateway'] / med['raw httpx']:.2f}x (median)")
    finally:
        double.terminate()
        double.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=300, help="calls per client (>= 200)")
    parser.add_argument("--rounds", type=int, default=6, help="turns the clients take")
    args = parser.parse_args()
    asyncio.run(run(args.calls, args.rounds))


if __name__ == "__main__":
    main()
