"""The README's source-ranker table, from the committed transfer-matrix records: leave-one-target-language-out
NDCG@3, regret and top-1 hits of the learned ranker against "always English", "typologically nearest" and a
random order (its exact expectation), then target-by-target counts against the first two.

What it found (records, cells, source languages) goes to stderr; the markdown table to stdout. A task whose
matrix has fewer than --min-sources source languages gets no table (a ranker learned from fewer says nothing);
the exit status is 1 when no task had enough.

    python scripts/ranker_table.py > /tmp/ranker.md          # nli and sentiment
    python scripts/ranker_table.py --task nli --per-target
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    from xlt.errors import XltError
    from xlt.leaderboard.matrix import cells_frame, transfer_matrix
    from xlt.ranking.evaluation import (
        BASELINES,
        MIN_SOURCES,
        SELECTED,
        leave_one_target_out,
        noise_against_gaps,
        paired,
        summary,
    )
    from xlt.ranking.features import cached_pair_features
    from xlt.ranking.ranker import training_cells
    from xlt.ranking.report import loo_markdown
    from xlt.results.records import read_records
    from xlt.tasks import get_task

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", action="append", help="task (repeatable; default: nli and sentiment)")
    parser.add_argument("--results", default="leaderboard/results", help="records folder")
    parser.add_argument("--metric", choices=["accuracy", "macro_f1"], help="default: each task's")
    parser.add_argument("--min-sources", type=int, default=MIN_SOURCES, help="refuse a matrix with fewer sources")
    parser.add_argument("--per-target", action="store_true", help="also each held-out target's numbers")
    parser.add_argument("--seeds", type=_seed_list,
                        help="only these seeds, comma-separated (e.g. 42: every cell the same seeds)")
    args = parser.parse_args()
    records, errors = read_records(args.results)
    for error in errors:
        print(f"skipped: {error}", file=sys.stderr)
    cells = cells_frame(records)
    if args.seeds:
        cells = cells[cells["seed"].isin(args.seeds)]
    tables = []
    for task in args.task or ["nli", "sentiment"]:
        try:
            matrix = transfer_matrix(cells, task, args.metric)
        except XltError as exc:
            only = f" (keeping seeds {','.join(map(str, args.seeds))} only)" if args.seeds else ""
            print(f"{task}: {exc}{only}; no table", file=sys.stderr)
            continue
        train = training_cells(matrix)
        print(f"{task}: {matrix.runs} runs → {len(matrix.long())} measured cells ({len(train)} off the diagonal) "
              f"from {len(matrix.sources)} source language(s) ({', '.join(matrix.sources)}) × {len(matrix.targets)} "
              f"targets; {matrix.setting_label}; metric {matrix.metric}", file=sys.stderr)
        means = {s: matrix.mean.loc[s].drop(s, errors="ignore").mean() for s in matrix.sources}
        print(f"{task}: mean off-diagonal {matrix.metric} per source: "
              + ", ".join(f"{s} {v:.3f}" for s, v in sorted(means.items(), key=lambda kv: -kv[1])), file=sys.stderr)
        print(f"{task}: {noise_text(noise_against_gaps(matrix, train))}", file=sys.stderr)
        if len(matrix.sources) < args.min_sources:
            print(f"{task}: refusing to build a leave-one-out table from {len(matrix.sources)} source language(s); "
                  f"it needs at least {args.min_sources} (run the {task} transfer-matrix grid in sweeps/)",
                  file=sys.stderr)
            continue
        features = cached_pair_features(get_task(task), [*matrix.sources, *matrix.targets], matrix.model)
        for note in features.notes:
            print(f"{task}: note: {note}", file=sys.stderr)
        results = leave_one_target_out(train, features.frame)
        tables.append((task, summary(results), results))
    if not tables:
        print("no task has a matrix with enough source languages: no table", file=sys.stderr)
        return 1
    print("| task | ranker | NDCG@3 | regret | top-1 hits | held-out targets |\n|---|---|---|---|---|---|")
    for task, table, _ in tables:
        print("\n".join(loo_markdown(task, table).splitlines()[2:]))
    print("\nMean ± std over held-out target languages. For each target the rankers learn from the cells that "
          "measure neither it as a target nor it as a source. NDCG@3: gains are the measured score minus the worst "
          "candidate's; regret: the best source's measured score minus the top-ranked one's. \"always English\": "
          "English first, then the typologically nearest (for English as the target, the nearest order itself); "
          "\"typologically nearest\": mean URIEL syntax, phonology and inventory distance (lang2vec). \"learned "
          "(kind chosen per fold)\" picks gradient boosting or the linear model by leave-one-out inside each fold, "
          "as `xlt rank` does; \"random order (expected)\": the exact expectation over all orders. A top-1 hit: the "
          "top-ranked source scores as well as the best.")
    print("\nTarget by target, the learned ranker (kind chosen per fold) against each baseline: on how many held-out "
          "targets it is better / worse / level, and the two-sided sign test's p (level targets left out; the folds "
          "share training cells, so the targets are not independent tests and p is a guide). Not against the random "
          "order: its expectation is no ranker a sign test can be fair to.\n")
    print("| task | against | NDCG@3 better / worse / level | p | regret better / worse / level | p |\n"
          "|---|---|---|---|---|---|")
    for task, _, results in tables:
        for baseline in BASELINES if SELECTED in set(results["ranker"]) else ():
            both = paired(results, SELECTED, baseline)
            counts = [both[m] for m in ("ndcg@3", "regret")]
            print(f"| {task} | {baseline} | "
                  + " | ".join(f"{c['better']} / {c['worse']} / {c['level']} | {c['p']:.3f}" for c in counts) + " |")
    if args.per_target:
        for task, _, results in tables:
            print(f"\n{task}, per held-out target:\n")
            print(results.round(4).to_markdown(index=False) if _has_tabulate() else results.round(4).to_string())
    return 0


def _seed_list(text: str) -> set[int]:
    try:
        return {int(seed) for seed in text.split(",")}
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds are whole numbers joined with commas, got {text!r}") from None


def noise_text(noise: dict) -> str:
    if noise["seed_std"] is None:
        spread = "no cell has 2+ seeds of one precision: seed noise unmeasured"
    else:
        spread = (f"median seed std of the {noise['noise_cells']} cells with 2+ seeds of one precision "
                  f"{noise['seed_std']:.4f}, so two cell means differ by chance by about "
                  f"{noise['difference_noise']:.4f}")
    mixed = f"; {noise['mixed_precision_cells']} cells mix precisions" if noise["mixed_precision_cells"] else ""
    gap = f"{noise['gap']:.4f}" if noise["gap"] is not None else "-"
    return (f"seeds per off-diagonal cell {', '.join(map(str, noise['seeds_per_cell']))}; {spread}{mixed}; median gap "
            f"between a target's best and second-best source {gap}")


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())
