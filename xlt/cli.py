"""`xlt` command line: train, evaluate, predict, and list tasks, models and methods."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import fields
from pathlib import Path

from .config import TRAINED_PRECISIONS, TrainConfig, convert_value, field_default, field_kind, parse_option_text
from .errors import XltError


def _add_dataclass_flags(group, cls, prefix: str = "") -> None:
    """One flag per field of a config dataclass; the field's metadata carries the help text."""
    for f in fields(cls):
        flag = "--" + prefix + f.name.replace("_", "-")
        default = field_default(f)
        help_text = f.metadata.get("help", "")
        kind = field_kind(f)
        if kind.base == "bool" and not kind.optional:
            group.add_argument(flag, dest=prefix.replace("-", "_") + f.name, action=argparse.BooleanOptionalAction,
                               default=default, help=help_text)
        else:
            group.add_argument(flag, dest=prefix.replace("-", "_") + f.name, default=default,
                               type=lambda text, k=kind, n=f.name: _flag_value(k, text, n),
                               help=f"{help_text} (default: {default})")


def _flag_value(kind, text: str, name: str):
    try:
        return convert_value(kind, text, name)
    except XltError as exc:  # argparse reports it as a usage error (exit 2), not a traceback
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_train_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("training settings")
    _add_dataclass_flags(group, TrainConfig)
    group.add_argument("--lr", dest="learning_rate", type=float, help="Alias of --learning-rate.")


def _add_method_flags(parser: argparse.ArgumentParser, argv: list[str]) -> None:
    """The options of the method named by `--method` become flags (`xlt train --method X --help` lists them)."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--method", default="zero-shot")
    known, _ = pre.parse_known_args(argv)
    from .methods import get_method

    try:
        method = get_method(known.method)
    except XltError:
        return  # reported when the experiment is validated
    if fields(method.options_cls):
        group = parser.add_argument_group(f"options of method {method.name} (or --option key=value)")
        _add_dataclass_flags(group, method.options_cls, prefix="opt-")


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
        options[key.strip()] = parse_option_text(value)
    return options


def config_from_args(args):
    """The experiment an `xlt train` command line describes (not yet validated against the registries)."""
    from .config import ExperimentConfig
    from .methods import get_method

    train = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})
    options = _options(args.option)
    try:
        method = get_method(args.method)
    except XltError:
        method = None
    if method is not None:
        for f in fields(method.options_cls):
            value = getattr(args, "opt_" + f.name, field_default(f))
            if value != field_default(f):
                options[f.name] = value
    return ExperimentConfig(
        task=args.task, method=args.method, model=args.model, source_languages=_split_langs(args.source) or [],
        target_languages=_split_langs(args.targets), train_split=args.train_split, eval_split=args.eval_split,
        method_options=options, train=train,
    )


def config_from_command(command: str):
    """Parse a record's `command` (`xlt train ...`) back into its experiment config, validated."""
    import shlex

    from .experiment import validate

    argv = shlex.split(command)
    if argv[:2] != ["xlt", "train"]:
        raise XltError("not an `xlt train` command")
    parser = build_parser()
    _add_method_flags(parser._subparsers._group_actions[0].choices["train"], argv[1:])
    config = config_from_args(parser.parse_args(argv[1:]))
    validate(config)
    return config


def accelerate_command(num_gpus: int, argv: list[str]) -> list[str]:
    """`accelerate launch` of this same `xlt train` on `num_gpus` GPUs (DDP through the Trainer)."""
    return [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(num_gpus),
            "--module", "xlt.cli", *argv]


def _check_gpus(num_gpus: int) -> None:
    from .jobs import gpu_count

    have = gpu_count()
    if num_gpus > have:
        raise XltError(f"--num-gpus {num_gpus} asks for {num_gpus} GPUs; this machine has {have}. Use --num-gpus 1 "
                       "(or leave it out), or a machine with more GPUs.")


