"""Score the source stage of a few-shot run alone: which of its two stages moved the target average.

On parallel data (XNLI) a few-shot run differs from zero-shot twice: its source model trains without
the shots' held-out pool of rows (1,990 English pairs, not 2,490), and a second stage then fits the K
shots per language. This script loads the source stage's final checkpoint of each few-shot record
(`$XLT_HOME/runs/<config fingerprint>/source`, written when the record was made; nothing is trained
unless `--train`), evaluates it on the record's own test rows (the same seeded subset: the row
digests are checked) and prints, per target language, zero-shot (the record of the same seed,
protocol and precision), the source stage alone, and the finished few-shot run.

    python scripts/few_shot_stages.py leaderboard/results/nli/few-shot__*__seed4[23]__*.json \
        --json leaderboard/diagnostics/nli-few-shot-stages-cpu-v1.json

It is a diagnosis of committed records, not a method: its scores are not records and choose nothing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def zero_shot_twin(record: dict, records: list[dict]) -> dict | None:
    """The zero-shot record with the few-shot record's sources, seed, protocol (kept to), precision and test rows."""
    from xlt.protocols import follows
    from xlt.results.records import training_precision as precision

    def eval_rows(r):
        return r["config"]["train"].get("max_eval_samples")

    for other in records:
        if (other.get("method") == "zero-shot" and other.get("task") == record["task"]
                and other.get("source_languages") == record["source_languages"] and other.get("seed") == record["seed"]
                and other.get("protocol") == record.get("protocol") and follows(other)
                and precision(other) == precision(record) and eval_rows(other) == eval_rows(record)):
            return other
    return None


def score_source_stage(record: dict, data_dir: Path, train: bool) -> dict[str, dict]:
    from xlt.config import ExperimentConfig
    from xlt.errors import XltError
    from xlt.evaluation import evaluate_languages
    from xlt.experiment import EVAL_SUBSET_SEED, validate
    from xlt.models.artifacts import inference_mode
    from xlt.run_folders import run_folder
    from xlt.training import train_classifier, training_finished

    config = ExperimentConfig.from_dict(record["config"])
    if config.method != "few-shot" or config.fingerprint() != record["config_fingerprint"]:
        raise XltError(f"{record['run_id']}: not a few-shot record, or its config does not round-trip")
    validated = validate(config, data_dir)
    folder = run_folder(config)  # or its precision twin's, where it trained
    ctx = validated.context(folder, data_dir, show_progress=False)
    method = validated.method
    if validated.task.parallel:
        stage_dir = folder / "source"
    else:  # on other tasks the source stage is the zero-shot run of the same settings (its own record)
        from xlt.methods.base import zero_shot_run_folder

        stage_dir = zero_shot_run_folder(ctx)
    if not train and not training_finished(stage_dir / "checkpoints"):
        raise XltError(f"{record['run_id']}: no finished source stage in {stage_dir} (run the record's command, "
                       "or pass --train to train it here)")
    source = train_classifier(validated.task, validated.model_spec, method._source_data(ctx), ctx.train, stage_dir,
                              languages=list(config.source_languages))
    with inference_mode(source):
        metrics = evaluate_languages(source, validated.task, list(record["metrics"]), split=config.eval_split,
                                     data_dir=data_dir, max_samples=config.train.max_eval_samples,
                                     seed=EVAL_SUBSET_SEED, batch_size=config.train.eval_batch_size,
                                     show_progress=False)
    for lang, scores in metrics.items():
        if scores.get("rows") != record["metrics"][lang].get("rows"):
            raise XltError(f"{lang}: the test rows differ from the record's; the scores would not compare")
    return metrics


def main(argv: list[str] | None = None) -> int:
    from xlt.errors import XltError
    from xlt.results.records import read_record, read_records
    from xlt.settings import data_dir as default_data_dir

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("records", nargs="+", type=Path, help="few-shot record files")
    parser.add_argument("--results-dir", type=Path, default=Path("leaderboard/results"),
                        help="where the zero-shot records of the same seeds are")
    parser.add_argument("--train", action="store_true", help="train a source stage that is not on disk")
    parser.add_argument("--json", type=Path, help="also write the scores here")
    args = parser.parse_args(argv)
    data_dir = default_data_dir()
    records, _ = read_records(args.results_dir)
    out = []
    try:
        for path in args.records:
            try:
                record = read_record(path)
            except (OSError, XltError) as exc:
                raise XltError(f"{path}: cannot read a run record ({exc})") from None
            twin = zero_shot_twin(record, records)
            if twin is None:
                raise XltError(f"{path}: no zero-shot record of the same seed, protocol and precision")
            metric = record["summary"]["metric"]
            stage = score_source_stage(record, data_dir, args.train)
            targets = record["summary"]["target_languages"]
            rows = [(lang, twin["metrics"][lang][metric], stage[lang][metric], record["metrics"][lang][metric])
                    for lang in record["metrics"]]
            out.append({"few_shot_run": record["run_id"], "zero_shot_run": twin["run_id"], "seed": record["seed"],
                        "options": record["config"].get("method_options"),
                        "source_stage_examples": record["training"]["source_stage"].get("train_examples"),
                        "zero_shot_examples": twin["training"].get("train_examples"), "metric": metric,
                        "per_language": {lang: {"zero_shot": z, "source_stage": s, "few_shot": f}
                                         for lang, z, s, f in rows},
                        "target_average": {k: statistics.mean(v for lang, *vals in rows if lang in targets
                                                              for v in [vals[i]])
                                           for i, k in enumerate(("zero_shot", "source_stage", "few_shot"))}})
            print(f"\n{record['run_id']} (seed {record['seed']}, {metric}); zero-shot {twin['run_id']}")
            print("| language | zero-shot | source stage alone | few-shot |\n|---|---|---|---|")
            for lang, z, s, f in rows:
                print(f"| {lang}{'' if lang in targets else ' (source)'} | {z:.3f} | {s:.3f} | {f:.3f} |")
            avg = out[-1]["target_average"]
            print(f"| target average | {avg['zero_shot']:.3f} | {avg['source_stage']:.3f} | {avg['few_shot']:.3f} |")
    except XltError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
