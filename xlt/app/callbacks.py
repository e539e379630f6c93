"""Predict-tab callbacks: plain functions returning what the UI shows; errors become messages."""

from __future__ import annotations

from ..errors import XltError
from ..predict import check_text, load_predictor


def _labels_table(probabilities: dict[str, float]) -> dict[str, float]:
    return {label: float(p) for label, p in probabilities.items()}


def _language_note(language: str, covered: bool, notices: list[str]) -> str:
    lines = [f"Detected language: **{language}**" + ("" if covered else " (not covered by the encoder)")]
    lines += [f"- {n}" for n in notices]
    return "\n".join(lines)


def predict_sentiment(text: str, model: str = "sentiment") -> tuple[dict, str]:
    """Label probabilities and a language note for one text."""
    try:
        check_text(text)
        result = load_predictor(model).predict(text)
    except XltError as exc:
        return {}, f"**Error:** {exc}"
    return _labels_table(result.probabilities), _language_note(result.language, result.language_covered,
                                                               result.notices)


def predict_nli(premise: str, hypothesis: str, model: str = "nli") -> tuple[dict, str]:
    try:
        check_text(premise, "premise")
        check_text(hypothesis, "hypothesis")
        result = load_predictor(model).predict_pairs([premise], [hypothesis])[0]
    except XltError as exc:
        return {}, f"**Error:** {exc}"
    return _labels_table(result.probabilities), _language_note(result.language, result.language_covered,
                                                               result.notices)


def predict_zero_shot(text: str, labels: str, multi_label: bool = False, template: str = "This example is {}.",
                      model: str = "nli") -> tuple[dict, str]:
    try:
        check_text(text)
        if not [label for label in (labels or "").split(",") if label.strip()]:
            raise XltError("give at least one candidate label")
        result = load_predictor(model).zero_shot(text, (labels or "").split(","), template=template,
                                                 multi_label=multi_label)
    except XltError as exc:
        return {}, f"**Error:** {exc}"
    scores = dict(zip(result["labels"], result["scores"]))
    return scores, _language_note(result["language"], result["language_covered"], result["notices"])