def cmd_train(args) -> int:
    from .experiment import run_and_file, validate
    from .protocols import check_run, keeps
    from .results.records import check_protocol, find_records
    from .results.store import ResultsStore

    config = config_from_args(args)
    validate(config)
    check_protocol(args.protocol, "--protocol")  # refused before the run is announced
    check_run(args.protocol, config, args.num_gpus, "--protocol")
    if args.num_gpus < 1:
        raise XltError(f"--num-gpus must be >= 1, got {args.num_gpus}")
    if args.num_gpus > 1 and "LOCAL_RANK" not in os.environ:
        _check_gpus(args.num_gpus)  # refused before anything starts, with the reason
        import subprocess

        return subprocess.call(accelerate_command(args.num_gpus, sys.argv[1:] if args.argv is None else args.argv))
    store = None if args.results_dir else ResultsStore()
    where = args.results_dir or store.local_dir
    if args.skip_existing:
        done = [r for r in find_records(where, config.fingerprint()) if keeps(r, args.protocol)]  # as a grid's cell
        if done:
            print(f"already done: {done[0]['run_id']} (use --no-skip-existing to run again)")
            return 0
    print(f"running: {config.to_command()}", file=sys.stderr)
    record = run_and_file(config, store=store, results_dir=args.results_dir, save_model_to=args.save_model,
                          output_dir=args.output_dir, protocol=args.protocol, premise_control=args.premise_control)
    _print_metrics(record["metrics"], record["summary"])
    for warning in record.get("training", {}).get("warnings", []):
        print(f"warning: {warning}", file=sys.stderr)
    if "path" in record:
        print(f"record: {record['path']}")
    if args.save_model:
        print(f"model: {args.save_model}")
    return 0


def cmd_sweep(args) -> int:
    from .settings import home_dir
    from .sweep import check_sweep_precision, describe, parse_only, parse_shard, prepare, run_sweep, start_in_background

    shard = parse_shard(args.shard)
    only = parse_only(args.only)
    if shard and args.backend == "hf-jobs":
        raise XltError("--shard splits a grid between local processes; hf-jobs already runs each cell as its own Job")
    sweep = prepare(args.grid, shard, only, hub_data=args.backend == "hf-jobs",  # Jobs read the Hub's data
                    precision=args.precision)
    print(describe(sweep), flush=True)
    if args.dry_run:
        return 0
    if args.backend == "hf-jobs":
        return _sweep_on_hf_jobs(sweep, args)
    if args.background:
        check_sweep_precision(sweep)  # refused here, not in a log the caller may never read
        log_file = home_dir() / "sweeps" / f"{sweep.name}.log"
        pid = start_in_background(args.grid, log_file, shard, args.only, args.precision)
        print(f"running in the background (pid {pid}); progress: tail -f {log_file}")
        return 0
    records = run_sweep(sweep, show_progress=args.progress, log=lambda line: print(line, flush=True))
    print(f"sweep {sweep.name}: {len(records)} new record(s); {len(sweep.skipped)} of {len(sweep.cells)} cells done")
    return 0 if len(sweep.skipped) == len(sweep.cells) else 1


def _sweep_on_hf_jobs(sweep, args) -> int:
    """Submit the cells not done as Hugging Face Jobs, report their stages, pull the records they filed. A cell
    is done when its record was pulled: a Job that completed without filing one has its cell submitted again."""
    from .hf_jobs import FAILED, JobsQueue, JobsSettings
    from .results.store import ResultsStore
    from .sweep import check_sweep_precision, done_index

    # `auto` on a Job's GPU flavor is half precision (bf16, or fp16 on a T4)
    check_sweep_precision(sweep, "fp32" if args.flavor.startswith("cpu") else "bf16/fp16")
    store = ResultsStore()
    if not store.repo:
        raise XltError("set XLT_RESULTS_REPO (a Hub dataset repo): Jobs file their records there")
    queue = JobsQueue(sweep.name)
    settings = JobsSettings(flavor=args.flavor, timeout=args.timeout)
    print(queue.submit(sweep.cells, sweep.protocol, store.repo, settings, done=set(sweep.skipped),
                       premise_control=sweep.premise_control), flush=True)
    # cells running on the Hub are the normal state; cells the Hub would not take (unreachable) are a failure
    unsubmitted = [c for c in sweep.cells if c.fingerprint() not in sweep.skipped
                   and queue.state.get(c.fingerprint(), {}).get("state") == "queued"]
    for fingerprint, stage in queue.follow().items():
        print(f"  {fingerprint}: {stage}" + ("; submitted again on the next run" if stage in FAILED else ""))
        for line in queue.state[fingerprint].get("log_tail", []):
            print(f"      | {line}")
    print(store.sync())
    if not store.pull_failing():  # else the copy may lack records the repo has: nothing is judged lost
        sweep.skipped = done_index(sweep)
        for fingerprint in queue.confirm(set(sweep.skipped)):
            print(f"  {fingerprint}: the Job completed but its record is not in {store.repo}; submitted again on "
                  "the next run")
    print(f"sweep {sweep.name}: {len(sweep.skipped)} of {len(sweep.cells)} cells done (records in the results repo)")
    return 1 if unsubmitted else 0


