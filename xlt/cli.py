"""`xlt` command line: train, evaluate, predict, and list tasks, models and methods."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import fields

from .config import TrainConfig, field_default
from .errors import XltError

_TYPES = {"float": float, "int": int, "str": str, "int | None": int, "float | None": float}


def _add_train_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("training settings")
    for f in fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        default = field_default(f)
        help_text = f.metadata.get("help", "")
        if f.type in ("bool", bool):
            group.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=default,
                               help=help_text)
        else:
            group.add_argument(flag, dest=f.name, type=_TYPES.get(str(f.type), str), default=default,
                               help=f"{help_text} (default: {default})")
    group.add_argument("--lr", dest="learning_rate", type=float, help="Alias of --learning-rate.")


def _split_langs(value: str | None) -> list[str] | None:
    if value is None:
        return None
    langs = [v.strip() for v in value.split(",") if v.strip()]
    return langs or None


def _options(pairs: list[str]) -> dict:
    options = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise XltError(f"--option takes key=value, got {pair!r}")
        key, value = pair.split("=", 1)
        try:
            options[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            options[key.strip()] = value
    return options


def cmd_train(args) -> int:
    from .experiment import ExperimentConfig, run_experiment
    from .results.records import find_records

    train = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})
    config = ExperimentConfig(
        task=args.task, method=args.method, model=args.model, source_languages=_split_langs(args.source) or [],
        target_languages=_split_langs(args.targets), train_split=args.train_split, eval_split=args.eval_split,
        method_options=_options(args.option), train=train,
    )
    if args.skip_existing and args.results_dir:
        done = find_records(args.results_dir, config.fingerprint())
        if done:
            print(f"already done: {done[0]['run_id']} (use --no-skip-existing to run again)")
            return 0
    print(f"running: {config.to_command()}", file=sys.stderr)
    record = run_experiment(config, results_dir=args.results_dir, save_model_to=args.save_model,
                            output_dir=args.output_dir)
    _print_metrics(record["metrics"], record["summary"])
    for warning in record.get("training", {}).get("warnings", []):
        print(f"warning: {warning}", file=sys.stderr)
    if "path" in record:
        print(f"record: {record['path']}")
    if args.save_model:
        print(f"model: {args.save_model}")
    return 0


def _print_metrics(metrics: dict, summary: dict | None = None) -> None:
    print(f"{'lang':<6}{'accuracy':>10}{'macro_f1':>10}{'n':>7}  ci95")
    for lang, m in metrics.items():
        ci = m.get("ci95") or [float("nan")] * 2
        print(f"{lang:<6}{m['accuracy']:>10.4f}{m['macro_f1']:>10.4f}{m['n']:>7}  [{ci[0]:.4f}, {ci[1]:.4f}]")
    if summary and summary.get("target_average") is not None:
        gap = summary.get("transfer_gap")
        gap_text = f", transfer gap {gap:.4f}" if gap is not None else ""
        print(f"target average ({summary['metric']}, {len(summary['target_languages'])} languages): "
              f"{summary['target_average']:.4f}{gap_text}")


def cmd_evaluate(args) -> int:
    from .evaluation import evaluate_languages, summarise
    from .predict import load_predictor
    from .tasks import get_task

    predictor = load_predictor(args.model_dir)
    task = get_task(args.task or predictor.info.task)

    metrics = evaluate_languages(predictor, task, _split_langs(args.languages), split=args.split,
                                 max_samples=args.max_samples, seed=args.seed, batch_size=args.batch_size)
    summary = summarise(metrics, task.metric, predictor.info.languages_trained)
    if args.json:
        print(json.dumps({"metrics": metrics, "summary": summary}, indent=2))
    else:
        _print_metrics(metrics, summary)
    return 0


def cmd_predict(args) -> int:
    from .predict import check_text, load_predictor

    # refuse bad input before paying for a model load
    for text in args.text:
        check_text(text)
    if args.task == "zero-shot":
        labels = [label for label in (args.labels or "").split(",") if label.strip()]
        if not args.text:
            raise XltError("give the text to classify")
        if not labels:
            raise XltError("give at least one candidate label (--labels a,b,c)")
        predictor = load_predictor(args.model_dir or "nli")
        results = [predictor.zero_shot(t, labels, template=args.template, multi_label=args.multi_label)
                   for t in args.text]
        for text, result in zip(args.text, results):
            if not args.json:
                ranked = ", ".join(f"{label} {score:.3f}" for label, score in zip(result["labels"], result["scores"]))
                print(f"{result['labels'][0]}\t[{ranked}]\tlang={result['language']}\t{text[:60]}")
                _notices(result["notices"])
    elif args.task == "nli":
        if args.premise is None or args.hypothesis is None:
            raise XltError("NLI needs --premise and --hypothesis")
        check_text(args.premise, "premise")
        check_text(args.hypothesis, "hypothesis")
        predictor = load_predictor(args.model_dir or "nli")
        results = [p.to_dict() for p in predictor.predict_pairs([args.premise], [args.hypothesis])]
        if not args.json:
            _print_predictions(results, [args.premise])
    else:
        if not args.text:
            raise XltError("give at least one text to classify")
        predictor = load_predictor(args.model_dir or args.task)
        results = [p.to_dict() for p in predictor.predict(args.text)]
        if not args.json:
            _print_predictions(results, args.text)
    if args.json:
        print(json.dumps(results, indent=2, ensure_ascii=False))
    return 0


def _print_predictions(results: list[dict], texts: list[str]) -> None:
    for result, text in zip(results, texts):
        probs = ", ".join(f"{k} {v:.3f}" for k, v in result["probabilities"].items())
        print(f"{result['label']}\t[{probs}]\tlang={result['language']}\t{text[:60]}")
        _notices(result["notices"])


def _notices(notices: list[str]) -> None:
    for notice in notices:
        print(f"  note: {notice}")


def cmd_list(args) -> int:
    if args.command == "tasks":
        from .tasks import TASKS

        for name, spec in TASKS.items():
            print(f"{name:<12}{spec.metric:<10}{','.join(spec.languages)}\n{'':<12}{spec.description}")
    elif args.command == "models":
        from .models.registry import DEFAULT_MODEL, MODELS

        for name, spec in MODELS.items():
            mark = "*" if name == DEFAULT_MODEL else " "
            print(f"{mark} {name:<28}{spec.hub_id:<34}{spec.description}")
        print("* default (works offline). Any Hub id or local checkpoint path is accepted too.")
    else:
        from .methods import METHODS

        for name, spec in METHODS.items():
            print(f"{name:<16}{spec.description}")
    return 0


def cmd_prepare(args) -> int:
    from .models.loading import checkpoint_location
    from .models.registry import resolve_model

    print(checkpoint_location(resolve_model(args.model)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .models.registry import DEFAULT_MODEL

    parser = argparse.ArgumentParser(prog="xlt", description="Cross-lingual transfer learning workbench.")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="fine-tune with a transfer method and evaluate every target language")
    train.add_argument("--task", required=True, help="task name (see `xlt tasks`)")
    train.add_argument("--method", default="zero-shot", help="transfer method (see `xlt methods`)")
    train.add_argument("--model", default=DEFAULT_MODEL, help="model name (see `xlt models`), Hub id or path")
    train.add_argument("--source", default="en", help="source language(s), comma-separated")
    train.add_argument("--targets", help="target languages, comma-separated (default: all of the task)")
    train.add_argument("--train-split", help="training split, or splits joined by + (default: the task's)")
    train.add_argument("--eval-split", help="evaluation split (default: the task's)")
    train.add_argument("--option", action="append", default=[], help="method option key=value (repeatable)")
    train.add_argument("--results-dir", default="leaderboard/results", help="where the result record goes")
    train.add_argument("--save-model", help="folder to save the trained classifier (adapter/encoder + head)")
    train.add_argument("--output-dir", help="checkpoints folder (default: $XLT_HOME/runs/<config hash>)")
    train.add_argument("--skip-existing", action=argparse.BooleanOptionalAction, default=False,
                       help="do nothing when a record of the same settings exists")
    _add_train_flags(train)
    train.set_defaults(func=cmd_train)

    ev = sub.add_parser("evaluate", help="evaluate a saved classifier per language")
    ev.add_argument("--model-dir", required=True, help="classifier folder, or a shipped task name (sentiment, nli)")
    ev.add_argument("--task", help="task (default: the classifier's)")
    ev.add_argument("--languages", help="comma-separated (default: all of the task)")
    ev.add_argument("--split", help="split (default: the task's evaluation split)")
    ev.add_argument("--max-samples", type=int, help="at most this many examples per language")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--batch-size", type=int, default=64)
    ev.add_argument("--json", action="store_true")
    ev.set_defaults(func=cmd_evaluate)

    pr = sub.add_parser("predict", help="predict with the shipped models or a saved classifier")
    pr.add_argument("--task", default="sentiment", choices=["sentiment", "nli", "zero-shot"])
    pr.add_argument("text", nargs="*", help="text(s) to classify (sentiment, zero-shot)")
    pr.add_argument("--premise")
    pr.add_argument("--hypothesis")
    pr.add_argument("--labels", help="zero-shot candidate labels, comma-separated")
    pr.add_argument("--template", default="This example is {}.", help="zero-shot hypothesis template")
    pr.add_argument("--multi-label", action="store_true")
    pr.add_argument("--model-dir", help="a saved classifier folder instead of the shipped one")
    pr.add_argument("--json", action="store_true")
    pr.set_defaults(func=cmd_predict)

    for name, text in (("tasks", "list tasks"), ("models", "list models"), ("methods", "list transfer methods")):
        sub.add_parser(name, help=text).set_defaults(func=cmd_list)
    prep = sub.add_parser("prepare", help="build the offline default encoder now (it is built on first use)")
    prep.add_argument("--model", default=DEFAULT_MODEL)
    prep.set_defaults(func=cmd_prepare)
    return parser


def main(argv: list[str] | None = None) -> int:
    import warnings

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # library deprecation chatter is for developers, not for users of the command line
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except XltError as exc:
        print(f"xlt: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("xlt: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
