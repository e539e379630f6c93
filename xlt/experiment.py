"""Validate an experiment, then the one run-and-file path: data -> method -> evaluate -> record -> store.

The CLI (`xlt train`), the app's jobs and `xlt sweep` all call `run_and_file`, so every run is
trained, evaluated, recorded and filed the same way.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .config import ExperimentConfig, TrainConfig, non_default
from .errors import XltError

EVAL_SUBSET_SEED = 0

__all__ = ["ExperimentConfig", "TrainConfig", "Validated", "run_and_file", "run_experiment", "validate"]


@dataclass
class Validated:
    """An experiment with its registry entries resolved and its options checked in context."""

    config: ExperimentConfig
    task: object  # TaskSpec
    method: object  # TransferMethod
    model_spec: object  # ModelSpec
    options: object  # the method's options dataclass

    def context(self, output_dir: Path, data_dir: Path | None = None, callbacks: list | None = None,
                show_progress: bool = True):
        from .methods import MethodContext

        return MethodContext(experiment=self.config, task=self.task, model_spec=self.model_spec,
                             options=self.options, output_dir=Path(output_dir), data_dir=data_dir,
                             callbacks=list(callbacks or []), show_progress=show_progress)


def validate(config: ExperimentConfig, data_dir: str | Path | None = None, *, hub_data: bool = False) -> Validated:
    """Resolve the task, method and model and check everything that can be checked before training.

    The method's options are normalised in place (only non-default values stay), so equal
    experiments have equal fingerprints however their options were spelled. `hub_data`: the run will read
    the Hub's data (a Hugging Face Job), so this machine's data folder is not consulted.
    """
    from .methods import get_method
    from .models.registry import resolve_model
    from .settings import data_dir as default_data_dir
    from .tasks import get_task

    task = get_task(config.task)
    config.task = task.name  # a task file (`my_task.yaml`) is recorded under its spec's name
    method = get_method(config.method)
    spec = resolve_model(config.model)
    if len(config.source_languages) > 1 and not method.multi_source:
        raise XltError(f"method {config.method!r} takes one source language, got {config.source_languages}")
    data_root = None if hub_data else Path(data_dir) if data_dir else default_data_dir()
    unknown = [lang for lang in [*config.source_languages, *(config.target_languages or [])]
               if lang not in task.languages and not _has_local_data(task, lang, data_root)]
    if unknown:
        raise XltError(f"task {config.task!r} has no language(s) {unknown}; it has: {', '.join(task.languages)}")
    train_split, eval_split = config.train_split or task.train_split, config.eval_split or task.eval_split
    if method.trains and set(train_split.split("+")) & set(eval_split.split("+")):
        raise XltError(f"train split {train_split!r} includes the evaluation split {eval_split!r}: a model must not "
                       "be scored on rows it trained on (few-shot examples included)")
    if data_root is not None:  # local files: every split the run reads exists (the Hub says so when loading)
        from .data import check_local_files

        check_local_files(task, [(lang, eval_split) for lang in config.target_languages or task.languages]
                          + [(lang, train_split) for lang in (config.source_languages if method.trains else [])],
                          data_root)
    if config.train.precision in ("fp16", "bf16"):
        from .training import precision_flags

        precision_flags(config.train.precision)  # refuses half precision without a GPU, before any training
    options = normalise_options(config)
    validated = Validated(config, task, method, spec, options)
    method.validate(validated.context(Path("."), data_dir=data_root))
    return validated


def normalise_options(config: ExperimentConfig):
    """Parse the method's options and keep only the non-default ones in `config` (in place), and name the
    task by its spec, so equal experiments have equal fingerprints however they were spelled. Returns the
    parsed options."""
    from .methods import get_method
    from .tasks import get_task

    config.task = get_task(config.task).name  # a task file (`my_task.yaml`) is recorded under its spec's name
    options = get_method(config.method).options(config.method_options)
    config.method_options = non_default(options)
    return options


def _has_local_data(task, lang: str, data_root: Path | None) -> bool:
    """A language outside the spec's list is fine when its data file exists (the record says so)."""
    if data_root is None:
        return False
    return any((Path(data_root) / task.local_dir / split / f"{lang}.jsonl").is_file()
               for split in {task.eval_split, task.train_split})


