"""Predict-tab callbacks: plain functions returning what the UI shows; errors become messages.

The `*_batch` functions are what the app wires, with Gradio's native batching: concurrent
requests arrive as lists and share forward passes (one list per input, one per output).
The model field accepts only the shipped predictors, folders under an allowed root (the
app's jobs, `XLT_MODEL_ROOTS`) and Hub ids, so it cannot be used to probe the server's disk.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path

from ..access import sign_in_required
from ..errors import XltError
from ..predict import SHIPPED_DIR, check_text, load_predictor

MAX_LABELS = 50
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}$")
NOT_LISTED = ("is not a listed model: choose one from the list (shipped predictors and this app's trained "
              "models) or give a Hub id (owner/name)")


def model_roots(home: str | Path | None = None) -> list[Path]:
    """Folders whose classifiers the app may load: its jobs, plus `XLT_MODEL_ROOTS` (os.pathsep-separated)."""
    from ..settings import home_dir

    roots = [Path(home or home_dir()) / "jobs", SHIPPED_DIR]
    roots += [Path(p).expanduser() for p in os.environ.get("XLT_MODEL_ROOTS", "").split(os.pathsep) if p.strip()]
    return [r.resolve() for r in roots]


def app_model(name: object, roots: Sequence[Path] | None = None) -> str:
    """The canonical model key for a value typed into the model field, or `XltError`.

    The same message answers for a folder that exists outside the allowed roots and one that
    does not exist at all, so the field says nothing about the file system.
    """
    text = name.strip() if isinstance(name, str) else ""
    if not text:
        raise XltError("choose a model")
    if len(text) > 300 or "\x00" in text:
        raise XltError("that is not a model name")
    shown = text[:80]
    if "/" not in text and (SHIPPED_DIR / text / "xlt_classifier.json").is_file():
        return text
    roots = list(roots) if roots is not None else model_roots()
    try:
        path = Path(text).expanduser().resolve()
    except (OSError, RuntimeError):
        raise XltError(f"{shown!r} {NOT_LISTED}") from None
    if any(path == root or root in path.parents for root in roots):
        if (path / "xlt_classifier.json").is_file() or (path / "config.json").is_file():
            return str(path)
        raise XltError(f"{shown!r} {NOT_LISTED}")
    if HUB_ID.match(text) and not text.startswith((".", "~")) and not Path(text).exists():
        if sign_in_required() and text not in allowed_hub_models():
            # on a public Space a visitor cannot make it download (with its token) whatever they name
            raise XltError(f"{shown!r} is not one of this Space's Hub models: {', '.join(allowed_hub_models())}")
        return text
    raise XltError(f"{shown!r} {NOT_LISTED}")


def allowed_hub_models() -> list[str]:
    """Hub classifiers a Space's visitors may pick: the recommended ones and `XLT_ALLOWED_HUB_MODELS`."""
    from ..models.registry import HUB_PREDICTORS

    extra = [m.strip() for m in os.environ.get("XLT_ALLOWED_HUB_MODELS", "").split(",") if m.strip()]
    return [m for ids in HUB_PREDICTORS.values() for m in ids] + extra


def _language_note(language: str, covered: bool, notices: list[str], transfer: str = "unknown") -> str:
    from ..models.languages import language_label

    seen = {"seen": " · the model saw labelled data in it", "zero-shot": " · zero-shot transfer"}.get(transfer, "")
    lines = [f"Detected language: **{language_label(language)}**"
             + ("" if covered else " (not covered by the encoder)") + seen]
    lines += [f"- {n}" for n in notices]
    return "\n".join(lines)


def _load(model: object, roots) -> object:
    """The predictor of a model field's value; a Hub model from its local copy, fetched in the background
    when missing (a Predict request never waits on a download: `xlt.models.hub_fetch`)."""
    from ..models.hub_fetch import local_copy

    name = app_model(model, roots)
    if not HUB_ID.match(name) or Path(name).exists():
        return load_predictor(name)
    folder = str(local_copy(name))
    try:
        return load_predictor(folder)
    except XltError as exc:  # messages name the repo, not the server's cache folder
        raise XltError(str(exc).replace(folder, name)) from None


def warm_in_background(models: Sequence[str]):
    """Load `models` in a daemon thread (the app's start-up): a request meanwhile waits for the same load,
    never starts a second one. Returns the thread."""
    import threading

    def warm():
        for model in models:
            try:
                load_predictor(model)
            except Exception as exc:  # noqa: BLE001 - a request will report it; start-up goes on
                logging.getLogger(__name__).warning("could not preload %s: %s", model, exc)

    thread = threading.Thread(target=warm, name="xlt-warm-predictors", daemon=True)
    thread.start()
    return thread


def _error(exc: Exception) -> tuple[dict, str]:
    return {}, f"**Error:** {exc}"


def _grouped(models: Sequence[str]) -> dict[str, list[int]]:
    """Request indices by model, so each model runs one forward pass over its share of the batch."""
    groups: dict[str, list[int]] = {}
    for i, model in enumerate(models):
        key = model if isinstance(model, str) else "" if model is None else f"<{type(model).__name__}>"
        groups.setdefault(key, []).append(i)  # no model (an empty field): "choose a model"
    return groups


