"""The tables of `leaderboard/hardware-check/README.md`: the same cell trained in bf16 and in float32, and in
float32 on two machines, from the committed records.

A cell is (task, source, seed) of the single-source `zero-shot` runs in `leaderboard/results/` and
`leaderboard/hardware-check/`. Printed:
- per task, every cell with a bf16 run (not English's: its CPU pair has a table of its own above) and a float32
  run on a GPU: both target averages, the difference and on how many targets the bf16 run is lower; then the
  mean, sample std, range and sign count of the differences;
- every cell with a float32 run on the CPU and one on a GPU: the target averages and the per-language range and
  mean of GPU minus CPU.

    python scripts/precision_pairs.py
"""

from __future__ import annotations

import statistics
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    from xlt.results.records import read_records, training_precision

    records = []
    for folder in (ROOT / "leaderboard" / "results", ROOT / "leaderboard" / "hardware-check"):
        found, _ = read_records(folder)
        records += [r for r in found if r["method"] == "zero-shot" and len(r["source_languages"]) == 1]
    cells = defaultdict(dict)  # (task, source, seed) -> {(precision, machine): record}
    for r in sorted(records, key=lambda r: r["created"]):
        machine = (r.get("hardware") or {}).get("gpu") or "CPU"
        cells[(r["task"], r["source_languages"][0], r["seed"])][(training_precision(r), machine)] = r

    for task in sorted({key[0] for key in cells}):
        metric = "accuracy" if task == "nli" else "macro_f1"
        rows, diffs = [], []
        for (t, source, seed), runs in sorted(cells.items()):
            half = [r for (p, _), r in runs.items() if p == "bf16"]
            gpu32 = [r for (p, m), r in runs.items() if p == "fp32" and m != "CPU"]
            if t != task or source == "en" or not (half and gpu32):
                continue
            b, f = half[-1], gpu32[-1]
            targets = b["summary"]["target_languages"]
            lower = sum(b["metrics"][lang][metric] < f["metrics"][lang][metric] for lang in targets)
            diff = f["summary"]["target_average"] - b["summary"]["target_average"]
            diffs.append(diff)
            rows.append(f"| {source} | {seed} | {b['summary']['target_average']:.3f} | "
                        f"{f['summary']['target_average']:.3f} ({f['hardware']['gpu'].split()[1]}) | {diff:+.3f} | "
                        f"{lower} of {len(targets)} |")
        if not rows:
            continue
        print(f"\n{task} ({metric}, target average)\n\n| source | seed | bf16, H100 | fp32, GPU | fp32 − bf16 | "
              "targets where bf16 is lower |\n|---|---|---|---|---|---|")
        print("\n".join(rows))
        spread = f", std {statistics.stdev(diffs):.3f}" if len(diffs) > 1 else ""
        print(f"\n{len(diffs)} cells: float32 minus bf16 {statistics.mean(diffs):+.3f} on average{spread}, from "
              f"{min(diffs):+.3f} to {max(diffs):+.3f}, float32 higher in {sum(d > 0 for d in diffs)}")

    for (task, source, seed), runs in sorted(cells.items()):
        cpu = [r for (p, m), r in runs.items() if p == "fp32" and m == "CPU"]
        gpu = [r for (p, m), r in runs.items() if p == "fp32" and m != "CPU"]
        if not (cpu and gpu):
            continue
        c, g = cpu[-1], gpu[-1]
        metric = "accuracy" if task == "nli" else "macro_f1"
        per_language = [g["metrics"][lang][metric] - c["metrics"][lang][metric] for lang in c["metrics"]]
        print(f"\n{task} {source} seed {seed}, float32: CPU {c['summary']['target_average']:.3f}, "
              f"{g['hardware']['gpu']} {g['summary']['target_average']:.3f}; per language GPU minus CPU from "
              f"{100 * min(per_language):+.1f} to {100 * max(per_language):+.1f} points, mean "
              f"{100 * statistics.mean(per_language):+.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