def run_and_file(config: ExperimentConfig, *, store=None, results_dir: str | Path | None = None,
                 save_model_to: str | Path | None = None, output_dir: str | Path | None = None,
                 data_dir: str | Path | None = None, callbacks: list | None = None, show_progress: bool = True,
                 protocol: str | None = None, premise_control: bool = False, push: bool = True,
                 before_filing: Callable[[], None] | None = None) -> dict:
    """Train with the configured method, evaluate every target language, build the record and file it.

    Args:
        store: a `ResultsStore`: the record is kept in its local folder, queued in its outbox and
            pushed to the results repo when one is configured (and `push`: else the caller pushes it).
        results_dir: instead of a store, write the record into this folder only.
        save_model_to: save the trained artifact here; the record notes where (`model_location`).
        output_dir: checkpoints (default `$XLT_HOME/runs/<config fingerprint>`, or a precision twin's that
            trained the same way: `xlt/run_folders.py`), for resume.
        protocol: the comparison protocol the run follows (recorded).
        premise_control: pair tasks: also score each language with premises shuffled (the hypothesis-only
            control), as `premise_shuffled_accuracy` in the metrics.
        before_filing: called once training and evaluation are done, just before the model is saved and the
            record filed (a job's process: from then on a stop signal comes too late to cancel the run).

    Returns the record (with `path` where it was written).
    """
    from .evaluation import evaluate_languages, summarise
    from .models.artifacts import inference_mode
    from .models.loading import model_fingerprint
    from .protocols import check_run
    from .results.records import build_record, check_protocol, write_record
    from .run_folders import run_folder
    from .settings import data_dir as default_data_dir
    from .training import world_size

    protocol = check_protocol(protocol)  # a label the record would refuse must not cost a training first
    check_run(protocol, config, world_size())
    validated = validate(config, data_dir)
    task, method = validated.task, validated.method
    out = Path(output_dir) if output_dir else run_folder(config)  # an interrupted precision twin resumes
    data_root = Path(data_dir) if data_dir else default_data_dir()
    ctx = validated.context(out, data_root, callbacks, show_progress)
    if save_model_to is not None:
        check_writable_folder(Path(save_model_to), "--save-model")
        check_model_folder(Path(save_model_to))
    if results_dir is not None:
        check_writable_folder(Path(results_dir), "--results-dir")
    check_writable_folder(out, "--output-dir")
    artifact = method.run(ctx)
    seen = method.seen_languages(ctx)
    artifact.info.model_fingerprint = model_fingerprint(validated.model_spec)
    artifact.info.method = config.method
    artifact.info.languages_trained = list(seen)
    targets = list(config.target_languages or task.languages)
    started = time.perf_counter()
    with inference_mode(artifact):
        # a sample of the test files (max_eval_samples) is the same rows in every run and, for parallel data,
        # in every language: the subset's seed is fixed, not the run's
        metrics = evaluate_languages(artifact, task, targets, split=config.eval_split, data_dir=data_root,
                                     max_samples=config.train.max_eval_samples, seed=EVAL_SUBSET_SEED,
                                     batch_size=config.train.eval_batch_size, show_progress=show_progress,
                                     premise_control=premise_control)
    artifact.stats["eval_seconds"] = round(time.perf_counter() - started, 2)
    summary = summarise(metrics, task.metric, config.source_languages, seen)
    data_source = f"local:{task.local_dir}" if data_root else f"hub:{task.hub_dataset}"
    record = build_record(config, artifact, metrics, summary, data_source=data_source, seen_languages=seen,
                          protocol=protocol, premise_control=premise_control,
                          outside=[lang for lang in targets if lang not in task.languages])
    artifact.info.run_id = record["run_id"]
    if not is_main_process():  # a multi-GPU run: the other processes trained and evaluated, rank 0 files
        return record
    if before_filing is not None:
        before_filing()
    if save_model_to:
        record["model_location"] = str(save_model(artifact, Path(save_model_to)).resolve())
    if store is not None:
        record["path"] = str(store.add(record, push=push))
    elif results_dir:
        record["path"] = str(write_record(record, results_dir))
    return record


