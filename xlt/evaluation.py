"""Per-language evaluation: accuracy, macro-F1, n and a 95% bootstrap interval."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .data import load_split, rows_digest, subset_rows, texts_of
from .metrics import classification_scores
from .tasks import TaskSpec


def evaluate_languages(classifier, task: TaskSpec, languages: Sequence[str] | None = None, *,
                       split: str | None = None, data_dir=None, max_samples: int | None = None,
                       seed: int = 0, batch_size: int = 64, show_progress: bool = True,
                       premise_control: bool = False) -> dict[str, dict]:
    """Score `classifier` (anything with `predict_proba(first, second, lang)`) on each language.

    Returns `{lang: {accuracy, macro_f1, n, ci95}}`, `ci95` being for the task's metric, and with
    `max_samples`, `rows`: a digest of the seeded subset's row indices (the same rows in every run). With
    `premise_control` (pair tasks), also `premise_shuffled_accuracy`: the same model with the first
    texts (premises) permuted with `seed`, i.e. how much of the score needs no premise at all
    (hypothesis-only cues).
    """
    from tqdm.auto import tqdm

    languages = list(languages or task.languages)
    split = split or task.eval_split
    full = {lang: load_split(task, lang, split, data_dir) for lang in languages}
    subsets = {lang: subset_rows(len(ds), max_samples, seed) for lang, ds in full.items()}
    loaded = {lang: ds if subsets[lang] is None else ds.select(subsets[lang]) for lang, ds in full.items()}
    total = sum(len(ds) for ds in loaded.values())
    results: dict[str, dict] = {}
    takes_rows = getattr(classifier, "takes_rows", False)

    def rows(first_rows: list[int], second_rows: list[int]) -> dict:
        """A classifier that looks task rows up (translate-test with gold translations) is told which they are."""
        return {"rows": (split, first_rows, second_rows)} if takes_rows else {}

    with tqdm(total=total, desc=f"evaluate {task.name}", unit="ex", disable=not show_progress) as bar:
        for lang, ds in loaded.items():
            bar.set_postfix_str(lang)
            first, second = texts_of(task, ds)
            index = list(subsets[lang]) if subsets[lang] is not None else list(range(len(ds)))
            probs = classifier.predict_proba(first, second, lang=lang, batch_size=batch_size, progress=bar.update,
                                             **rows(index, index))
            preds = probs.argmax(axis=1) if len(probs) else np.zeros(0, dtype=int)
            results[lang] = classification_scores(ds["label"], preds, len(task.label_names), seed=seed,
                                                  primary=task.metric)
            if subsets[lang] is not None:  # which rows were scored: equal digests, equal rows
                results[lang]["rows"] = rows_digest(subsets[lang])
            if premise_control and second is not None and len(first) > 1:
                order = np.random.default_rng(seed).permutation(len(first))
                shuffled = classifier.predict_proba([first[i] for i in order], second, lang=lang,
                                                    batch_size=batch_size, **rows([index[i] for i in order], index))
                results[lang]["premise_shuffled_accuracy"] = float(
                    (shuffled.argmax(axis=1) == np.asarray(ds["label"])).mean())
    return results


def summarise(metrics: dict[str, dict], metric: str, source_languages: Sequence[str],
              seen_languages: Sequence[str] | None = None) -> dict:
    """Average over the targets (every evaluated language but the source languages the run trained on)
    and the transfer gap (source score minus that average).

    `seen_languages` (default: the sources) are the languages the run saw labelled data or translations
    in: a source it did not train on (a published model's, unknown) is a target; targets it saw some data
    in (few-shot examples, translations) stay targets, so methods compare on the same languages, and are
    listed as `seen_targets`."""
    seen = list(source_languages) if seen_languages is None else list(seen_languages)
    trained = [lang for lang in source_languages if lang in seen]
    targets = [lang for lang in metrics if lang not in trained and metrics[lang].get(metric) is not None]
    sources = [lang for lang in metrics if lang in trained and metrics[lang].get(metric) is not None]
    target_avg = float(np.mean([metrics[lang][metric] for lang in targets])) if targets else None
    source_score = float(np.mean([metrics[lang][metric] for lang in sources])) if sources else None
    gap = source_score - target_avg if source_score is not None and target_avg is not None else None
    return {
        "metric": metric,
        "target_languages": targets,
        "seen_targets": [lang for lang in targets if lang in seen],
        "target_average": target_avg,
        "source_score": source_score,
        "transfer_gap": gap,
    }


def dev_report(task: TaskSpec, source: str, predictions: dict) -> str:
    """One line, `source=… target_avg=… | lang=…`, in the task's metric from `{lang: (probabilities, labels)}`
    (the recipe-search scripts under scripts/ print it)."""
    metrics = {lang: classification_scores(labels, probs.argmax(1), len(task.label_names), n_boot=200,
                                           primary=task.metric)
               for lang, (probs, labels) in predictions.items()}
    s = summarise(metrics, task.metric, [source])
    per_lang = " ".join(f"{k}={v[task.metric]:.3f}" for k, v in metrics.items())
    return f"source={s['source_score']:.4f} target_avg={s['target_average']:.4f} | {per_lang}"
