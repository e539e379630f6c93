"""Code-switching augmentation: source sentences with words swapped for their dictionary translations.

CoSDA-ML (Qin et al., 2020) fine-tunes on source-language training data in which random words
are replaced by their translation into one of several target languages, taken from bilingual
dictionaries: the encoder sees target words in source contexts, which pulls the languages'
representations together, with no parallel sentences and no target labels. Here, per sentence
and per word, each word is replaced with probability `ratio` by a translation (drawn at random
among the MUSE dictionary's entries) into one of `languages`, chosen at random per word; each
training row gets `copies` code-switched copies (each a new draw), added to the originals when
`keep_original`. Only the data hook changes. Non-English sources go through English word by word.

When to use: no target labels and no translator, but a dictionary for each target language; the
mix of several languages is the point (CoSDA-ML), so list them all.

`languages` defaults to the run's targets other than the sources that have a MUSE dictionary
(others, such as sw and ur, are left out and the record lists what was mixed); languages given
explicitly must all have one. Seen languages are the sources only: code-switched sentences carry
a few target words in source sentences, not labelled target-language data, so every target still
counts as zero-shot in summaries.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from ..errors import XltError
from .base import TransferMethod, capped
from .registry import register_method


@dataclass
class CodeSwitchOptions:
    languages: list[str] = field(default_factory=list, metadata={
        "help": "languages whose dictionary translations are mixed in (default: the run's targets other than the "
                "sources that have a MUSE dictionary)"})
    ratio: float = field(default=0.5, metadata={
        "help": "probability that each word of a code-switched sentence is replaced (0 < ratio <= 1)"})
    copies: int = field(default=1, metadata={"help": "code-switched copies of each training row (each a new draw)"})
    keep_original: bool = field(default=True, metadata={"help": "train on the unchanged source rows too"})


def code_switch_text(text: str, src: str, languages: list[str], ratio: float, rng: random.Random, words) -> str:
    """`text` with each word, with probability `ratio`, replaced by a dictionary translation into a random language."""
    from ..translate.dictionary import WORD, match_case

    def swap(match):
        word = match.group(0)
        if rng.random() >= ratio:
            return word
        lang = rng.choice(languages)
        found = words.candidates(word.lower(), src, lang)
        return match_case(word, rng.choice(found)) if found else word

    return WORD.sub(swap, text)


def mixed_languages(ctx) -> tuple[list[str], list[str]]:
    """(languages to mix, default targets left out for want of a dictionary)."""
    from ..translate.dictionary import WordDictionary

    words = WordDictionary(ctx.data_dir)
    sources = ctx.experiment.source_languages
    if ctx.options.languages:
        return list(dict.fromkeys(ctx.options.languages)), []
    targets = [t for t in (ctx.experiment.target_languages or ctx.task.languages) if t not in sources]
    return [t for t in targets if words.has(t)], [t for t in targets if not words.has(t)]


class CodeSwitch(TransferMethod):
    name = "code-switch"
    options_cls = CodeSwitchOptions
    description = ("Source training data with random words swapped for MUSE dictionary translations into several "
                   "target languages (CoSDA-ML).")
    when_to_use = ("No target labels and no translator, but bilingual dictionaries: mixing target words into "
                   "source sentences aligns the languages cheaply.")
    needs = ("dictionary",)

    def validate(self, ctx) -> None:
        from ..translate.dictionary import WordDictionary

        opts = ctx.options
        if not 0 < opts.ratio <= 1:
            raise XltError(f"ratio must be in (0, 1], got {opts.ratio}")
        if opts.copies < 1:
            raise XltError(f"copies must be >= 1, got {opts.copies}")
        words = WordDictionary(ctx.data_dir)
        if not words.languages():
            raise XltError("code-switch needs the MUSE dictionaries (<XLT_DATA_DIR>/muse/en-{lang}.tsv); "
                           "set XLT_DATA_DIR to a folder laid out like shared/data")
        available = ", ".join(words.languages())
        no_source = [s for s in ctx.experiment.source_languages if not words.has(s)]
        if no_source:
            raise XltError(f"no MUSE dictionary for source language(s) {no_source} (dictionaries: en, {available})")
        langs, _ = mixed_languages(ctx)
        if not langs:
            raise XltError("no target language has a MUSE dictionary to code-switch with; give languages=... "
                           f"(dictionaries: {available})")
        same = [lang for lang in langs if lang in ctx.experiment.source_languages]
        if same:
            raise XltError(f"languages {same} are source languages; code-switching mixes in other languages")
        missing = [lang for lang in langs if not words.has(lang)]
        if missing:
            raise XltError(f"no MUSE dictionary for {missing}; dictionaries exist for en, {available}")

    def train_size(self, ctx, source_rows: dict[str, int]) -> float:
        copies = ctx.options.copies + (1 if ctx.options.keep_original else 0)
        return float(capped(ctx, sum(source_rows.values())) * copies * ctx.train.epochs)

    def seen_languages(self, ctx) -> list[str]:
        return list(ctx.experiment.source_languages)  # code-switched text is not labelled target data

    def training_data(self, ctx):
        import datasets

        from ..data import load_split
        from ..translate.dictionary import WordDictionary

        exp, opts, task = ctx.experiment, ctx.options, ctx.task
        split = exp.train_split or task.train_split
        parts = []
        for lang in exp.source_languages:
            ds = load_split(task, lang, split, ctx.data_dir)
            parts.append(ds.add_column("_lang", [lang] * len(ds)))
        source = datasets.concatenate_datasets(parts) if len(parts) > 1 else parts[0]
        source = source.shuffle(seed=exp.train.seed)
        if exp.train.max_train_samples is not None and exp.train.max_train_samples < len(source):
            source = source.select(range(exp.train.max_train_samples))
        langs, _ = mixed_languages(ctx)
        words = WordDictionary(ctx.data_dir)
        row_langs = source["_lang"]
        versions = [source] if opts.keep_original else []
        for copy in range(opts.copies):
            rng = random.Random(exp.train.seed * 1000 + copy)
            switched = source
            for f in task.text_fields:
                texts = [code_switch_text(str(t or ""), src, langs, opts.ratio, rng, words)
                         for t, src in zip(source[f], row_langs)]
                switched = switched.remove_columns(f).add_column(f, texts)
            versions.append(switched.select_columns(source.column_names))
        ds = datasets.concatenate_datasets(versions) if len(versions) > 1 else versions[0]
        return ds.remove_columns("_lang").shuffle(seed=exp.train.seed)

    def fit(self, ctx, train_ds):
        trained = super().fit(ctx, train_ds)
        langs, left_out = mixed_languages(ctx)
        trained.stats.update({"translator": "dictionary", "translator_kind": "dictionary",
                              "code_switch_languages": langs})
        if left_out:
            trained.stats["code_switch_without_dictionary"] = left_out
        return trained


register_method(CodeSwitch())
