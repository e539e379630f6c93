"""Fine-tune-tab callbacks: launch, watch, cancel and resume background jobs."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, fields

import pandas as pd
import plotly.graph_objects as go

from ..access import VISITOR_ACTIVE_JOBS, is_owner, training_refusal, username, visitor_time_limit_s
from ..config import ExperimentConfig, FieldKind, TrainConfig, convert_value, field_default, field_kind
from ..errors import XltError, mask_token
from ..jobs import ACTIVE, ENDED, JobStore
from ..settings import env_int

JOB_COLUMNS = ["id", "state", "task", "method", "model", "source", "progress", "eta", "target avg", "launched by",
               "sweep", "error"]


def device_notice() -> str:
    import torch

    if torch.cuda.is_available():
        return f"Training on GPU: {torch.cuda.get_device_name(0)} (mixed precision)."
    return ("No GPU here: jobs run on the CPU. That works, slowly: use a small train-sample limit "
            "(a few hundred examples) and max length 64-128.")


def _as_list(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value if str(v).strip()]


@dataclass(frozen=True)
class FormField:
    """One input of the launcher, generated from a config dataclass field (or an experiment setting)."""

    name: str  # "task", "train.epochs", "option.<method>.<field>"
    label: str
    kind: FieldKind
    default: object
    help: str = ""
    choices: tuple = ()
    group: str = "experiment"  # "experiment", "train", "advanced", "option:<method>"
    open_choices: bool = False  # the choices are suggestions: other values are typed in (a translator spec)


# what the app starts with: a run that finishes in minutes on a CPU
APP_DEFAULTS = {"train.finetune": "lora", "train.epochs": 1.0, "train.max_train_samples": 200,
                "train.max_eval_samples": 200}
BASIC_TRAIN = ("finetune", "learning_rate", "epochs", "batch_size", "max_length", "seed", "lora_r",
               "max_train_samples", "max_eval_samples")


def form_fields() -> list[FormField]:
    """Every launcher input: the experiment, every `TrainConfig` field, every method's options."""
    from ..methods import get_method, method_names

    out = [FormField("train_split", "Training split(s)", FieldKind("str", True), None,
                     "default: the task's; several joined by + (train+validation)")]
    for f in fields(TrainConfig):
        name = f"train.{f.name}"
        out.append(FormField(name, f.name.replace("_", " "), field_kind(f), APP_DEFAULTS.get(name, field_default(f)),
                             f.metadata.get("help", ""), tuple(f.metadata.get("choices", ())),
                             "train" if f.name in BASIC_TRAIN else "advanced"))
    for method in method_names():
        for f in fields(get_method(method).options_cls):
            out.append(FormField(f"option.{method}.{f.name}", f.name.replace("_", " "), field_kind(f),
                                 field_default(f), f.metadata.get("help", ""), tuple(f.metadata.get("choices", ())),
                                 f"option:{method}", open_choices=bool(f.metadata.get("open_choices"))))
    return out