def _print_metrics(metrics: dict, summary: dict | None = None) -> None:
    print(f"{'lang':<6}{'accuracy':>10}{'macro_f1':>10}{'n':>7}  ci95")
    for lang, m in metrics.items():
        ci = m.get("ci95") or [float("nan")] * 2
        control = m.get("premise_shuffled_accuracy")
        print(f"{lang:<6}{m['accuracy']:>10.4f}{m['macro_f1']:>10.4f}{m['n']:>7}  [{ci[0]:.4f}, {ci[1]:.4f}]"
              + (f"  premise-shuffled {control:.4f}" if control is not None else ""))
    if summary and summary.get("target_average") is not None:
        gap = summary.get("transfer_gap")
        gap_text = f", transfer gap {gap:.4f}" if gap is not None else ""
        print(f"target average ({summary['metric']}, {len(summary['target_languages'])} languages): "
              f"{summary['target_average']:.4f}{gap_text}")
    elif summary and summary.get("source_score") is not None:
        # every evaluated language was a training language (e.g. multi-source on all of them): no transfer
        # to report, but the in-language average is still what a user asks for
        print(f"no target language: the model trained on all {len(metrics)} evaluated languages; their average "
              f"({summary['metric']}): {summary['source_score']:.4f}")


def cmd_evaluate(args) -> int:
    """Per-language scores of a saved model (xlt's, or a published sequence classifier). A published
    classifier's evaluation is filed as a normal record (method `pretrained`), like an evaluation request."""
    from .evaluation import evaluate_languages, summarise
    from .predict import load_predictor
    from .tasks import get_task, task_for_model

    if args.batch_size < 1 or args.batch_size > 4096:
        raise XltError(f"--batch-size must be in [1, 4096], got {args.batch_size}")
    if args.max_samples is not None and args.max_samples < 1:
        raise XltError(f"--max-samples must be >= 1 (or left out for the whole file), got {args.max_samples}")
    languages = _split_langs(args.languages)
    predictor = load_predictor(args.model_dir, int8=args.int8)
    model_task = task_for_model(predictor.info)
    task = get_task(args.task) if args.task else model_task
    if task.name != model_task.name and list(task.label_names) != list(model_task.label_names):
        raise XltError(f"the model was trained for task {model_task.name!r} ({', '.join(model_task.label_names)}); "
                       f"it cannot be evaluated on {task.name!r} ({', '.join(task.label_names)})")
    if predictor.info.kind == "hub-classifier":
        if args.int8:
            raise XltError("--int8 scores an xlt classifier's int8 form; a published classifier is evaluated as "
                           "published (leave out --int8)")
        return _evaluate_as_record(args, task, languages)
    if args.trained_languages:
        raise XltError("--trained-languages is for published classifiers; an xlt classifier knows its own "
                       f"({', '.join(predictor.info.languages_trained) or 'none recorded'})")
    metrics = evaluate_languages(predictor, task, languages, split=args.split,
                                 max_samples=args.max_samples, seed=args.seed, batch_size=args.batch_size,
                                 premise_control=args.premise_control)
    summary = summarise(metrics, task.metric, predictor.info.languages_trained)
    outside = [lang for lang in metrics if lang not in task.languages]
    if args.json:
        print(json.dumps({"metrics": metrics, "summary": summary, "outside_task_languages": outside}, indent=2))
    else:
        _print_metrics(metrics, summary)
        if outside:
            print(f"note: {', '.join(outside)} is outside task {task.name!r}'s declared languages "
                  "(evaluated because its data file exists)")
    return 0


