"""The tasks xlt ships: XNLI and multilingual tweet sentiment."""

from .spec import TaskSpec, register_task

XNLI_LANGS = ("ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh")

register_task(TaskSpec(
    name="nli",
    description="Natural language inference (XNLI): premise/hypothesis -> entailment/neutral/contradiction.",
    text_fields=("premise", "hypothesis"),
    label_names=("entailment", "neutral", "contradiction"),
    languages=XNLI_LANGS,
    local_dir="xnli",
    hub_dataset="facebook/xnli",
    # Offline there is no MultiNLI: the English XNLI dev set is the source training data,
    # and evaluation is on XNLI test (dev and test do not share rows).
    train_split="validation",
    eval_split="test",
    metric="accuracy",
    parallel=True,
    source_note="XNLI (CC BY-NC 4.0); rows are parallel across languages.",
))

SENTIMENT_CONFIGS = {
    "ar": "arabic", "de": "german", "en": "english", "es": "spanish",
    "fr": "french", "hi": "hindi", "it": "italian", "pt": "portuguese",
}

register_task(TaskSpec(
    name="sentiment",
    description="Tweet sentiment (UMSAB / tweet_sentiment_multilingual): negative/neutral/positive.",
    text_fields=("text",),
    label_names=("negative", "neutral", "positive"),
    languages=tuple(SENTIMENT_CONFIGS),
    local_dir="sentiment",
    hub_dataset="cardiffnlp/tweet_sentiment_multilingual",
    hub_configs=SENTIMENT_CONFIGS,
    train_split="train",
    eval_split="test",
    metric="macro_f1",
    parallel=False,
    source_note="cardiffnlp/xlm-t tweets; terms of the source datasets.",
))
