"""Embedding alignment: map each target language's sentence embeddings onto English before classifying.

A multilingual encoder's sentence embeddings carry a language-specific component: each language sits
in its own region of the space, so a classifier fit on English embeddings meets target-language
inputs off the region it learnt. Libovický, Rosa & Fraser (2020, "On the language neutrality of
pre-trained multilingual representations") remove it with two cheap, linear fixes fitted on a few
hundred parallel sentences, both of which made mBERT's and XLM-R's representations more language
neutral: subtracting each language's centroid (`mapping=center`), and a linear projection onto
English (`mapping=orthogonal`: the orthogonal Procrustes rotation of the centred embeddings, as for
aligned word embeddings: Conneau et al., 2018; Schuster et al., 2019). Here the parallel sentences
are Tatoeba's test sets from LASER (`<XLT_DATA_DIR>/tatoeba/<iso639-3>.jsonl`, each target sentence
with its English translation; without a data folder, MTEB's copy on the Hub; at most `pairs` per
language), so the source language must be English.

The method changes the *fit* hook (after the classifier is fit, one map per target language is
fitted on the features its head reads) and the *prediction* hook: the saved model's kind is
`embedding-alignment` (the classifier + `alignment.safetensors`), whose `predict_proba` maps each
input from the language it is given (one code per batch in evaluation, the detected one per input
in Predict) before the head; English, and languages without a map, pass unchanged. The classifier
is a logistic regression on frozen embeddings (`classifier=frozen`, as `frozen-embedding`: the
setting the paper measured) or the fine-tuned zero-shot model of these settings
(`classifier=fine-tuned`, which shares that run's checkpoints). For pair tasks (NLI) the map is
fitted on single sentences and applied to the pair's pooled embedding: whether that transfers is
what the records measure.

When to use: a frozen or fine-tuned source model, a few hundred sentences of parallel text per
target language, and no translator good enough for translate-test.
"""

from __future__ import annotations

import contextlib
import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..errors import XltError
from ..models.artifacts import ArtifactKind, WrappedArtifact, inference_mode, register_artifact_kind
from .base import TransferMethod, zero_shot_run_finished, zero_shot_run_folder
from .registry import register_method

ALIGNMENT_FILE = "alignment.safetensors"
HUB_DATASET = "mteb/tatoeba-bitext-mining"
CLASSIFIERS = ("frozen", "fine-tuned")
MAPPINGS = ("center", "orthogonal")
# Tatoeba's file names where they differ from lang2vec's ISO 639-3 code of the ISO 639-1 one (macro-languages)
TATOEBA_CODES = {"zh": "cmn", "sw": "swh", "fa": "pes", "ms": "zsm", "lv": "lvs", "no": "nob", "et": "est",
                 "ar": "ara", "sq": "sqi", "uz": "uzb"}


@dataclass
class EmbeddingAlignmentOptions:
    classifier: str = field(default="frozen", metadata={
        "help": "the classifier whose features are aligned: frozen (logistic regression on frozen embeddings, as "
                "frozen-embedding) or fine-tuned (the zero-shot model of these settings)", "choices": CLASSIFIERS})
    mapping: str = field(default="orthogonal", metadata={
        "help": "center: move each language's centroid onto English's; orthogonal: centre, rotate onto English "
                "(Procrustes), move to English's centroid", "choices": MAPPINGS})
    pairs: int = field(default=1000, metadata={"help": "parallel Tatoeba sentences per language, at most"})
    c: float = field(default=1.0, metadata={"help": "classifier=frozen: inverse L2 strength (scikit-learn's C)"})


def _tatoeba_codes(lang: str) -> list[str]:
    """Tatoeba's names for `lang` (ISO 639-1), most likely first."""
    names = [TATOEBA_CODES.get(lang)]
    with contextlib.suppress(XltError):  # lang2vec's 639-1 -> 639-3 table (a requirement of the ranker)
        from ..ranking.typology import import_lang2vec

        names.append(import_lang2vec().LETTER_CODES.get(lang))
    names.append(lang)
    return [n for n in dict.fromkeys(names) if n]


def tatoeba_path(lang: str, data_dir: str | Path | None) -> Path | None:
    """The Tatoeba file of `lang` (ISO 639-1) under the data folder, None where there is none."""
    if data_dir is None:
        return None
    folder = Path(data_dir) / "tatoeba"
    return next((folder / f"{n}.jsonl" for n in _tatoeba_codes(lang) if (folder / f"{n}.jsonl").is_file()), None)