def _value(field: FormField, raw):
    """A form value as the field's type: empty -> None (optional) or the default, text -> parsed."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if field.kind.optional:
            return None
        raise XltError(f"{field.label} is required")
    if isinstance(raw, str) and field.kind.base != "str":
        return convert_value(field.kind, raw, field.label)
    if field.kind.base == "int" and isinstance(raw, float):
        if not math.isfinite(raw) or raw != int(raw):
            raise XltError(f"{field.label} must be a whole number, got {raw}")
        return int(raw)
    if field.kind.base == "list" and isinstance(raw, (list, tuple)):
        return [str(v) for v in raw]
    return raw


def build_config(values: dict, check: bool = True) -> ExperimentConfig:
    """The launcher form (values by field name) as a validated experiment config (XltError on bad settings);
    `check=False` leaves out the validation that reads the data, the model's and translators' files."""
    from ..experiment import validate

    values = dict(values)
    by_name = {f.name: f for f in form_fields()}
    method = values.get("method") or "zero-shot"
    train, options = {}, {}
    for name, raw in values.items():
        field = by_name.get(name)
        if name.startswith("train.") and field:
            train[name[6:]] = _value(field, raw)
        elif name.startswith(f"option.{method}.") and field:
            value = _value(field, raw)
            if value != field.default:
                options[name.rsplit(".", 1)[1]] = value
    train_split = values.get("train_split")
    config = ExperimentConfig(task=values.get("task") or "", method=method, model=values.get("model") or "",
                              source_languages=_as_list(values.get("sources")),
                              target_languages=_as_list(values.get("targets")) or None,
                              train_split=train_split.strip() if isinstance(train_split, str) and train_split.strip()
                              else None,
                              method_options=options, train=TrainConfig.from_dict(train))
    if check:
        validate(config)
    return config


def form_values(config: ExperimentConfig) -> dict:
    """The inverse of `build_config`: an experiment (e.g. a leaderboard record's config) as launcher values."""
    values = {"task": config.task, "model": config.model, "method": config.method,
              "sources": list(config.source_languages), "targets": list(config.target_languages or []),
              "train_split": config.train_split or ""}
    values.update({f"train.{k}": v for k, v in config.train.to_dict().items()})
    values.update({f"option.{config.method}.{k}": v for k, v in config.method_options.items()})
    return values


def launch_job(store: JobStore, values: dict, push_to_hub: bool = False, profile=None) -> str:
    """Queue a job from the launcher form. Returns a message for the page.

    `profile` is the signed-in visitor (Gradio's `OAuthProfile`, or None): on a Space only the
    owner and allowed users may launch (see `xlt.access`); the job records who launched it.
    """
    refusal = training_refusal(profile)
    if refusal:
        return f"**Not started:** {refusal}"
    try:
        config = _admit(store, build_config(values, check=False), profile)
    except XltError as exc:
        return f"**Not started:** {exc}"
    return _submit(store, config, push_to_hub, profile)


def launch_config(store: JobStore, config_json: str, push_to_hub: bool = False, profile=None) -> str:
    """Queue a job from an experiment config as JSON (the API twin of the form: `ExperimentConfig.to_dict()`)."""
    from ..results.submissions import check_structure

    refusal = training_refusal(profile)
    if refusal:
        return f"**Not started:** {refusal}"
    try:
        if not isinstance(config_json, str) or len(config_json) > 50_000:
            raise XltError("give the experiment config as a JSON object of at most 50 kB")
        try:
            data = json.loads(config_json)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise XltError(f"the config is not valid JSON: {exc}") from None
        except ValueError:  # Python's json refuses integers of over 4,300 digits
            raise XltError("the config holds a number too long to read (over 4,300 digits)") from None
        check_structure(data, max_depth=4, max_nodes=2_000)
        config = _admit(store, ExperimentConfig.from_dict(data), profile)
    except XltError as exc:
        return f"**Not started:** {exc}"
    return _submit(store, config, push_to_hub, profile)


# a visitor's method option: names, numbers, language codes, `apertium:pivot=es`; no path, Hub id or model=
PLAIN_OPTION = re.compile(r"^(?!.*model\s*=)[A-Za-z0-9_.,:=+ -]{0,200}$", re.IGNORECASE)


def _job_limit_refusal(store: JobStore, profile) -> str | None:
    """Why a visitor may not start (or resume) one more job: `VISITOR_ACTIVE_JOBS` of theirs queued or running."""
    user = username(profile)
    active = [j for j in store.list() if j.launched_by == user and j.state in ("queued", *ACTIVE)]
    if len(active) >= VISITOR_ACTIVE_JOBS:
        return (f"you have {len(active)} jobs queued or running; a visitor may have {VISITOR_ACTIVE_JOBS} "
                "at once (cancel one, or wait)")
    return None


def visitor_refusal(store: JobStore, config: ExperimentConfig, profile) -> str | None:
    """With open training, what a visitor (not the owner) may not launch: a task spec file, a model outside
    the registry and the Space's Hub models (a path, or a Hub id fetched with the Space's token), a method
    option naming a path or a model (`translator: nllb:model=...`), or more jobs at once than
    `VISITOR_ACTIVE_JOBS`. None for the owner and allowed users."""
    from ..models.registry import MODELS
    from ..tasks import TASKS
    from .callbacks import allowed_hub_models

    if is_owner(profile):
        return None
    if config.task not in TASKS:  # a task spec file named by path (the JSON API is not a dropdown)
        return f"visitors train the registered tasks only ({', '.join(TASKS.names())})"
    if config.model not in MODELS and config.model not in allowed_hub_models():
        return (f"visitors train the listed models only ({', '.join(MODELS.names())}) or this Space's Hub "
                f"models, not {config.model[:80]!r}")
    for key, value in config.method_options.items():
        values = value if isinstance(value, (list, tuple)) else [value]
        if any(isinstance(v, str) and not PLAIN_OPTION.match(v) for v in values):
            return (f"method option {key}={str(value)[:80]!r}: visitors give plain values (a translator's name, "
                    "numbers, language codes), no paths, Hub ids or model settings")
    return _job_limit_refusal(store, profile)  # early, before validation; `_submit` counts again under its lock


def _admit(store: JobStore, config: ExperimentConfig, profile) -> ExperimentConfig:
    """`config` validated, after the visitor checks: a refused value is never read (a file, a Hub config
    fetched with the Space's token) by validation, whose messages could show what it found."""
    from ..experiment import validate

    refusal = visitor_refusal(store, config, profile)
    if refusal:
        raise XltError(refusal)
    validate(config)
    return config


def _submit(store: JobStore, config: ExperimentConfig, push_to_hub: bool, profile) -> str:
    if push_to_hub and not is_owner(profile):  # pushing creates repos with the Space's token: the owner's call
        return "**Not started:** only the Space owner can push models to the Hub."
    if push_to_hub:
        import os

        if not os.environ.get("HF_TOKEN"):
            return "**Not started:** pushing to the Hub needs HF_TOKEN in the app's environment."
    visitor = not is_owner(profile)
    with store.admitting():  # counted and queued as one step: parallel launches cannot all pass the limit
        refusal = _job_limit_refusal(store, profile) if visitor else None
        if refusal:
            return f"**Not started:** {refusal}"
        running = store.running()
        job = store.submit(config, push_to_hub=bool(push_to_hub), launched_by=username(profile), unverified=visitor,
                           time_limit_s=visitor_time_limit_s() if visitor else None)
    if visitor:  # a launch-and-cancel loop leaves checkpoints behind too: the newest visitors' jobs keep theirs
        store.prune_visitor_models()
    where = "queued behind the running job" if running else "starting"
    limit = f" It is stopped after {job.time_limit_s / 60:g} min of running." if job.time_limit_s else ""
    return f"Job `{job.id}` {where}.{limit} {device_notice()}"


def jobs_frame(store: JobStore) -> pd.DataFrame:
    """Every unfinished job and the newest ended ones (`XLT_JOB_ROWS`, default 200; an older job's id still opens
    it): a queued grid of thousands of cells keeps the 2-second refresh small."""
    rows = []
    ended_rows = env_int("XLT_JOB_ROWS", 200, 1)
    for job in store.list():
        if job.state in ENDED:
            if ended_rows == 0:
                continue
            ended_rows -= 1
        # progress is shown for unfinished jobs only: the 2-second refresh reads no ended job's progress file
        cfg = job.config
        progress = store.progress(job.id) if job.state in ("running", "cancelling", "interrupted") else {}
        step, total = progress.get("step"), progress.get("max_steps")
        pct = f"{100 * step / total:.0f}% ({step}/{total})" if step is not None and total else ""
        eta = progress.get("eta_seconds")
        avg = job.summary.get("target_average") if job.summary else None
        rows.append({
            "id": job.id, "state": job.state, "task": cfg.get("task"), "method": cfg.get("method"),
            "model": cfg.get("model"), "source": "+".join(cfg.get("source_languages", [])),
            "progress": pct if job.state in ("running", "cancelling", "interrupted")
            else ("100%" if job.state == "completed" else ""),
            "eta": ("evaluating" if progress.get("phase") == "evaluating" and job.state == "running"
                    else f"{eta / 60:.1f} min" if eta is not None and job.state == "running" else ""),
            "target avg": f"{avg:.4f}" if avg is not None else "", "launched by": job.launched_by or "",
            "sweep": f"{job.sweep} ({job.protocol})" if job.sweep and job.protocol else job.sweep or "",
            "error": mask_token(job.error or "; ".join(job.notes))[:120],
        })
    return pd.DataFrame(rows, columns=JOB_COLUMNS)


def loss_figure(points: list[dict]) -> go.Figure:
    fig = go.Figure()
    if points:
        fig.add_trace(go.Scatter(x=[p["step"] for p in points], y=[p["loss"] for p in points], mode="lines+markers"))
    fig.update_layout(title="training loss", xaxis_title="step", yaxis_title="loss", height=300)
    return fig


def job_detail(store: JobStore, job_id: str) -> tuple[str, go.Figure, str]:
    """Status text, loss curve and log tail of one job."""
    if not job_id:
        return "Select a job.", loss_figure([]), ""
    try:
        job = store.get(job_id.strip())
    except XltError as exc:
        return f"**Error:** {exc}", loss_figure([]), ""
    progress = store.progress(job.id)
    lines = [f"**{job.id}** — {job.state}"
             + (f" · a cell of sweep {job.sweep}" if job.sweep else ""),
             f"`{ExperimentConfig.from_dict(job.config).to_command(job.protocol, job.premise_control)}`"]
    if progress:
        lines.append(f"step {progress.get('step')}/{progress.get('max_steps')}, epoch {progress.get('epoch')}, "
                     f"phase {progress.get('phase')}")
    if job.error:
        lines.append(f"error: {job.error}")
    for note in job.notes:
        lines.append(f"⚠ {note}")
    average = job.summary.get("target_average") if job.summary else None
    if average is not None:  # none when every evaluated language was a source (no target to average)
        lines.append(f"target average {job.summary.get('metric')}: {average:.4f}")
    if job.state == "interrupted":
        lines.append("Interrupted: press Resume to continue from the last checkpoint.")
    return (mask_token("\n\n".join(lines)), loss_figure(progress.get("loss_curve", [])),
            store.log_tail(job.id))  # the tail masks the token itself


def _job_action(action, job_id: str, done, profile=None) -> str:
    refusal = training_refusal(profile)
    if refusal:
        return f"**Refused:** {refusal}"
    if not is_owner(profile):  # training opened to all: a visitor controls only the jobs they launched
        try:
            job = action.__self__.get((job_id or "").strip())
        except (XltError, AttributeError, TypeError):
            job = None
        if job is not None and job.launched_by != username(profile):
            return "**Refused:** only the owner or the user who launched a job can cancel or resume it."
    try:
        job = action((job_id or "").strip())
    except XltError as exc:
        return f"**Error:** {exc}"
    return f"Job `{job.id}` {done(job) if callable(done) else done}"


def cancel_job(store: JobStore, job_id: str, profile=None) -> str:
    return _job_action(store.cancel, job_id, lambda job: "cancelled." if job.state == "cancelled" else (
        "is stopping: it shows as cancelled once its process has exited (Cancel again to kill it now)."), profile)


def resume_job(store: JobStore, job_id: str, profile=None) -> str:
    with store.admitting():  # a visitor's resume is a launch: counted and queued as one step, as `_submit` does
        if not is_owner(profile) and training_refusal(profile) is None:
            refusal = _job_limit_refusal(store, profile)
            if refusal:
                return f"**Refused:** {refusal}"
        return _job_action(store.resume, job_id, "queued again; it continues from its last checkpoint.", profile)


def trained_models(store: JobStore) -> list[tuple[str, str, str]]:
    """(label, folder, task) of every completed job's model, for the Predict tab's pickers."""
    out = []
    for job in store.list():
        if job.state == "completed" and job.model_dir:
            cfg = job.config
            out.append((f"job {job.id}: {cfg.get('task')} {cfg.get('method')} from "
                        f"{'+'.join(cfg.get('source_languages', []))}", job.model_dir, str(cfg.get("task"))))
    return out


SOURCES_HINT = ("Pick target languages to see which source languages should transfer best to them "
                "(the source ranker, `xlt rank`).")
_rankings: dict[tuple, object] = {}


def _ranking_model(model: str | None) -> str | None:
    from ..models.registry import MODELS

    return model if model in MODELS else None  # a Hub id or a path: the matrix's model and its tokenizer


def suggestions_ready(task: str, targets, model: str | None = None) -> bool:
    """Whether `source_suggestions` answers at once: its pair features are in memory and each target has been
    ranked before (for some set of records: a new record costs a re-ranking, no notice)."""
    from ..ranking.features import features_cached
    from ..tasks import TASKS

    targets = _as_list(targets)[:3]
    if not targets or task not in TASKS:
        return True
    spec, model = TASKS.get(task), _ranking_model(model)
    ranked = {key[:3] for key in _rankings}
    return features_cached(spec, [*spec.languages, *targets], model) and \
        all((task, target, model) in ranked for target in targets)


def source_suggestions(results, task: str, targets, model: str | None = None, top: int = 3) -> str:
    """Markdown beside the source picker: the best sources for each chosen target (the first three), from the
    measured matrix of the app's records when it can train the ranker, else from features alone. Rankings are
    kept per (task, target, model, records): a later call costs a read of the records."""
    from ..ranking.recommend import rank_sources
    from ..ranking.report import ranking_markdown

    targets = _as_list(targets)
    if not targets:
        return SOURCES_HINT
    records, _ = results.records()
    runs = tuple(sorted(r["run_id"] for r in records if r.get("method") == "zero-shot"))
    lines, notes = [], []
    for target in targets[:3]:
        key = (task, target, _ranking_model(model), runs)
        try:
            if key not in _rankings:
                if len(_rankings) >= 64:
                    _rankings.pop(next(iter(_rankings)))
                _rankings[key] = rank_sources(records, task, target, model=_ranking_model(model))
            ranking = _rankings[key]
        except XltError as exc:
            lines.append(f"**{target}**: {exc}")
            continue
        lines.append(ranking_markdown(ranking, top, notes=False))
        notes += [note for note in ranking.notes if note not in notes]
    if len(targets) > 3:
        lines.append(f"<small>(first three targets shown; `xlt rank --task {task} --target {targets[3]}` for more)"
                     "</small>")
    lines += [f"<small>{note}</small>" for note in notes[:3]]
    return "  \n".join(lines)
