"""Sandbox latency: cold start of a session, a warm `1+1` round trip, a numpy/matplotlib cell.

    .venv/bin/python -m eval.bench.sandbox [--runs 20]

The warm round trip is compared with the same `1+1` run by a plain in-process
`exec()` baseline in the same run, to show the sandbox's own cost.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from tools.code_exec.bubblewrap import LocalSandbox

CELL = (
    "import numpy as np, matplotlib.pyplot as plt\n"
    "x = np.linspace(0, 10, 1000)\nplt.plot(x, np.sin(x))\nplt.show()\nfloat(np.sin(x).sum())"
)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def line(name: str, values: list[float]) -> str:
    return (
        f"{name:<22} median {statistics.median(values):8.1f} ms   p95 {pct(values, 0.95):8.1f} ms"
    )


async def run(runs: int) -> None:
    box = LocalSandbox()
    cold, warm, cell, baseline = [], [], [], []
    try:
        for i in range(runs):
            t = time.perf_counter()
            await box.execute("1+1", session=f"cold-{i}")  # start + first execution
            cold.append((time.perf_counter() - t) * 1000)
            await box.close(f"cold-{i}")
        await box.execute("1+1", session="warm")
        for _ in range(runs * 5):
            t = time.perf_counter()
            await box.execute("1+1", session="warm")
            warm.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            exec("1+1")  # noqa: S102 - the in-process baseline
            baseline.append((time.perf_counter() - t) * 1000)
        for _ in range(runs):
            t = time.perf_counter()
            result = await box.execute(CELL, session="warm")
            cell.append((time.perf_counter() - t) * 1000)
            assert result.ok and result.parts, result.error
    finally:
        await box.aclose()
    print(line("cold session + 1+1", cold))
    print(line("warm 1+1", warm))
    print(line("numpy/matplotlib cell", cell))
    print(line("in-process exec (base)", baseline))
    ratio = statistics.median(warm) / statistics.median(baseline)
    print(f"warm round trip / in-process: {ratio:.0f}x")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=20)
    asyncio.run(run(parser.parse_args().runs))


if __name__ == "__main__":
    main()
