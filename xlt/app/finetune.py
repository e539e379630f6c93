"""Fine-tune-tab callbacks: launch, watch, cancel and resume background jobs."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from ..access import training_refusal, username
from ..config import TrainConfig
from ..errors import XltError
from ..experiment import ExperimentConfig
from ..jobs import JobStore

JOB_COLUMNS = ["id", "state", "task", "method", "model", "source", "progress", "eta", "target avg", "launched by",
               "error"]


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


def build_config(task, model, method, sources, targets, finetune, learning_rate, epochs, batch_size, max_length,
                 seed, lora_r, max_train_samples, max_eval_samples) -> ExperimentConfig:
    """The launcher form as an experiment config (raises XltError on bad settings)."""

    def as_int(value, name, optional=False):
        if value in (None, "") or (optional and value == 0):
            if optional:
                return None
            raise XltError(f"{name} is required")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise XltError(f"{name} must be a number, got {value!r}") from None
        if number != int(number):
            raise XltError(f"{name} must be a whole number, got {value}")
        return int(number)

    try:
        lr, n_epochs = float(learning_rate), float(epochs)
    except (TypeError, ValueError):
        raise XltError("learning rate and epochs must be numbers") from None
    train = TrainConfig(
        finetune=finetune or "lora", learning_rate=lr, epochs=n_epochs,
        batch_size=as_int(batch_size, "batch size"), max_length=as_int(max_length, "max length"),
        seed=as_int(seed, "seed"), lora_r=as_int(lora_r, "LoRA rank"),
        lora_alpha=2 * as_int(lora_r, "LoRA rank"),
        max_train_samples=as_int(max_train_samples, "train-sample limit", optional=True),
        max_eval_samples=as_int(max_eval_samples, "eval-sample limit", optional=True),
    )
    return ExperimentConfig(task=task, method=method, model=model, source_languages=_as_list(sources),
                            target_languages=_as_list(targets) or None, train=train)


def launch_job(store: JobStore, *form, push_to_hub: bool = False, profile=None) -> str:
    """Queue a job from the launcher form. Returns a message for the page.

    `profile` is the signed-in visitor (Gradio's `OAuthProfile`, or None): on a Space only the
    owner and allowed users may launch (see `xlt.access`); the job records who launched it.
    """
    refusal = training_refusal(profile)
    if refusal:
        return f"**Not started:** {refusal}"
    try:
        config = build_config(*form)
    except XltError as exc:
        return f"**Not started:** {exc}"
    if push_to_hub:
        import os

        if not os.environ.get("HF_TOKEN"):
            return "**Not started:** pushing to the Hub needs HF_TOKEN in the app's environment."
    running = store.running()
    job = store.submit(config, push_to_hub=bool(push_to_hub), launched_by=username(profile))
    where = "queued behind the running job" if running else "starting"
    return f"Job `{job.id}` {where}. {device_notice()}"


def jobs_frame(store: JobStore) -> pd.DataFrame:
    rows = []
    for job in store.list():
        cfg, progress = job.config, store.progress(job.id)
        step, total = progress.get("step"), progress.get("max_steps")
        pct = f"{100 * step / total:.0f}% ({step}/{total})" if step is not None and total else ""
        eta = progress.get("eta_seconds")
        avg = job.summary.get("target_average") if job.summary else None
        rows.append({
            "id": job.id, "state": job.state, "task": cfg.get("task"), "method": cfg.get("method"),
            "model": cfg.get("model"), "source": "+".join(cfg.get("source_languages", [])),
            "progress": pct if job.state in ("running", "interrupted")
            else ("100%" if job.state == "completed" else ""),
            "eta": f"{eta / 60:.1f} min" if eta is not None and job.state == "running" else "",
            "target avg": f"{avg:.4f}" if avg is not None else "", "launched by": job.launched_by or "",
            "error": (job.error or "")[:120],
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
    lines = [f"**{job.id}** — {job.state}", f"`{ExperimentConfig.from_dict(job.config).to_command()}`"]
    if progress:
        lines.append(f"step {progress.get('step')}/{progress.get('max_steps')}, epoch {progress.get('epoch')}, "
                     f"phase {progress.get('phase')}")
    if job.error:
        lines.append(f"error: {job.error}")
    if job.summary:
        lines.append(f"target average {job.summary.get('metric')}: {job.summary.get('target_average'):.4f}")
    if job.state == "interrupted":
        lines.append("Interrupted: press Resume to continue from the last checkpoint.")
    return "\n\n".join(lines), loss_figure(progress.get("loss_curve", [])), store.log_tail(job.id)


def _job_action(action, job_id: str, done: str, profile=None) -> str:
    refusal = training_refusal(profile)
    if refusal:
        return f"**Refused:** {refusal}"
    try:
        job = action((job_id or "").strip())
    except XltError as exc:
        return f"**Error:** {exc}"
    return f"Job `{job.id}` {done}"


def cancel_job(store: JobStore, job_id: str, profile=None) -> str:
    return _job_action(store.cancel, job_id, "cancelled.", profile)


def resume_job(store: JobStore, job_id: str, profile=None) -> str:
    return _job_action(store.resume, job_id, "queued again; it continues from its last checkpoint.", profile)


def trained_models(store: JobStore) -> list[tuple[str, str]]:
    """(label, folder) of every completed job's classifier, for the Predict tab's picker."""
    out = []
    for job in store.list():
        if job.state == "completed" and job.model_dir:
            cfg = job.config
            out.append((f"job {job.id}: {cfg.get('task')} {cfg.get('method')} from "
                        f"{'+'.join(cfg.get('source_languages', []))}", job.model_dir))
    return out
