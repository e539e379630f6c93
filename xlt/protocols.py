"""Comparison protocols: what a record that names one must have kept fixed, so its numbers compare.

A protocol is a name a record carries (`protocol: cpu-v1`). A name registered here is also a promise that
is checked before anything trains (`xlt train --protocol`, `xlt sweep` on every backend, the app's queued grid
cells): the encoder, the base recipe (every training setting but the seed, the precision and the
checkpointing), the task's default splits, the seeds, the tasks with their evaluation rows, the precision
training runs at and one process (several GPUs would multiply the batch). A run that breaks it is refused with
the settings it changed, before anything trains. Among records, a grid's cell is done only by a record that
names the protocol and follows it, the methods table leaves out any record that names it without following
it (an upload, an older file), and the leaderboard's views (Protocol filter, method chart, transfer matrix,
source ranker) count such a record under "NAME (not followed)", apart from the runs that kept it.
An unregistered name stays a free label for a user's own series of runs.

`cpu-v1` is the protocol behind the README's methods table, transfer matrices and source ranker.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import XltError

# training settings a protocol does not fix: the seed is checked against its seeds, the precision on its own
# (`auto` differs by machine), and checkpointing or evaluation batching change nothing a record measures
FREE_TRAIN_FIELDS = {"seed", "precision", "save_steps", "eval_batch_size"}


@dataclass(frozen=True)
class Protocol:
    name: str
    description: str
    model: str
    train: dict  # every TrainConfig field outside FREE_TRAIN_FIELDS, at its fixed value
    eval_rows: dict = field(default_factory=dict)  # task -> max_eval_samples (None: the full test files)
    seeds: tuple[int, ...] = ()
    precision: str = "fp32"  # what training must run at (`auto` is checked as what it resolves to)
    world_size: int = 1  # training processes (each GPU of a multi-GPU run takes a batch of its own)

    def fixed_settings(self) -> str:
        """Everything the protocol fixes, as `name=value` on one line (`xlt protocols`)."""
        parts = [f"model={self.model}", *(f"{k}={v}" for k, v in self.train.items()),
                 *(f"max_eval_samples[{task}]={rows}" for task, rows in self.eval_rows.items()),
                 "train_split/eval_split=the task's", f"seed in {','.join(map(str, self.seeds))}",
                 f"precision={self.precision}", f"processes={self.world_size}"]
        return " ".join(parts)

    def problems(self, config) -> list[str]:
        """How `config` (an ExperimentConfig) breaks this protocol; empty when it follows it."""
        out = []
        if config.task not in self.eval_rows:
            out.append(f"task {config.task!r} is not one of its tasks ({', '.join(sorted(self.eval_rows))})")
        for split in ("train_split", "eval_split"):
            if getattr(config, split) is not None:
                out.append(f"{split} {getattr(config, split)!r} (the protocol's: the task's default)")
        if config.model != self.model:
            out.append(f"model {config.model!r} (the protocol's: {self.model!r})")
        if self.seeds and config.train.seed not in self.seeds:
            out.append(f"seed {config.train.seed} (the protocol's: {', '.join(map(str, self.seeds))})")
        for name, value in self.train.items():
            if getattr(config.train, name) != value:
                out.append(f"{name} {getattr(config.train, name)!r} (the protocol's: {value!r})")
        if config.task in self.eval_rows and config.train.max_eval_samples != self.eval_rows[config.task]:
            out.append(f"max_eval_samples {config.train.max_eval_samples!r} (the protocol's for {config.task}: "
                       f"{self.eval_rows[config.task]!r})")
        return out


CPU_V1 = Protocol(
    name="cpu-v1",
    description="the offline default encoder, LoRA on all linear layers (r 16, alpha 32), lr 2e-4, 6 epochs, "
                "batch 16, max length 128, seeds 42/43/44, float32; sentiment on the full test files, NLI on "
                "the same 1,500 test rows per language",
    model="multilingual-e5-small",
    train={"learning_rate": 0.0002, "batch_size": 16, "epochs": 6.0, "max_length": 128, "max_train_samples": None,
           "weight_decay": 0.01, "warmup_ratio": 0.1, "finetune": "lora", "lora_r": 16, "lora_alpha": 32,
           "lora_dropout": 0.1, "lora_targets": "all-linear", "freeze_embeddings": True, "encoder_layers": 0,
           "freeze_layers": 0, "average_last_epochs": 0, "dropout": 0.1, "head_init": "random",
           "loss": "cross-entropy", "temperature": 0.05, "gradient_accumulation_steps": 1},
    eval_rows={"sentiment": None, "nli": 1500},
    seeds=(42, 43, 44),
)

PROTOCOLS = {p.name: p for p in (CPU_V1,)}


def get_protocol(name: str | None) -> Protocol | None:
    """The registered protocol of that name; None for no name or a free label."""
    return PROTOCOLS.get(name) if name else None


def check_follows(name: str | None, config, where: str = "") -> None:
    """`XltError` naming every setting by which `config` breaks the registered protocol `name` (nothing for a
    free label), before any work."""
    protocol = get_protocol(name)
    if protocol is None:
        return
    if problems := protocol.problems(config):
        raise XltError(f"{where}{'' if not where else ': '}protocol {name} fixes these settings, and this run "
                       f"changes them: {'; '.join(problems)}. Follow it ({protocol.description}), or name another "
                       "protocol for a series of your own")


def check_world_size(name: str | None, processes: int, where: str = "") -> None:
    """`XltError` when a registered protocol's run would train in more processes than it fixes (several GPUs:
    each takes a batch of its own, so the recipe's batch and step count change)."""
    protocol = get_protocol(name)
    if protocol is not None and processes > protocol.world_size:
        raise XltError(f"{where}{'' if not where else ': '}protocol {name} trains in {protocol.world_size} "
                       f"process(es), and this run would use {processes} (each GPU takes a batch of "
                       f"{protocol.train['batch_size']}): leave --num-gpus out")