def _evaluate_as_record(args, task, languages) -> int:
    from .config import ExperimentConfig
    from .experiment import run_and_file
    from .ranking.features import check_language
    from .results.store import ResultsStore

    trained = [check_language(code, task) for code in _split_langs(args.trained_languages) or []]
    config = ExperimentConfig(task=task.name, method="pretrained", model=args.model_dir, target_languages=languages,
                              eval_split=args.split,
                              method_options={"trained_languages": trained} if trained else {},
                              train=TrainConfig(max_eval_samples=args.max_samples, eval_batch_size=args.batch_size))
    store = None if args.results_dir else ResultsStore()
    record = run_and_file(config, store=store, results_dir=args.results_dir, premise_control=args.premise_control)
    if args.json:
        print(json.dumps({"metrics": record["metrics"], "summary": record["summary"]}, indent=2))
    else:
        _print_metrics(record["metrics"], record["summary"])
    print(f"record: {record['path']}")
    return 0


def cmd_predict(args) -> int:
    """Predict with a shipped predictor, a trained folder (any task: single text or pair, from its spec),
    or a published sequence classifier; `--task zero-shot` scores any labels through NLI."""
    from .predict import check_text, check_zero_shot, load_predictor
    from .tasks import get_task

    # refuse bad input before paying for a model load
    if args.model_dir is not None and not args.model_dir.strip():
        raise XltError("--model-dir is empty: give a model folder, a shipped task name or a Hub id")
    for text in args.text:
        check_text(text)
    lines = _read_inputs(args.file)
    texts = list(args.text) + [text for _, text in lines]
    task = args.task or (None if args.model_dir else "sentiment")
    if task == "zero-shot":
        if args.premise is not None or args.hypothesis is not None:
            raise XltError("zero-shot classification takes texts and --labels, not --premise/--hypothesis")
        if not texts:
            raise XltError("give the text to classify")
        for n, text in lines:
            _checked(text, "text", n)
        if not (args.labels or "").replace(",", "").strip():
            raise XltError("give at least one candidate label (--labels a,b,c)")
        labels = args.labels.split(",")
        check_zero_shot(labels, args.template)
        predictor = load_predictor(args.model_dir or "nli")
        results = [predictor.zero_shot(t, labels, template=args.template, multi_label=args.multi_label)
                   for t in texts]
        for text, result in zip(texts, results):
            if not args.json:
                ranked = ", ".join(f"{label} {score:.3f}" for label, score in zip(result["labels"], result["scores"]))
                print(f"{result['labels'][0]}\t[{ranked}]\tlang={result['language']}\t{text[:60]}")
                _notices(result["notices"])
    else:
        inputs = None
        if task and not args.model_dir:  # a shipped predictor's task: its inputs are known before loading it
            spec = get_task(task)
            inputs = _predict_inputs(args, lines, task, spec.is_pair, spec.text_fields)
        predictor = load_predictor(args.model_dir or task)
        if task and predictor.info.task != task:
            raise XltError(f"the model answers task {predictor.info.task!r}, not {task!r}")
        firsts, seconds = inputs or _predict_inputs(args, lines, predictor.info.task, predictor.is_pair,
                                                    predictor.info.text_fields)
        if seconds is not None:
            results = [p.to_dict() for p in predictor.predict_pairs(firsts, seconds)]
        else:
            results = [p.to_dict() for p in predictor.predict(firsts)]
        if not args.json:
            _print_predictions(results, firsts)
    if args.json:
        print(json.dumps(results, indent=2, ensure_ascii=False))
    return 0


MAX_INPUT_LINES = 10_000
MAX_INPUT_BYTES = 64 * 2**20