def is_main_process() -> bool:
    """True except in the non-zero ranks of a distributed (multi-GPU) run."""
    return int(os.environ.get("RANK", "0")) == 0


def check_writable_folder(path: Path, what: str) -> None:
    """Refuse an output folder that is a file before hours of training, not after."""
    if path.exists() and not path.is_dir():
        raise XltError(f"{what} {path} is a file; give a folder")
    probe = path if path.exists() else next((p for p in path.parents if p.exists()), None)
    if probe is not None and not probe.is_dir():
        raise XltError(f"{what} {path}: {probe} is a file, so the folder cannot be created")
    if probe is not None:
        import tempfile

        try:  # a file made and removed, not os.access: root passes os.access on /proc and read-only mounts
            with tempfile.TemporaryFile(dir=probe):
                pass
        except OSError as exc:
            raise XltError(f"{what} {path}: {probe} is not writable") from exc


def check_model_folder(path: Path) -> None:
    """`--save-model` replaces an earlier model (how a shipped predictor is retrained), never a folder that holds
    anything else: a wrong path must not cost the files there, nor hours of training to find out."""
    from .models.loading import CLASSIFIER_INFO, MODEL_ENTRIES

    if not str(path).strip():
        raise XltError("--save-model needs a folder")
    if path.is_dir():
        entries = {entry.name for entry in path.iterdir()}
        others = sorted(entries - MODEL_ENTRIES) or ([] if CLASSIFIER_INFO in entries else sorted(entries))
        if entries and others:
            raise XltError(f"--save-model {path} holds files that are not an xlt model's ({', '.join(others[:5])}); "
                           "give a new or empty folder, or an earlier model's folder to replace that model")


def save_model(artifact, folder: Path) -> Path:
    """Save into a staging folder inside `folder`, then move the files in place: an earlier model there is
    replaced whole (no adapter/ or encoder/ left over from it). Its info file goes first and the new one comes
    last, so an interrupted swap leaves a folder that does not load as a model, never a mix of two. Works on a
    mount point, through a symlink, and without write access to the parent folder."""
    import shutil
    import tempfile

    from .models.loading import CLASSIFIER_INFO, MODEL_ENTRIES

    folder = Path(folder).resolve()
    check_model_folder(folder)  # nothing else appeared there during training
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder, prefix=".saving-"))
    try:
        saved = Path(artifact.save(staging / "model"))
        for name in [CLASSIFIER_INFO, *sorted(MODEL_ENTRIES - {CLASSIFIER_INFO})]:
            old = folder / name
            if old.is_dir() and not old.is_symlink():
                shutil.rmtree(old)
            elif old.exists() or old.is_symlink():
                old.unlink()
        for entry in sorted(saved.iterdir(), key=lambda e: e.name == CLASSIFIER_INFO):
            os.replace(entry, folder / entry.name)
    except OSError as exc:
        raise XltError(f"could not save the trained model into {folder}: {exc.strerror or exc} (what was saved is "
                       f"in {staging})") from None
    shutil.rmtree(staging, ignore_errors=True)
    return folder


def run_experiment(config: ExperimentConfig, *, results_dir: str | Path | None = None,
                   save_model_to: str | Path | None = None, output_dir: str | Path | None = None,
                   data_dir: str | Path | None = None, callbacks: list | None = None,
                   show_progress: bool = True) -> dict:
    """`run_and_file` writing into `results_dir` (kept for scripts and tests)."""
    return run_and_file(config, results_dir=results_dir, save_model_to=save_model_to, output_dir=output_dir,
                        data_dir=data_dir, callbacks=callbacks, show_progress=show_progress)