def check_precision(name: str | None, resolved: str, where: str = "", configured: str = "auto") -> None:
    """`XltError` when training would run at another precision than the registered protocol `name` trains at
    (`resolved`: the precision the run trains at on this machine, `configured` ('auto' or explicit) resolved)."""
    protocol = get_protocol(name)
    if protocol is not None and resolved != protocol.precision:
        why = " (on a GPU `auto` is half precision)" if configured == "auto" else ""
        raise XltError(f"{where}{'' if not where else ': '}protocol {name} trains in {protocol.precision}, and "
                       f"this run would train in {resolved}{why}: use --precision {protocol.precision}")


def check_run(name: str | None, config, processes: int, where: str = "") -> None:
    """Every check a run under the registered protocol `name` passes before it trains (nothing for a free
    label): its settings, its processes (`processes`) and the precision it trains at on this machine."""
    check_follows(name, config, where)
    if get_protocol(name) is None:
        return
    from .training import resolved_precision

    check_world_size(name, processes, where)
    check_precision(name, resolved_precision(config.train.precision), where, config.train.precision)


def record_problems(record: dict) -> list[str]:
    """How a record that names a registered protocol broke it (a record naming none, or a free label, is not
    judged: empty). An unreadable config is a problem of its own."""
    from .config import ExperimentConfig
    from .results.records import training_precision

    protocol = get_protocol(record.get("protocol"))
    if protocol is None:
        return []
    try:
        config = ExperimentConfig.from_dict(record["config"])
    except Exception as exc:  # noqa: BLE001 - an odd record simply does not follow
        return [f"its config cannot be read ({str(exc)[:80]})"]
    problems = protocol.problems(config)
    if (precision := training_precision(record)) != protocol.precision:
        problems.append(f"trained in {precision} (the protocol's: {protocol.precision})")
    world_size = (record.get("hardware") or {}).get("world_size") or 1
    if not isinstance(world_size, int) or isinstance(world_size, bool):  # an upload's odd value
        problems.append(f"hardware.world_size {str(world_size)[:20]!r} cannot be read")
    elif world_size > protocol.world_size:
        problems.append(f"trained in {world_size} processes (the protocol's: {protocol.world_size})")
    return problems


def follows(record: dict) -> bool:
    """Whether a record that names a registered protocol kept to it (one naming none, or a free label: True)."""
    return not record_problems(record)


def keeps(record: dict, name: str | None) -> bool:
    """Whether `record` can stand for a run under protocol `name`: for a registered protocol, only a record that
    names it and follows it; for a free label or none, any record (of the same settings, which callers match)."""
    return get_protocol(name) is None or (record.get("protocol") == name and follows(record))


NOT_FOLLOWED = " (not followed)"


def protocol_label(record: dict) -> str:
    """The protocol a record counts under in the leaderboard's views: its name ("" for none), or, for a
    registered protocol it breaks, that name marked as not followed, so it never sits among the runs that kept
    it (the Protocol filter, the method chart, the transfer matrix, the source ranker)."""
    name = record.get("protocol") or ""
    if not name:
        return ""
    try:
        kept = follows(record)
    except Exception:  # noqa: BLE001 - an upload of odd shape must never take a view down: it simply does not follow
        kept = False
    return name if kept else f"{name}{NOT_FOLLOWED}"