def parallel_sentences(path: Path, limit: int) -> tuple[list[str], list[str]]:
    """(target sentences, their English translations) of a Tatoeba file: the first `limit` usable rows."""
    texts, english = [], []
    try:
        with open(path, encoding="utf-8") as handle:
            for n, line in enumerate(handle, 1):
                if len(texts) >= limit:
                    break
                if not line.strip():
                    continue
                row = json.loads(line)
                if not isinstance(row, dict):
                    raise ValueError(f"line {n} is not an object")
                _keep(texts, english, row.get("text"), row.get("english"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise XltError(f"cannot read the parallel sentences {path}: {exc}") from None
    return texts, english


def _keep(texts: list, english: list, a, b) -> None:
    if isinstance(a, str) and isinstance(b, str) and a.strip() and b.strip():
        texts.append(a)
        english.append(b)


def hub_parallel_sentences(lang: str, limit: int) -> tuple[list[str], list[str]]:
    """The same test sets from the Hub, where there is no local data folder (a Space): MTEB's copy of the
    LASER Tatoeba files, config `<code>-eng`, `sentence1` in the language and `sentence2` in English."""
    import datasets

    config = f"{_tatoeba_codes(lang)[0]}-eng"
    try:
        ds = datasets.load_dataset(HUB_DATASET, config, split="test")
    except Exception as exc:  # network, auth, a language MTEB does not have
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
        raise XltError(f"could not load the parallel sentences {HUB_DATASET} ({config}) from the Hub: {reason}. "
                       "Offline, set XLT_DATA_DIR to a folder with tatoeba/<iso639-3>.jsonl") from None
    if not {"sentence1", "sentence2"} <= set(ds.column_names):
        raise XltError(f"{HUB_DATASET} ({config}) has columns {ds.column_names}, not sentence1 and sentence2")
    texts, english = [], []
    for row in ds:
        if len(texts) >= limit:
            break
        _keep(texts, english, row["sentence1"], row["sentence2"])
    return texts, english


def load_parallel(lang: str, data_dir: str | Path | None, limit: int) -> tuple[list[str], list[str]]:
    """At most `limit` (sentence in `lang`, its English translation) pairs: the local Tatoeba file, else the Hub's."""
    if data_dir is None:
        texts, english = hub_parallel_sentences(lang, limit)
        where = f"{HUB_DATASET} ({_tatoeba_codes(lang)[0]}-eng)"
    else:
        path = tatoeba_path(lang, data_dir)
        if path is None:
            raise XltError(f"no Tatoeba parallel sentences for {lang} in {Path(data_dir) / 'tatoeba'}")
        texts, english = parallel_sentences(path, limit)
        where = str(path)
    if len(texts) < 2:
        raise XltError(f"{where} holds fewer than 2 usable sentence pairs")
    return texts, english


@dataclass
class LanguageMap:
    """x -> (x - source_mean) @ rotation + english_mean (no rotation: centroid shift only)."""

    source_mean: np.ndarray
    english_mean: np.ndarray
    rotation: np.ndarray | None = None

    def apply(self, x: np.ndarray, normalize: bool) -> np.ndarray:
        centred = x - self.source_mean
        out = (centred @ self.rotation if self.rotation is not None else centred) + self.english_mean
        if normalize:
            out = out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out.astype(np.float32)


def fit_map(x: np.ndarray, y: np.ndarray, mapping: str) -> LanguageMap:
    """The map of embeddings `x` (a language's sentences) onto `y` (their English translations), row by row."""
    if mapping not in MAPPINGS:
        raise XltError(f"mapping must be one of {MAPPINGS}, got {mapping!r}")
    mx, my = x.mean(0), y.mean(0)
    rotation = None
    if mapping == "orthogonal":  # argmin ||(x - mx) R - (y - my)|| over orthogonal R: U V^T of svd((x-mx)^T (y-my))
        u, _, vt = np.linalg.svd((x - mx).T.astype(np.float64) @ (y - my).astype(np.float64))
        rotation = (u @ vt).astype(np.float32)
    return LanguageMap(mx.astype(np.float32), my.astype(np.float32), rotation)


class AlignedClassifier(WrappedArtifact):
    """A classifier whose prediction hook maps each input's pooled embedding onto English before the head."""

    def __init__(self, inner, maps: dict[str, LanguageMap], mapping: str) -> None:
        super().__init__(inner)
        self.maps, self.mapping = maps, mapping
        self.info.kind = "embedding-alignment"
        self.info.extra = {**self.info.extra, "alignment": {"mapping": mapping, "languages": sorted(maps)}}

    def features(self, first, second=None, lang=None, batch_size: int = 64, progress=None) -> np.ndarray:
        """The pooled embeddings the head reads, each mapped from its language."""
        from ..inference import pooled_features

        first = [str(t or "") for t in first]
        second = [str(t or "") for t in second] if second is not None else None
        feats = pooled_features(self.model, self.tokenizer, first, second, prefix=self.info.text_prefix,
                                max_length=self.info.max_length, batch_size=batch_size, progress=progress)
        langs = list(lang) if isinstance(lang, (list, tuple)) else [lang] * len(first)
        if len(langs) != len(first):
            raise XltError(f"{len(langs)} languages given for {len(first)} inputs")
        for code in set(langs) & set(self.maps):
            rows = [i for i, c in enumerate(langs) if c == code]
            feats[rows] = self.maps[code].apply(feats[rows], self.info.normalize)
        return feats

    def language_note(self, lang: str) -> str | None:
        """What Predict says about the hook for an input detected as `lang`."""
        if lang in self.maps:
            how = "rotated and moved" if self.mapping == "orthogonal" else "moved"
            return (f"Its embedding was {how} onto English's before classifying (a map fitted on parallel "
                    f"'{lang}'-English sentences).")
        if lang == "en":
            return None
        return f"No alignment map for '{lang}' (maps: {', '.join(sorted(self.maps))}): classified unmapped."

    def predict_proba(self, first, second=None, lang=None, batch_size: int = 64, progress=None):
        import torch

        feats = self.features(first, second, lang, batch_size, progress)
        head = self.model.head  # the module itself: an int8 head (every_linear) has no plain weight tensor
        with torch.inference_mode():
            logits = head(torch.from_numpy(feats).to(next(self.model.parameters()).device)).float()
            return torch.softmax(logits, dim=-1).cpu().numpy().astype(np.float32)

    def save(self, folder: str | Path) -> Path:
        from safetensors.numpy import save_file

        out = Path(self.inner.save(folder))  # the info (kind, mapping, languages) is the inner's
        arrays = {}
        for code, m in self.maps.items():
            arrays[f"{code}.source_mean"], arrays[f"{code}.english_mean"] = m.source_mean, m.english_mean
            if m.rotation is not None:
                arrays[f"{code}.rotation"] = m.rotation
        save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(out / ALIGNMENT_FILE))
        return out


def load(folder: Path) -> AlignedClassifier:
    from safetensors.numpy import load_file

    from ..models.classifier_artifact import load as load_classifier_artifact

    inner = load_classifier_artifact(folder)
    settings = inner.info.extra.get("alignment") or {}
    width = inner.model.head.in_features
    try:
        arrays = load_file(str(Path(folder) / ALIGNMENT_FILE))
        mapping = settings["mapping"]
        maps = {code: LanguageMap(arrays[f"{code}.source_mean"], arrays[f"{code}.english_mean"],
                                  arrays.get(f"{code}.rotation")) for code in settings["languages"]}
        for code, m in maps.items():
            if m.source_mean.shape != (width,) or m.english_mean.shape != (width,) or (
                    (m.rotation is None) != (mapping == "center")) or (
                    m.rotation is not None and m.rotation.shape != (width, width)):
                raise ValueError(f"the map of {code} does not fit the {width}-wide embeddings of a {mapping} map")
    except Exception as exc:  # a missing or torn file, or an info that does not name its maps
        raise XltError(f"{folder} is an embedding-alignment model whose maps cannot be read ({type(exc).__name__}: "
                       f"{str(exc)[:160]}); the folder may be damaged") from None
    return AlignedClassifier(inner, maps, mapping)


class EmbeddingAlignment(TransferMethod):
    name = "embedding-alignment"
    options_cls = EmbeddingAlignmentOptions
    description = ("A source classifier whose inputs' sentence embeddings are mapped onto English per language "
                   "(centroid shift or Procrustes rotation fitted on Tatoeba parallel sentences).")
    when_to_use = ("A few hundred parallel sentences per target language and no good translator; cheap on top of a "
                   "frozen or fine-tuned English model.")
    needs = ("parallel sentences",)
    multi_source = False
    artifact_kind = "embedding-alignment"

    def _targets(self, ctx) -> list[str]:
        source = ctx.experiment.source_languages[0]
        return [lang for lang in ctx.experiment.target_languages or ctx.task.languages if lang != source]

    def validate(self, ctx) -> None:
        opts = ctx.options
        if ctx.experiment.source_languages != ["en"]:
            raise XltError("embedding-alignment maps every language onto English (Tatoeba pairs each language with "
                           f"English): the source must be en, got {ctx.experiment.source_languages}")
        if opts.classifier not in CLASSIFIERS:
            raise XltError(f"classifier must be one of {CLASSIFIERS}, got {opts.classifier!r}")
        if opts.mapping not in MAPPINGS:
            raise XltError(f"mapping must be one of {MAPPINGS}, got {opts.mapping!r}")
        if not 2 <= opts.pairs <= 100_000:
            raise XltError(f"pairs must be in 2..100000, got {opts.pairs}")
        if not (math.isfinite(opts.c) and opts.c > 0):
            raise XltError(f"c must be a positive number, got {opts.c}")
        if ctx.data_dir is None:  # the Hub's copy: read (and any missing language refused) before training
            return
        missing = [lang for lang in self._targets(ctx) if tatoeba_path(lang, ctx.data_dir) is None]
        if missing:
            raise XltError(f"no Tatoeba parallel sentences for {', '.join(missing)} in {Path(ctx.data_dir) / 'tatoeba'}"
                           "; leave those targets out (--targets)")

    def timed_like(self, options) -> str | None:
        return "frozen-embedding" if options.classifier == "frozen" else None

    def _alignment_size(self, ctx) -> float:
        """The parallel sentences embedded to fit the maps (both sides), counted as example-epochs."""
        return 2.0 * ctx.options.pairs * len(self._targets(ctx))

    def train_size(self, ctx, source_rows: dict[str, int]) -> float:
        from .frozen_embedding import FrozenEmbedding

        # the classifier's training (or frozen-embedding's one embedding pass), and a pass over the parallel sentences
        classifier = TransferMethod if ctx.options.classifier == "fine-tuned" else FrozenEmbedding
        return classifier.train_size(self, ctx, source_rows) + self._alignment_size(ctx)

    def remaining_train_size(self, ctx, source_rows: dict[str, int]) -> float:
        """Only the maps once the fine-tuned zero-shot run it shares is trained."""
        if ctx.options.classifier == "fine-tuned" and zero_shot_run_finished(ctx):
            return self._alignment_size(ctx)
        return self.train_size(ctx, source_rows)

    def fit(self, ctx, train_ds):
        import time

        from ..inference import pooled_features

        opts = ctx.options
        # the parallel sentences first: a language without them fails before the classifier trains
        parallel = {lang: load_parallel(lang, ctx.data_dir, opts.pairs) for lang in self._targets(ctx)}
        if opts.classifier == "frozen":
            from .frozen_embedding import FrozenEmbedding, FrozenEmbeddingOptions

            inner = FrozenEmbedding().fit(replace(ctx, options=FrozenEmbeddingOptions(c=opts.c)), train_ds)
        else:
            from ..training import train_classifier

            # the source model is exactly the zero-shot run of these settings: share its checkpoint folder
            inner = train_classifier(ctx.task, ctx.model_spec, train_ds, ctx.train, zero_shot_run_folder(ctx),
                                     callbacks=ctx.callbacks, languages=self.seen_languages(ctx))
        started = time.perf_counter()
        maps, pairs = {}, {}
        spec = ctx.model_spec
        width = inner.model.head.in_features
        short = {lang: len(t) for lang, (t, _) in parallel.items() if len(t) <= width}
        if opts.mapping == "orthogonal" and short:
            counts = ", ".join(f"{lang} has {n}" for lang, n in short.items())
            raise XltError(f"an orthogonal map of {width}-wide embeddings needs more than {width} sentence pairs per "
                           f"language (fewer leave the rotation partly arbitrary): {counts}; use mapping=center, "
                           "more pairs, or leave those targets out")
        with inference_mode(inner):
            for lang, (texts, english) in parallel.items():
                x, y = (pooled_features(inner.model, inner.tokenizer, side, prefix=spec.text_prefix,
                                        max_length=ctx.train.max_length, batch_size=ctx.train.eval_batch_size)
                        for side in (texts, english))
                maps[lang] = fit_map(x, y, opts.mapping)
                before = float(np.linalg.norm(x.mean(0) - y.mean(0)))
                pairs[lang] = {"pairs": len(texts), "centroid_distance_before": round(before, 4)}
        inner.stats["alignment_pairs"] = pairs
        inner.stats["alignment_seconds"] = seconds = round(time.perf_counter() - started, 2)
        inner.stats["train_seconds"] = round(inner.stats.get("train_seconds", 0.0) + seconds, 2)  # the maps too
        return AlignedClassifier(inner, maps, opts.mapping)


register_artifact_kind(ArtifactKind("embedding-alignment", load,
                                    "classifier + per-language maps of its embeddings onto English"))
register_method(EmbeddingAlignment())
