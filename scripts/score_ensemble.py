"""Score ensembles on development data from saved probabilities.

Takes the `.npz` files written by `select_recipe.py --save-probs` or `frozen_probe.py
--save-probs` and prints the task metric of each member and of their ensemble (the uniform mean
of their probabilities), per language, with the target average. Append `@LABEL` to a file to
pick one snapshot, e.g. `run.npz@epoch 2.00`. Without it, the file's last epoch is used, or
`frozen` for a frozen probe.

    python scripts/score_ensemble.py --task sentiment /tmp/s42.npz /tmp/s43.npz /tmp/frozen.npz
"""

from __future__ import annotations

import argparse


def main() -> None:
    import numpy as np

    from xlt.evaluation import dev_report
    from xlt.tasks import get_task

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="sentiment")
    parser.add_argument("--source", default="en")
    parser.add_argument("runs", nargs="+", help="FILE.npz or FILE.npz@LABEL")
    args = parser.parse_args()
    task = get_task(args.task)

    def snapshot(arg: str) -> tuple[str, dict]:
        path, _, label = arg.partition("@")
        try:
            data = np.load(path)
        except (OSError, ValueError) as exc:
            raise SystemExit(f"cannot read {path}: {exc}") from None
        labels = list(dict.fromkeys(k.rsplit("/", 1)[0] for k in data.files if not k.startswith("labels/")))
        if not labels or not any(k.startswith("labels/") for k in data.files):
            raise SystemExit(f"{path} is not a --save-probs file (no '<label>/<lang>' and 'labels/<lang>' arrays)")
        if not label:
            epochs = [x for x in labels if x.startswith("epoch")]
            label = epochs[-1] if epochs else labels[-1]
        if label not in labels:
            raise SystemExit(f"{path} has no {label!r}; it has: {', '.join(labels)}")
        langs = [k.split("/", 1)[1] for k in data.files if k.startswith("labels/")]
        return f"{path}@{label}", {lang: (data[f"{label}/{lang}"], data[f"labels/{lang}"]) for lang in langs}

    members = [snapshot(arg) for arg in args.runs]
    common = set.intersection(*(set(runs) for _, runs in members))
    for name, runs in members:
        print(f"{name}: {dev_report(task, args.source, {lang: runs[lang] for lang in sorted(common)})}")
    if len(members) > 1:
        ensemble = {lang: (np.mean([runs[lang][0] for _, runs in members], axis=0), members[0][1][lang][1])
                    for lang in sorted(common)}
        print(f"ensemble of {len(members)}: {dev_report(task, args.source, ensemble)}")


if __name__ == "__main__":
    main()
