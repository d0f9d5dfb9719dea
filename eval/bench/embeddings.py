"""Local embedder throughput: texts/s batched against one text at a time, in the same run.

.venv/bin/python -m eval.bench.embeddings [--texts 2000]
"""

from __future__ import annotations

import argparse
import random
import time

from agents.embeddings.local import LocalMiniLM

VOCABULARY = (
    "assistant graph retrieval vector index query cache model answer thread user document "
    "section paragraph search rank fusion window token summary knowledge"
)
WORDS = VOCABULARY.split()


def corpus(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choices(WORDS, k=rng.randint(8, 60))) for _ in range(n)]


def rate(embedder: LocalMiniLM, texts: list[str]) -> float:
    began = time.perf_counter()
    embedder.embed_sync(texts)
    return len(texts) / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--texts", type=int, default=2000)
    args = parser.parse_args()
    texts = corpus(args.texts)
    batched = LocalMiniLM(batch_size=64)
    single = LocalMiniLM(batch_size=1)
    batched.embed_sync(texts[:64])  # load the model before timing
    single._model = batched._model  # same weights, other batch size
    fast = rate(batched, texts)
    slow = rate(single, texts[: max(64, args.texts // 8)])
    print(f"batched (64): {fast:8.1f} texts/s over {len(texts)} texts")
    print(f"one by one  : {slow:8.1f} texts/s")
    print(f"ratio       : {fast / slow:.2f}x")


if __name__ == "__main__":
    main()