def _failure(exc: Exception, doing: str, model: str) -> XltError:
    """An unexpected error of one model's share of a batch, as the message its requests get (the details go
    to the server log, never to the visitor: they can hold paths): the other models' requests still answer."""
    if isinstance(exc, XltError):
        return exc
    logging.getLogger(__name__).exception("predict: could not %s %s", doing, model[:80])
    return XltError(f"could not {doing} this model ({type(exc).__name__}); the server log has the details")


def _predict_grouped(n: int, models: list, roots, check, run, note=None) -> tuple[list[dict], list[str]]:
    """One result per request: requests grouped by model, each model loaded once and run once over its
    valid requests (`check(predictor, i)` raises for a bad one; `run(predictor, indices)` predicts). A model
    that fails, however it fails, fails only its own requests."""
    out: list[tuple[dict, str]] = [({}, "")] * n
    for model, idx in _grouped(models).items():
        try:
            predictor = _load(model, roots)
        except Exception as exc:  # noqa: BLE001 - one broken model never fails the batch's other requests
            for i in idx:
                out[i] = _error(_failure(exc, "load", model))
            continue
        good = []
        for i in idx:
            try:
                check(predictor, i)
                good.append(i)
            except XltError as exc:
                out[i] = _error(exc)
        if not good:
            continue
        try:
            results = run(predictor, good)
        except Exception as exc:  # noqa: BLE001 - as above
            for i in good:
                out[i] = _error(_failure(exc, "run", model))
            continue
        for i, result in zip(good, results):
            text = _language_note(result.language, result.language_covered, result.notices, result.transfer)
            out[i] = (dict(result.probabilities), (note(predictor) if note else "") + text)
    return [o[0] for o in out], [o[1] for o in out]


def predict_sentiment_batch(texts: list[str], models: list[str],
                            roots: Sequence[Path] | None = None) -> tuple[list[dict], list[str]]:
    """Batched single-text classification: one result per request, in order."""
    return _predict_grouped(len(texts), models, roots, lambda p, i: check_text(texts[i]),
                            lambda p, good: p.predict([texts[i] for i in good]))


def predict_nli_batch(premises: list[str], hypotheses: list[str], models: list[str],
                      roots: Sequence[Path] | None = None) -> tuple[list[dict], list[str]]:
    """Batched premise/hypothesis classification."""
    def check(predictor, i):
        check_text(premises[i], "premise")
        check_text(hypotheses[i], "hypothesis")

    return _predict_grouped(len(premises), models, roots, check,
                            lambda p, good: p.predict_pairs([premises[i] for i in good],
                                                            [hypotheses[i] for i in good]))


def predict_zero_shot_batch(texts, labels, multi_labels, templates, models, roots=None) -> tuple[list[dict], list[str]]:
    """Batched zero-shot classification (each request has its own labels and template)."""
    scores, notes = [], []
    for args in zip(texts, labels, multi_labels, templates, models):
        score, note = predict_zero_shot(*args, roots=roots)
        scores.append(score)
        notes.append(note)
    return scores, notes


def predict_sentiment(text: str, model: str = "sentiment", roots: Sequence[Path] | None = None) -> tuple[dict, str]:
    """Label probabilities and a language note for one text."""
    labels, notes = predict_sentiment_batch([text], [model], roots)
    return labels[0], notes[0]


def predict_nli(premise: str, hypothesis: str, model: str = "nli",
                roots: Sequence[Path] | None = None) -> tuple[dict, str]:
    labels, notes = predict_nli_batch([premise], [hypothesis], [model], roots)
    return labels[0], notes[0]


def predict_zero_shot(text: str, labels: str, multi_label: bool = False, template: str = "This example is {}.",
                      model: str = "nli", roots: Sequence[Path] | None = None) -> tuple[dict, str]:
    try:
        check_text(text)
        candidates = [label for label in str(labels or "").split(",") if label.strip()]
        if not candidates:
            raise XltError("give at least one candidate label")
        if len(candidates) > MAX_LABELS:
            raise XltError(f"{len(candidates)} candidate labels: the limit is {MAX_LABELS}")
        result = _load(model, roots).zero_shot(text, candidates, template=template or "",
                                                            multi_label=bool(multi_label))
    except Exception as exc:  # noqa: BLE001 - one request's failure, never the batch's (`_failure`)
        return _error(_failure(exc, "run", str(model)))
    scores = dict(zip(result["labels"], result["scores"]))
    return scores, _language_note(result["language"], result["language_covered"], result["notices"])


def predict_any_batch(firsts: list[str], seconds: list[str], models: list[str],
                      roots: Sequence[Path] | None = None) -> tuple[list[dict], list[str]]:
    """A model of any task: single texts, or pairs when the model's task takes two (from its spec)."""
    def check(predictor, i):
        check_text(firsts[i], predictor.info.text_fields[0])
        if predictor.is_pair:
            check_text(seconds[i], predictor.info.text_fields[1])

    def run(predictor, good):
        if predictor.is_pair:
            return predictor.predict_pairs([firsts[i] for i in good], [seconds[i] for i in good])
        return predictor.predict([firsts[i] for i in good])

    return _predict_grouped(len(firsts), models, roots, check, run,
                            note=lambda predictor: f"Task **{predictor.info.task}**. ")
