"""Code-switching against zero-shot trained for as many steps: the switching, or the extra steps?

Under protocol cpu-v1, code-switching trains on the English rows plus one switched copy of each, so it takes
twice zero-shot's steps. `sweeps/<task>-steps-control.yaml` trains zero-shot for twice the epochs (the same step
count) and files its records in `leaderboard/diagnostics/steps-control/<task>/`. This script puts, per seed, the
protocol's zero-shot record, the control and the code-switching record side by side (target average, final
training loss, steps) and per language (means over the seeds that have all three), after checking that all
three scored the same test rows.

    python scripts/steps_control.py --json leaderboard/diagnostics/nli-steps-control-cpu-v1.json
    python scripts/steps_control.py --task sentiment --json leaderboard/diagnostics/sentiment-steps-control-cpu-v1.json

It explains committed records; its numbers are not records and choose nothing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

COLUMNS = ("zero_shot", "zero_shot_same_steps", "code_switch")


def pick(records: list[dict], task: str, method: str, seed: int, protocol: str | None, epochs: float) -> dict | None:
    """The last English-source record of `task` trained in float32 of `method`, `seed`, `protocol` (kept to, when
    registered) and `epochs`."""
    from xlt.protocols import follows
    from xlt.results.records import training_precision

    found = [r for r in records if r.get("task") == task and r.get("method") == method and r.get("seed") == seed
             and r.get("source_languages") == ["en"] and r.get("protocol") == protocol and follows(r)
             and float(r["config"]["train"].get("epochs", 0)) == epochs and training_precision(r) == "fp32"]
    return max(found, key=lambda r: r["created"]) if found else None


def compare(records: list[dict], controls: list[dict], protocol: str, task: str = "nli") -> dict:
    from xlt.errors import XltError

    seeds, per_language, sources = [], {}, set()
    epochs_of = {float(r["config"]["train"]["epochs"]) for r in controls}
    if len(epochs_of) != 1:
        raise XltError(f"the control records train for different numbers of epochs: {sorted(epochs_of)}")
    [epochs] = epochs_of
    seeds_of = sorted({r["seed"] for r in controls})
    for control in (pick(controls, task, "zero-shot", seed, None, epochs) for seed in seeds_of):  # newest fp32
        if control is None:
            continue
        zero = pick(records, task, "zero-shot", control["seed"], protocol, epochs / 2)
        switched = pick(records, task, "code-switch", control["seed"], protocol, epochs / 2)
        if zero is None or switched is None:
            continue
        trio = dict(zip(COLUMNS, (zero, control, switched)))
        langs = list(zero["metrics"])
        for lang in langs:
            digests = {(r["metrics"].get(lang, {}).get("rows"), r["metrics"].get(lang, {}).get("n"))
                       for r in trio.values()}  # NLI: a digest of the subset's rows; sentiment: full files
            if len(digests) != 1:
                raise XltError(f"seed {control['seed']}, {lang}: the three runs scored different test rows")
        seeds.append({"seed": control["seed"], **{
            name: {"run_id": r["run_id"], "target_average": r["summary"]["target_average"],
                   "train_steps": r["training"].get("train_steps"),
                   "final_train_loss": r["training"].get("final_train_loss")} for name, r in trio.items()}})
        metric = zero["summary"]["metric"]
        sources.update(zero["source_languages"])
        for lang in langs:
            per_language.setdefault(lang, []).append({name: r["metrics"][lang][metric] for name, r in trio.items()})
    if not seeds:
        raise XltError("no seed has all three records (the protocol's zero-shot and code-switch, and the control)")
    means = {lang: {name: statistics.mean(v[name] for v in values) for name in COLUMNS}
             for lang, values in per_language.items()}
    targets = [lang for lang in means if lang not in sources]
    higher = {f"{a}_over_{b}": sum(round(means[t][a] - means[t][b], 3) > 0 for t in targets)  # as printed
              for a, b in (("code_switch", "zero_shot_same_steps"), ("zero_shot_same_steps", "zero_shot"))}
    return {"seeds": seeds, "per_language": means, "targets": len(targets), "higher_on_targets": higher,
            "target_average": {name: statistics.mean(s[name]["target_average"] for s in seeds) for name in COLUMNS}}


def report(out: dict) -> str:
    lines = ["| seed | zero-shot | zero-shot, same steps | code-switch |", "|---|---|---|---|"]
    for s in out["seeds"]:
        cells = [f"{s[n]['target_average']:.3f} ({s[n]['train_steps']} steps, loss {s[n]['final_train_loss']:.2f})"
                 for n in COLUMNS]
        lines.append(f"| {s['seed']} | " + " | ".join(cells) + " |")
    lines.append("| mean | " + " | ".join(f"{out['target_average'][n]:.3f}" for n in COLUMNS) + " |")
    lines += ["", "| language | zero-shot | zero-shot, same steps | code-switch |", "|---|---|---|---|"]
    for lang, v in out["per_language"].items():
        lines.append(f"| {lang} | " + " | ".join(f"{v[n]:.3f}" for n in COLUMNS) + " |")
    higher, n = out["higher_on_targets"], out["targets"]
    lines += ["", f"code-switch higher than the control on {higher['code_switch_over_zero_shot_same_steps']} of {n} "
              f"targets; the control higher than zero-shot on {higher['zero_shot_same_steps_over_zero_shot']} of {n} "
              "(a difference that rounds to 0.000 is not higher)"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from xlt.errors import XltError
    from xlt.results.records import read_records

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="nli", choices=["nli", "sentiment"])
    parser.add_argument("--results", type=Path, default=Path("leaderboard/results"))
    parser.add_argument("--control", type=Path, default=Path("leaderboard/diagnostics/steps-control"))
    parser.add_argument("--protocol", default="cpu-v1")
    parser.add_argument("--json", type=Path, help="also write the comparison here")
    args = parser.parse_args(argv)
    missing = f"{args.control}: no {args.task} control records (run `xlt sweep sweeps/{args.task}-steps-control.yaml`)"
    try:
        if not args.control.is_dir():
            raise XltError(missing)
        records, _ = read_records(args.results)
        controls, _ = read_records(args.control)
        controls = [r for r in controls if r.get("method") == "zero-shot" and r.get("task") == args.task]
        if not controls:
            raise XltError(missing)
        out = compare(records, controls, args.protocol, args.task)
    except XltError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(report(out))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