def _read_inputs(path: str | None) -> list[tuple[int, str]]:
    """(line number, text) of each non-blank line of `--file` (`-`: standard input). Lines end at a newline only
    (a carriage return before it is dropped): form feeds or Unicode line separators inside a text keep it whole."""
    if path is None:
        return []
    try:
        if path == "-":
            stream = getattr(sys.stdin, "buffer", None)
            if stream is None:
                raise XltError("--file -: standard input is not a byte stream here; give a file path")
            data = stream.read(MAX_INPUT_BYTES + 1)
        else:
            if Path(path).is_dir():
                raise XltError(f"--file {path} is a folder: give a text file, one input per line")
            with open(path, "rb") as handle:
                data = handle.read(MAX_INPUT_BYTES + 1)
    except OSError as exc:
        raise XltError(f"cannot read --file {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_INPUT_BYTES:
        raise XltError(f"--file {path} is over {MAX_INPUT_BYTES // 2**20} MiB; split it")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise XltError(f"--file {path} is not UTF-8 text; re-save it as UTF-8") from None
    lines = [(n, line.removesuffix("\r")) for n, line in enumerate(text.split("\n"), 1) if line.strip()]
    if not lines:
        raise XltError(f"--file {path} holds no text (one input per line)")
    if len(lines) > MAX_INPUT_LINES:
        raise XltError(f"--file {path} has {len(lines):,} inputs; the limit is {MAX_INPUT_LINES:,} per call")
    return lines


def _checked(text: str, what: str, line: int | None = None) -> str:
    """`check_text`, its message naming the `--file` line the text came from."""
    from .predict import check_text

    try:
        return check_text(text, what)
    except XltError as exc:
        raise XltError(f"--file line {line}: {exc}" if line is not None else str(exc)) from None


def _predict_inputs(args, lines: list[tuple[int, str]], task: str, is_pair: bool,
                    text_fields) -> tuple[list[str], list[str] | None]:
    """The inputs to predict, checked: the texts (arguments, then `--file` lines) for a one-text task;
    (first, second) lists for a pair task, from tab-separated `--file` lines and --premise/--hypothesis."""
    if not is_pair:
        if args.premise is not None or args.hypothesis is not None:
            raise XltError(f"task {task!r} classifies single texts: give them as arguments, not --premise/"
                           "--hypothesis")
        texts = [_checked(t, "text") for t in args.text] + [_checked(t, "text", n) for n, t in lines]
        if not texts:
            raise XltError("give at least one text to classify")
        return texts, None
    first_name, second_name = text_fields
    pairs = []
    for n, line in lines:
        parts = line.split("\t")
        if len(parts) != 2:
            raise XltError(f"--file line {n}: task {task!r} takes a pair per line: {first_name}, a tab, "
                           f"{second_name} (found {len(parts) - 1} tabs)")
        pairs.append((_checked(parts[0], first_name, n), _checked(parts[1], second_name, n)))
    if args.text:
        raise XltError(f"task {task!r} takes a pair: give --premise ({first_name}) and --hypothesis "
                       f"({second_name}), not a text argument")
    if args.premise is not None or args.hypothesis is not None:
        if args.premise is None or args.hypothesis is None:
            raise XltError(f"task {task!r} takes a pair: give --premise ({first_name}) and --hypothesis "
                           f"({second_name}), both")
        pairs.append((_checked(args.premise, "premise"), _checked(args.hypothesis, "hypothesis")))
    if not pairs:
        raise XltError(f"task {task!r} takes a pair: give --premise ({first_name}) and --hypothesis "
                       f"({second_name}), or a --file of tab-separated pairs")
    return [a for a, _ in pairs], [b for _, b in pairs]


def _print_predictions(results: list[dict], texts: list[str]) -> None:
    for result, text in zip(results, texts):
        probs = ", ".join(f"{k} {v:.3f}" for k, v in result["probabilities"].items())
        print(f"{result['label']}\t[{probs}]\tlang={result['language']}\t{text[:60]}")
        _notices(result["notices"])


def _notices(notices: list[str]) -> None:
    for notice in notices:
        print(f"  note: {notice}")


def cmd_rank(args) -> int:
    """Rank the task's languages as sources for a target (learned from the measured matrix when it can be)."""
    from dataclasses import asdict

    from .ranking.features import check_language
    from .ranking.recommend import rank_sources
    from .ranking.report import ranking_text
    from .results.store import ResultsStore
    from .tasks import get_task

    if args.top is not None and args.top < 1:
        raise XltError(f"--top must be >= 1 (or left out for every source), got {args.top}")
    check_language(args.target, get_task(args.task))  # a typo fails before any reading
    records, _ = ResultsStore().records()
    ranking = rank_sources(records, args.task, args.target, model=args.model, metric=args.metric)
    if args.top:
        ranking.sources = ranking.sources[:args.top]
    if args.json:
        print(json.dumps(asdict(ranking), indent=2, ensure_ascii=False))
    else:
        print(ranking_text(ranking))
    return 0


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
    elif args.command == "protocols":
        from .protocols import PROTOCOLS

        for name, protocol in PROTOCOLS.items():
            print(f"{name}: {protocol.description}")
            print(f"  fixes: {protocol.fixed_settings()}")
        print("Any other --protocol name is a free label (recorded, not checked).")
    else:
        from .methods import METHODS

        for name, spec in METHODS.items():
            print(f"{name:<21}{spec.description}")
    return 0


def cmd_export(args) -> int:
    """A shipped or trained classifier as a transformers sequence-classification folder (see xlt.models.export)."""
    from pathlib import Path

    from .models.export import export_classifier
    from .predict import model_key, shipped_predictor_path

    key = model_key(args.model_dir)  # a shipped predictor's name, or a resolved folder path
    folder = shipped_predictor_path(key) if "/" not in key else Path(key)
    print(export_classifier(folder, Path(args.out).expanduser()))
    return 0


def cmd_prepare(args) -> int:
    from .models.loading import checkpoint_location
    from .models.registry import MODELS

    if args.model not in MODELS:
        raise XltError(MODELS.unknown_message(args.model))
    spec = MODELS.get(args.model)
    if spec.local_builder is None:
        raise XltError(f"{args.model} is downloaded from the Hub on first use; `xlt prepare` builds the offline "
                       "models (multilingual-e5-small)")
    print("converting the offline encoder once (about 30 s) ...", file=sys.stderr, flush=True)
    print(checkpoint_location(spec))
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: the message and where the help is, not 30 lines of usage first."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    from .models.registry import DEFAULT_MODEL

    parser = _Parser(prog="xlt", description="Cross-lingual transfer learning workbench.")
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
    train.add_argument("--results-dir", help="write the record into this folder (default: your results store, "
                       "$XLT_HOME/results, and the results repo when XLT_RESULTS_REPO is set)")
    train.add_argument("--protocol", help="name of the comparison protocol this run follows (recorded)")
    train.add_argument("--premise-control", action="store_true", help="pair tasks: also score with premises "
                       "shuffled (how much of the score needs no premise), as premise_shuffled_accuracy")
    train.add_argument("--num-gpus", type=int, default=1, help="train one run on this many GPUs (accelerate launch, "
                       "DDP); only the main process writes the record and the model")
    train.add_argument("--save-model", help="folder to save the trained classifier (adapter/encoder + head); an "
                       "earlier model there is replaced, a folder of other files refused")
    train.add_argument("--output-dir", help="checkpoints folder (default: $XLT_HOME/runs/<config hash>, or its "
                       "precision twin's that trained the same way)")
    train.add_argument("--skip-existing", action=argparse.BooleanOptionalAction, default=False,
                       help="do nothing when a record of the same settings exists")
    _add_train_flags(train)
    train.set_defaults(func=cmd_train)

    sw = sub.add_parser("sweep", help="run a grid of experiments (YAML), skipping cells already done")
    sw.add_argument("grid", help="grid file (see sweeps/*.yaml)")
    sw.add_argument("--dry-run", action="store_true", help="validate every cell, list them and the time estimate")
    sw.add_argument("--shard", metavar="K/N", help="run every N-th cell from the K-th: N processes side by side share "
                    "a grid (one big GPU fits several small trainings)")
    sw.add_argument("--only", action="append", metavar="KEY=V[,V...]",
                    help="run only the cells matching (repeatable; keys: method, seed, source, target, "
                         "option.<method option>; languages joined with +), e.g. --only method=translate-train "
                         "--only seed=42")
    sw.add_argument("--precision", choices=TRAINED_PRECISIONS,
                    help="train every cell at this precision: fp32 on a GPU extends a grid made on a CPU with "
                         "comparable records (a cell is done by a record of its settings trained at the precision "
                         "it trains at here)")
    sw.add_argument("--background", action="store_true", help="start it detached, logging to $XLT_HOME/sweeps/")
    sw.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True, help="progress bars")
    sw.add_argument("--backend", choices=["local", "hf-jobs"], default="local",
                    help="local: here, one cell at a time; hf-jobs: one Hugging Face Job per cell (run it again to "
                         "follow them and pull their records)")
    sw.add_argument("--flavor", default="t4-small", help="hf-jobs hardware flavor (see `hf jobs hardware`)")
    sw.add_argument("--timeout", default="2h", help="hf-jobs timeout per cell")
    sw.set_defaults(func=cmd_sweep)

    ev = sub.add_parser("evaluate", help="evaluate a saved classifier per language")
    ev.add_argument("--model-dir", required=True, help="classifier folder, a shipped task name (sentiment, nli), or "
                    "a published sequence classifier (folder or Hub id)")
    ev.add_argument("--task", help="task (default: the classifier's)")
    ev.add_argument("--languages", help="comma-separated (default: all of the task)")
    ev.add_argument("--split", help="split (default: the task's evaluation split)")
    ev.add_argument("--max-samples", type=int, help="at most this many examples per language")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--batch-size", type=int, default=64)
    ev.add_argument("--premise-control", action="store_true", help="pair tasks: also score with premises shuffled")
    ev.add_argument("--int8", action="store_true", help="score the int8 form (what Predict serves with XLT_INT8=1) "
                    "instead of the float32 model as trained")
    ev.add_argument("--results-dir", help="published classifiers: write their record here (default: your results "
                    "store)")
    ev.add_argument("--trained-languages", help="published classifiers: the languages it was trained on with "
                    "labels, from its model card (comma-separated; they count as seen, not as zero-shot transfer)")
    ev.add_argument("--json", action="store_true")
    ev.set_defaults(func=cmd_evaluate)

    pr = sub.add_parser("predict", help="predict with the shipped models or a saved classifier")
    pr.add_argument("--task", default=None, help="sentiment, nli, zero-shot (NLI against your --labels), or any "
                    "task: the --model-dir's own task is used when left out (default: sentiment)")
    pr.add_argument("text", nargs="*", help="text(s) to classify (sentiment, zero-shot)")
    pr.add_argument("--premise")
    pr.add_argument("--hypothesis")
    pr.add_argument("--labels", help="zero-shot candidate labels, comma-separated")
    pr.add_argument("--template", default="This example is {}.", help="zero-shot hypothesis template")
    pr.add_argument("--multi-label", action="store_true")
    pr.add_argument("--file", help="read inputs from a UTF-8 file, one per line ('-': standard input); for a pair "
                    "task (nli), each line is the premise, a tab, the hypothesis")
    pr.add_argument("--model-dir", help="a saved classifier folder instead of the shipped one")
    pr.add_argument("--json", action="store_true")
    pr.set_defaults(func=cmd_predict)

    ex = sub.add_parser("export", help="write a classifier as a transformers sequence-classification folder "
                        "(LoRA merged, labels named; load it with trust_remote_code=True)")
    ex.add_argument("--model-dir", default="sentiment", help="a shipped task name (sentiment, nli) or a classifier "
                    "folder (default: sentiment)")
    ex.add_argument("out", help="a new (or empty) folder to write")
    ex.set_defaults(func=cmd_export)

    rk = sub.add_parser("rank", help="which source language to train on for a target language")
    rk.add_argument("--task", required=True, help="task name (see `xlt tasks`)")
    rk.add_argument("--target", required=True, help="target language (ISO 639-1 code, e.g. sw)")
    rk.add_argument("--model", help="encoder whose measured runs, tokenizer and coverage count (default: the "
                    "best covered matrix's)")
    rk.add_argument("--metric", choices=["accuracy", "macro_f1"], help="default: the task's")
    rk.add_argument("--top", type=int, help="show only the first N sources")
    rk.add_argument("--json", action="store_true")
    rk.set_defaults(func=cmd_rank)

    for name, text in (("tasks", "list tasks"), ("models", "list models"), ("methods", "list transfer methods"),
                       ("protocols", "list the registered comparison protocols and what each fixes")):
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
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        if argv[:1] == ["train"]:
            _add_method_flags(parser._subparsers._group_actions[0].choices["train"], argv)
        args = parser.parse_args(argv)
        args.argv = argv
        return args.func(args)
    except XltError as exc:
        print(f"xlt: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("xlt: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
