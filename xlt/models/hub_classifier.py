"""The `hub-classifier` artifact kind: any `AutoModelForSequenceClassification` (a folder or a Hub id).

Published multilingual NLI and sentiment classifiers name their classes in `config.id2label`;
those names are mapped onto the task's labels by name (case-insensitive, common spellings),
never by position. A model whose labels cannot be mapped (`LABEL_0`, ...) is refused with a
message that says how to give the mapping (`label_map`: `LABEL_0=negative,LABEL_1=neutral,...`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import XltError
from .artifacts import ArtifactKind, register_artifact_kind
from .loading import CLASSIFIER_INFO, ClassifierInfo

SYNONYMS = {
    "entailment": {"entailment", "entails", "entail", "entailed", "implication"},
    "neutral": {"neutral", "neutrality", "none"},
    "contradiction": {"contradiction", "contradicts", "contradict", "contradictory", "contradicted"},
    "negative": {"negative", "neg", "bad"},
    "positive": {"positive", "pos", "good"},
}


def _norm(name: str) -> str:
    return str(name).strip().lower().replace("_", " ").replace("-", " ")


def parse_label_map(text: str | None) -> dict[str, str]:
    """`"LABEL_0=negative,LABEL_1=neutral"` -> {"LABEL_0": "negative", ...}."""
    if not text:
        return {}
    out = {}
    for pair in str(text).split(","):
        if "=" not in pair:
            raise XltError(f"label_map takes model_label=task_label pairs separated by commas, got {pair!r}")
        key, value = pair.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def map_labels(id2label: dict, task_labels: list[str], label_map: dict[str, str] | None = None) -> list[int]:
    """For each task label, the model output index that means it (by name, never by position)."""
    model_labels = {int(i): str(name) for i, name in id2label.items()}
    explicit = {_norm(k): _norm(v) for k, v in (label_map or {}).items()}
    named = {}
    for index, name in model_labels.items():
        meaning = explicit.get(_norm(name), _norm(name))
        for task_label in task_labels:
            if meaning == _norm(task_label) or meaning in SYNONYMS.get(_norm(task_label), set()):
                named.setdefault(task_label, []).append(index)
    missing = [t for t in task_labels if len(named.get(t, [])) != 1]
    if missing or len(model_labels) != len(task_labels):
        shown = ", ".join(f"{i}={n}" for i, n in sorted(model_labels.items()))
        raise XltError(f"cannot map the model's labels ({shown}) onto the task's ({', '.join(task_labels)}) by name"
                       + (f"; unmatched: {', '.join(missing)}" if missing else "")
                       + ". Give the mapping: label_map="
                       + ",".join(f"{n}=<task label>" for n in model_labels.values()))
    return [named[t][0] for t in task_labels]


def read_hub_config(name_or_path: str) -> dict:
    """`config.json` of a sequence classifier folder or Hub repo (only this small file is fetched)."""
    path = Path(name_or_path)
    try:
        if path.is_dir():
            return json.loads((path / "config.json").read_text(encoding="utf-8"))
        from huggingface_hub import hf_hub_download

        from ..results.store import HubTimeout, call_with_deadline, hub_timeout

        try:  # the library retries a hanging Hub for minutes: one bounded wait (XLT_HUB_TIMEOUT) instead
            fetched = call_with_deadline(lambda: hf_hub_download(name_or_path, "config.json", etag_timeout=10),
                                         hub_timeout(), "the Hub")
        except HubTimeout as exc:
            raise XltError(f"could not read {name_or_path!r}: {exc} (XLT_HUB_TIMEOUT); offline, give a local "
                           "folder") from None
        return json.loads(Path(fetched).read_text())
    except XltError:
        raise
    except (OSError, ValueError) as exc:
        raise XltError(f"{name_or_path!r} is not a sequence classifier folder or reachable Hub repo "
                       f"({type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''})") from None
    except Exception as exc:  # Hub errors (offline, missing repo, auth)
        raise XltError(f"could not read {name_or_path!r} from the Hub ({type(exc).__name__}); offline, give a "
                       "local folder") from None


def is_sequence_classifier(config: dict) -> bool:
    return any(str(a).endswith("ForSequenceClassification") for a in config.get("architectures") or [])


class HubClassifier:
    """A published sequence classifier answering in the task's label order."""

    def __init__(self, source: str, task, label_map: dict[str, str] | None = None, max_length: int = 256):
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        config = read_hub_config(source)
        if not is_sequence_classifier(config):
            raise XltError(f"{source!r} is not a sequence classifier (architectures: {config.get('architectures')})")
        self.order = map_labels(config.get("id2label") or {}, list(task.label_names), label_map)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(source)
            self.model = AutoModelForSequenceClassification.from_pretrained(source).eval()
        except (OSError, ValueError) as exc:
            raise XltError(f"could not load {source!r}: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}") \
                from None
        positions = getattr(self.model.config, "max_position_embeddings", 512) or 512
        self.info = ClassifierInfo(base_model=source, task=task.name, label_names=list(task.label_names),
                                   text_fields=list(task.text_fields), pooling="model", text_prefix="",
                                   max_length=min(max_length, positions), finetune="none", kind="hub-classifier",
                                   method="pretrained",
                                   extra={"source": source, "label_map": dict(label_map or {}),
                                          "task_spec": task.to_dict()})
        self.stats: dict = {}

    def predict_proba(self, first, second=None, lang=None, batch_size: int = 64, progress=None) -> np.ndarray:
        from ..inference import predict_proba

        probs = predict_proba(self.model, self.tokenizer, first, second, prefix="", max_length=self.info.max_length,
                              batch_size=batch_size, progress=progress)
        return probs[:, self.order]

    def save(self, folder: str | Path) -> Path:
        """A reference to the model (its folder or Hub id) with the label mapping; the weights stay where they are."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        (out / CLASSIFIER_INFO).write_text(json.dumps(self.info.to_dict(), indent=2, ensure_ascii=False))
        return out


def load(folder: Path) -> HubClassifier:
    from ..tasks import task_for_model
    from .loading import read_classifier_info

    info = read_classifier_info(folder)
    classifier = HubClassifier(info.extra["source"], task_for_model(info), info.extra.get("label_map") or {},
                               info.max_length)
    # what the reference was saved with: the declared training languages (Predict's seen / zero-shot note)
    # and the run that evaluated it (Predict's measured scores)
    classifier.info.languages_trained = list(info.languages_trained or [])
    classifier.info.run_id = info.run_id
    return classifier


register_artifact_kind(ArtifactKind("hub-classifier", load, "a published AutoModelForSequenceClassification"))


def hub_classifier_for_any_task(source: str, task_name: str | None = None) -> HubClassifier:
    """Load `source` for `task_name`, or for the first registered task whose labels its `id2label` names."""
    from ..tasks import TASKS, get_task

    config = read_hub_config(source)
    if not is_sequence_classifier(config):
        raise XltError(f"{source!r} is neither an xlt classifier nor a sequence classifier")
    if task_name:
        return HubClassifier(source, get_task(task_name))
    for name in TASKS.names():
        try:
            map_labels(config.get("id2label") or {}, list(TASKS.get(name).label_names))
        except XltError:
            continue
        return HubClassifier(source, TASKS.get(name))
    labels = ", ".join(str(v) for v in (config.get("id2label") or {}).values())
    raise XltError(f"the labels of {source!r} ({labels}) match no task's labels by name; evaluate it with "
                   "`xlt train --task <task> --method pretrained --model <id> --option label_map=...`")
