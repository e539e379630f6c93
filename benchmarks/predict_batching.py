"""Concurrent predictions through the served app, with and without Gradio batching, side by side.

Serves the real app twice on loopback (same process, same loaded predictor), sends N concurrent
sentiment requests through `gradio_client` with N client workers each time, and prints
requests/s, p50/p95 latency, how many were answered and correct, and the ratio.

    python benchmarks/predict_batching.py --requests 200
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TEXTS = [("I love it, best purchase ever!", "positive"), ("Das ist absolut schrecklich.", "negative"),
         ("Questo ristorante è fantastico!", "positive"), ("O atendimento foi péssimo.", "negative")]


def concurrent_sentiment_requests(client, n: int) -> tuple[list[tuple[float, bool]], float]:
    """`n` sentiment requests at once through a `gradio_client.Client` of the served app, `n` workers.

    Returns ([(latency s, answered correctly)] per request, wall seconds for all of them).
    """
    def one(i):
        text, expected = TEXTS[i % len(TEXTS)]
        t0 = time.perf_counter()
        label, _ = client.predict(text, "sentiment", api_name="/sentiment")
        return time.perf_counter() - t0, isinstance(label, dict) and label.get("label") == expected

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=n) as pool:
        results = list(pool.map(one, range(n)))
    return results, time.perf_counter() - start


def run(batch: bool, n: int) -> dict:
    from gradio_client import Client

    from tests.app_server import served_app

    with tempfile.TemporaryDirectory() as home, served_app(Path(home), batch_predictions=batch,
                                                           sync_results=False) as (_, url):
        client = Client(url, verbose=False)
        client.predict("warm-up", "sentiment", api_name="/sentiment")
        results, wall = concurrent_sentiment_requests(client, n)
    latencies = sorted(r[0] for r in results)
    return {"batch": batch, "answered": len(results), "correct": sum(r[1] for r in results), "wall_s": wall,
            "req_per_s": n / wall, "p50_s": statistics.median(latencies),
            "p95_s": latencies[int(0.95 * (len(latencies) - 1))]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    rows = [run(False, args.requests), run(True, args.requests)]
    print(f"{'mode':<12}{'answered':>9}{'correct':>9}{'wall s':>9}{'req/s':>9}{'p50 s':>9}{'p95 s':>9}")
    for r in rows:
        mode = "batched" if r["batch"] else "one-by-one"
        print(f"{mode:<12}{r['answered']:>9}{r['correct']:>9}{r['wall_s']:>9.2f}{r['req_per_s']:>9.2f}"
              f"{r['p50_s']:>9.2f}{r['p95_s']:>9.2f}")
    print(f"throughput ratio batched / one-by-one: {rows[1]['req_per_s'] / rows[0]['req_per_s']:.2f}x")


if __name__ == "__main__":
    main()
