"""A test-only transfer method (not shipped) that uses every hook of the method contract.

Loaded through `XLT_PLUGINS=tests.plugin_method`, as a user's own method would be.

- options of every type (list, bool, float, optional str);
- validate: each `shot_languages` code must exist for the task;
- seen languages: the sources plus `shot_languages`;
- data hook: the source training data plus `shots` rows of each shot language;
- fit hook: trains one member in a sub-run (its own folder and seed), then wraps it;
- prediction hook + artifact kind `lang-bias`: adds a per-language bias to the log-probabilities,
  so a prediction depends on the language it is given; saved and reloaded with the model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from xlt.errors import XltError
from xlt.methods import TransferMethod, register_method
from xlt.models.artifacts import ArtifactKind, register_artifact_kind

BIAS_FILE = "lang_bias.json"


@dataclass
class ProbeOptions:
    shot_languages: list[str] = field(default_factory=list, metadata={"help": "languages to add labelled rows of"})
    shots: int = field(default=4, metadata={"help": "rows per shot language"})
    bias: float = field(default=0.0, metadata={"help": "log-probability added to class 0 for shot languages"})
    flip: bool = field(default=False, metadata={"help": "add the bias to the last class instead"})
    note: str | None = field(default=None, metadata={"help": "free text, recorded"})


class LangBiasArtifact:
    """A trained classifier whose prediction hook depends on the input language."""

    def __init__(self, inner, biases: dict[str, list[float]]):
        self.inner, self.biases = inner, biases
        self.info, self.tokenizer, self.model, self.stats = inner.info, inner.tokenizer, inner.model, inner.stats
        self.info.kind = "lang-bias"
        self.calls: list = []

    def predict_proba(self, first, second=None, lang=None, batch_size=64, progress=None):
        self.calls.append(lang)
        probs = self.inner.predict_proba(first, second, batch_size=batch_size, progress=progress)
        langs = lang if isinstance(lang, list) else [lang] * len(first)
        logits = np.log(np.clip(probs, 1e-9, 1.0))
        for i, code in enumerate(langs):
            logits[i] += np.asarray(self.biases.get(code, [0.0] * probs.shape[1]))
        out = np.exp(logits - logits.max(axis=1, keepdims=True))
        return out / out.sum(axis=1, keepdims=True)

    def save(self, folder):
        folder = Path(self.inner.save(folder))
        (folder / BIAS_FILE).write_text(json.dumps(self.biases))
        return folder


def load(folder: Path) -> LangBiasArtifact:
    from xlt.models.classifier_artifact import load as load_classifier_artifact

    return LangBiasArtifact(load_classifier_artifact(folder), json.loads((folder / BIAS_FILE).read_text()))


class Probe(TransferMethod):
    name = "test-probe"
    options_cls = ProbeOptions
    description = "Test-only method that exercises every hook."
    needs = ("target labels",)
    artifact_kind = "lang-bias"

    def validate(self, ctx):
        bad = [lang for lang in ctx.options.shot_languages if lang not in ctx.task.languages]
        if bad:
            raise XltError(f"shot_languages {bad} are not languages of task {ctx.task.name!r}")
        if ctx.options.shots < 1:
            raise XltError("shots must be >= 1")

    def seen_languages(self, ctx):
        return list(dict.fromkeys([*ctx.experiment.source_languages, *ctx.options.shot_languages]))

    def training_data(self, ctx):
        import datasets

        from xlt.data import load_split
        from xlt.methods.data import load_source_training_data

        parts = [load_source_training_data(ctx)]
        for lang in ctx.options.shot_languages:
            rows = load_split(ctx.task, lang, ctx.task.train_split, ctx.data_dir)
            parts.append(rows.shuffle(seed=ctx.train.seed).select(range(ctx.options.shots)))
        return datasets.concatenate_datasets(parts)

    def fit(self, ctx, train_ds):
        member = ctx.sub_run("member-0", seed=ctx.train.seed + 1)
        trained = super().fit(member, train_ds)
        trained.stats["member_output_dir"] = str(member.output_dir)
        trained.stats["member_seed"] = member.train.seed
        n = len(ctx.task.label_names)
        vector = [0.0] * n
        vector[-1 if ctx.options.flip else 0] = ctx.options.bias
        return LangBiasArtifact(trained, {lang: vector for lang in ctx.options.shot_languages})


register_artifact_kind(ArtifactKind("lang-bias", load, "classifier + per-language bias (test only)"))
register_method(Probe())
