"""Prediction API: sentiment, NLI, and zero-shot classification through NLI."""

from __future__ import annotations

import re
import threading
import unicodedata
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from .errors import XltError
from .langid import UNDETERMINED, detect_language, letter_count
from .models.artifacts import load_artifact
from .models.languages import language_label
from .models.onnx_runtime import onnx_default
from .models.quantize import int8_default, quantize_int8
from .models.registry import resolve_model
from .results.measured import measured_note, measured_scores
from .settings import env_int, repo_root

MAX_CHARS = 200_000  # beyond this the input is refused, not silently cut
LOW_LANGUAGE_CONFIDENCE = 0.5
SHORT_TEXT_LETTERS = 40  # below this many letters, an unsure language guess is blamed on length
CHARS_PER_TOKEN_BOUND = 24  # no subword piece is longer: text beyond max_length * 24 characters is never read
SHIPPED_DIR = Path(__file__).resolve().parent / "predictors"
DEFAULT_TEMPLATE = "This example is {}."
MAX_ZERO_SHOT_LABELS = 50  # each label is one forward pass: a bound keeps a Space from being flooded


@dataclass
class Prediction:
    label: str
    probabilities: dict[str, float]
    language: str
    language_confidence: float
    language_covered: bool
    truncated: bool
    notices: list[str] = field(default_factory=list)
    # "seen": the model trained on labelled data (or translations) in this language; "zero-shot": it did not;
    # "unknown": what it trained on is not recorded (a published model) or no language was detected
    transfer: str = "unknown"
    # the model's score on this language's held-out test data, from its record ({} when not measured)
    measured: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def check_text(text: object, what: str = "text") -> str:
    """Refuse input no model can use; the message says why."""
    if text is None:
        raise XltError(f"{what} is missing")
    if not isinstance(text, str):
        raise XltError(f"{what} must be a string, got {type(text).__name__}")
    if not text.strip():
        raise XltError(f"{what} is empty")
    if len(text) > MAX_CHARS:
        raise XltError(f"{what} has {len(text):,} characters; the limit is {MAX_CHARS:,}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: bytes that were not UTF-8, decoded with surrogateescape
        raise XltError(f"{what} holds invalid characters (it was not UTF-8 text); re-save it as UTF-8") from None
    controls = sum(1 for ch in text[:10_000] if unicodedata.category(ch) in ("Cc", "Cs", "Co")
                   and ch not in "\t\n\r")
    if controls > max(3, len(text[:10_000]) // 20):
        raise XltError(f"{what} looks like binary data, not text")
    if not any(unicodedata.category(ch)[0] in "LNS" for ch in text[:10_000]):
        raise XltError(f"{what} has no letters, digits or symbols (only spaces, marks or punctuation)")
    return text


def check_zero_shot(candidate_labels: list, template: str) -> list[str]:
    """The distinct candidate labels, in order, once labels and template are fit to score (no model needed)."""
    labels = list(dict.fromkeys(str(label).strip() for label in candidate_labels if str(label).strip()))
    if not labels:
        raise XltError("give at least one candidate label")
    if len(labels) > MAX_ZERO_SHOT_LABELS:
        raise XltError(f"{len(labels)} candidate labels: the limit is {MAX_ZERO_SHOT_LABELS}")
    if not isinstance(template, str) or template.count("{}") != 1:
        raise XltError("the hypothesis template must contain '{}' exactly once, where the label goes")
    if len(template) > 500 or any(len(label) > 200 for label in labels):
        raise XltError("the template is limited to 500 characters and each label to 200")
    return labels


def is_shipped(path: str | Path | None) -> bool:
    """Whether `path` is one of the predictors shipped in `xlt/predictors/`."""
    return path is not None and Path(path).resolve().parent == SHIPPED_DIR


def shipped_predictor_path(task: str) -> Path:
    path = SHIPPED_DIR / task
    if not (path / "xlt_classifier.json").is_file():
        raise XltError(f"no shipped predictor for task {task!r} (expected {path.relative_to(repo_root())})")
    return path


def shipped_predictors(task: str = "") -> list[tuple[str, str]]:
    """(label, name) of every predictor shipped in `xlt/predictors/` (of `task`, or all): the best model per
    task under the task's own name, the English-only baseline as `<task>-en`. The label says what labelled
    data the model saw, from its own `xlt_classifier.json`."""
    import json

    found = []
    for folder in sorted(SHIPPED_DIR.iterdir()) if SHIPPED_DIR.is_dir() else []:
        try:
            meta = json.loads((folder / "xlt_classifier.json").read_text())
        except (OSError, ValueError):
            continue
        if task and meta.get("task") != task:
            continue
        langs = meta.get("languages_trained") or []
        seen = ("English-only, zero-shot" if langs == ["en"]
                else f"labelled data in {len(langs)} languages" if len(langs) > 1 else f"trained on {', '.join(langs)}")
        # the folder named for its task first: it is the default and the best model
        found.append(((folder.name != meta.get("task"), folder.name),
                      (f"shipped {meta.get('task', folder.name)} model ({seen})", folder.name)))
    return [choice for _, choice in sorted(found)]


class Predictor:
    """A loaded classifier answering for texts or text pairs, with language notes."""

    def __init__(self, path: str | Path | None = None, artifact=None, int8: bool | None = None,
                 onnx: bool | None = None):
        """`int8`: quantise the model's Linear layers to int8 for CPU prediction (default: `XLT_INT8`, see
        `xlt.models.quantize`); `self.int8` says whether it was done (not for models off the CPU or without one).
        `onnx`: run an xlt classifier on the CPU through ONNX Runtime, the same probabilities faster (default:
        `XLT_ONNX`, see `xlt.models.onnx_runtime`; not with int8); `self.onnx` says whether it does."""
        self.path = Path(path) if path is not None else None
        int8 = int8_default() if int8 is None else int8
        want_onnx = not int8 and (onnx_default() if onnx is None else onnx)
        if artifact is None and want_onnx and self.path is not None:
            artifact = self._cached_onnx_artifact()
        self.artifact = artifact if artifact is not None else load_artifact(self.path)
        self.info = self.artifact.info
        self.tokenizer = getattr(self.artifact, "tokenizer", None)
        self.model = getattr(self.artifact, "model", None)
        self.int8 = int8 and quantize_int8(self.model)
        self.onnx = want_onnx and self._serve_with_onnx()
        self.spec = resolve_model(self.info.base_model)
        self._lock = threading.Lock()  # one forward pass at a time per model (app concurrency)

    def _cached_onnx_artifact(self):
        """A classifier folder whose ONNX graph is cached, served from it without loading the torch model;
        None otherwise (any other kind of folder, or no graph yet)."""
        from .models.classifier_artifact import TrainedClassifier
        from .models.loading import classifier_tokenizer, read_classifier_info
        from .models.onnx_runtime import cached_classifier

        info = read_classifier_info(self.path)
        session = (cached_classifier(self.path, info, pin=is_shipped(self.path)) if info.kind == "classifier"
                   else None)
        return TrainedClassifier(session, classifier_tokenizer(self.path, info), info) if session else None

    def _serve_with_onnx(self) -> bool:
        """Serve a classifier folder through ONNX Runtime: the cached graph already, or the loaded CPU torch
        model exported now and its forward pass swapped for the session (the torch model is released)."""
        from .inference import on_cpu
        from .models.classifier_artifact import TrainedClassifier
        from .models.onnx_runtime import OnnxClassifier, onnx_classifier

        if isinstance(self.model, OnnxClassifier):
            return True
        if self.path is None or not isinstance(self.artifact, TrainedClassifier) or not on_cpu(self.model):
            return False
        session = onnx_classifier(self.model, self.tokenizer, self.path, self.info, pin=is_shipped(self.path))
        if session is None:
            return False
        self.artifact.model = self.model = session
        return True

    @property
    def labels(self) -> list[str]:
        return list(self.info.label_names)

    @property
    def is_pair(self) -> bool:
        return len(self.info.text_fields) == 2

    @property
    def _max_chars(self) -> int:
        return self.info.max_length * CHARS_PER_TOKEN_BOUND

    def _clip(self, text: str | None) -> str | None:
        """Only the first `max_length * 24` characters can reach the model: cut before tokenizing, so a
        200,000-character text costs no more than a long tweet (and a pair of them no memory blow-up)."""
        return text[: self._max_chars] if text is not None else None

    def _n_tokens(self, first: str, second: str | None) -> tuple[int, int]:
        """Tokens of the input, and the characters of its longest text when `_clip` cut it (0 when not cut:
        then the count is exact; when cut, it is a lower bound beyond the model's maximum)."""
        longest = max(len(first), len(second) if second is not None else 0)
        cut = longest if longest > self._max_chars else 0
        if self.tokenizer is None:
            return 0, cut
        ids = self.tokenizer(self.info.text_prefix + self._clip(first), self._clip(second), truncation=False,
                             verbose=False)["input_ids"]
        return (max(len(ids), self.info.max_length + 1) if cut else len(ids)), cut

    @property
    def takes_rows(self) -> bool:
        """Whether the artifact looks task rows up (translate-test with gold translations; `evaluate_languages`)."""
        return bool(getattr(self.artifact, "takes_rows", False))

    def predict_proba(self, first: list[str], second: list[str] | None = None, lang: str | list[str] | None = None,
                      batch_size: int = 32, progress=None, rows: tuple | None = None) -> np.ndarray:
        """Class probabilities for raw texts; the interface `evaluate_languages` expects.

        `lang` is the inputs' language (one code, or one per input); the artifact's prediction hook
        receives it (translate-test translates from it, adapters are chosen by it). `rows`: which task rows
        the inputs are, for an artifact that `takes_rows`.
        """
        first = [self._clip(t) for t in first]
        second = [self._clip(t) for t in second] if second is not None else None
        extra = {"rows": rows} if rows is not None and self.takes_rows else {}
        with self._lock:
            return self.artifact.predict_proba(first, second, lang=lang, batch_size=batch_size, progress=progress,
                                               **extra)

    def _describe(self, probs: np.ndarray, text_for_language: str, size: tuple[int, int]) -> Prediction:
        """`size`: what `_n_tokens` says of the input."""
        n_tokens, cut_chars = size
        lang = detect_language(text_for_language)
        covered = lang.code != UNDETERMINED and self.spec.covers(lang.code)
        truncated = n_tokens > self.info.max_length or cut_chars > 0
        notices = []
        if lang.code == UNDETERMINED:
            notices.append("No language could be detected (the text has too few letters).")
        elif not covered:
            notices.append(f"Detected language '{lang.code}' is not among the encoder's pre-training "
                           "languages: expect weak predictions.")
        elif lang.confidence < LOW_LANGUAGE_CONFIDENCE:
            why = ("short texts are hard to identify" if letter_count(text_for_language[:2000])
                   <= SHORT_TEXT_LETTERS else "the text may mix languages or be in a language it does not know")
            notices.append(f"Language detection is unsure ('{lang.code}' at {lang.confidence:.0%}): {why}.")
        if truncated:
            had = (f"it has {cut_chars:,} characters; only the first {self._max_chars:,} were read"
                   if cut_chars else f"it had {n_tokens}")
            notices.append(f"Input was truncated to {self.info.max_length} tokens ({had}).")
        trained = list(self.info.languages_trained or [])
        transfer = "unknown"
        if trained and lang.code != UNDETERMINED:
            transfer = "seen" if lang.code in trained else "zero-shot"
            if transfer == "zero-shot":
                notices.append(f"Zero-shot transfer: this model saw no labelled '{lang.code}' data (it was trained "
                               f"on {', '.join(trained)}).")
        hook = getattr(self.artifact, "language_note", None)  # what the prediction hook does with this language
        if hook is not None and lang.code != UNDETERMINED and (said := hook(lang.code)):
            notices.append(said)
        scores = measured_scores(self.info.task, self.info.run_id)
        measured = scores.get(lang.code, {})
        note = measured_note(scores, lang.code, language_label(lang.code))
        if note:
            notices.append(note)
        return Prediction(
            label=self.labels[int(probs.argmax())],
            probabilities={name: round(float(p), 6) for name, p in zip(self.labels, probs)},
            language=lang.code, language_confidence=round(lang.confidence, 4), language_covered=covered,
            truncated=truncated, notices=notices, transfer=transfer, measured=dict(measured),
        )

    def predict(self, texts: list[str] | str) -> list[Prediction] | Prediction:
        """Classify single texts (sentiment-style tasks)."""
        if self.is_pair:
            raise XltError(f"the {self.info.task} predictor takes text pairs: use predict_pairs")
        single = not isinstance(texts, (list, tuple))
        texts = [check_text(t) for t in ([texts] if single else texts)]
        if not texts:
            raise XltError("give at least one text")
        probs = self.predict_proba(texts, None, lang=[detect_language(t).code for t in texts])
        out = [self._describe(p, t, self._n_tokens(t, None)) for p, t in zip(probs, texts)]
        return out[0] if single else out

    def predict_pairs(self, premises: list[str], hypotheses: list[str]) -> list[Prediction]:
        """Classify (premise, hypothesis) pairs (NLI-style tasks)."""
        if not self.is_pair:
            raise XltError(f"the {self.info.task} predictor takes single texts: use predict")
        if not isinstance(premises, (list, tuple)) or not isinstance(hypotheses, (list, tuple)):
            raise XltError("give lists of premises and hypotheses")
        if len(premises) != len(hypotheses) or not premises:
            raise XltError("give as many hypotheses as premises (at least one)")
        premises = [check_text(p, "premise") for p in premises]
        hypotheses = [check_text(h, "hypothesis") for h in hypotheses]
        probs = self.predict_proba(premises, hypotheses, lang=[detect_language(p).code for p in premises])
        return [self._describe(p, a, self._n_tokens(a, b)) for p, a, b in zip(probs, premises, hypotheses)]

    def zero_shot(self, text: str, candidate_labels: list[str], template: str = DEFAULT_TEMPLATE,
                  multi_label: bool = False) -> dict:
        """Score `text` against any labels through NLI, like the transformers zero-shot pipeline.

        Each label fills `template` into a hypothesis. Single-label: softmax of the
        entailment logits over labels. Multi-label: for each label on its own, entailment
        vs contradiction.
        """
        if not self.is_pair or "entailment" not in self.labels:
            raise XltError("zero-shot classification needs an NLI predictor")
        text = check_text(text)
        labels = check_zero_shot(candidate_labels, template)
        notes = []
        if len(labels) < sum(1 for label in candidate_labels if str(label).strip()):
            notes.append("Repeated candidate labels were scored once.")
        if len(labels) == 1 and not multi_label:  # a softmax over one label is always 1.0: score it on its own
            multi_label = True
            notes.append("With a single label the score is entailment against contradiction for that label alone.")
        hypotheses = [template.replace("{}", label) for label in labels]  # no str.format: braces stay text
        probs = self.predict_proba([text] * len(labels), hypotheses, lang=detect_language(text).code)
        ent, con = self.labels.index("entailment"), self.labels.index("contradiction")
        logits = np.log(np.clip(probs, 1e-12, 1.0))
        if multi_label:
            pair = logits[:, [con, ent]]
            scores = np.exp(pair[:, 1]) / np.exp(pair).sum(axis=1)
        else:
            e = logits[:, ent]
            scores = np.exp(e - e.max()) / np.exp(e - e.max()).sum()
        order = np.argsort(-scores)
        described = self._describe(probs[order[0]], text, self._n_tokens(text, hypotheses[order[0]]))
        return {
            "labels": [labels[i] for i in order],
            "scores": [round(float(scores[i]), 6) for i in order],
            "multi_label": multi_label,
            "language": described.language,
            "language_covered": described.language_covered,
            "truncated": described.truncated,
            "notices": described.notices + notes,
        }


def _download_classifier(repo_id: str) -> Path:
    """A classifier pushed by xlt to the Hub (adapter/encoder + head + xlt_classifier.json)."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, etag_timeout=10))
    except Exception as exc:
        raise XltError(f"could not load {repo_id!r} from the Hub ({type(exc).__name__}: "
                       f"{str(exc).splitlines()[0][:160] if str(exc) else ''})") from exc


_LOADED: OrderedDict[str, Predictor] = OrderedDict()
_LOAD_LOCK = threading.Lock()  # guards _LOADED and _KEY_LOCKS, never held while a model loads
_KEY_LOCKS: dict[str, threading.Lock] = {}


def max_loaded_models() -> int:
    """How many predictors stay in memory at once (`XLT_MAX_LOADED_MODELS`, default 5: the four shipped
    ones and one more, so visitors moving between the listed models do not reload one per request;
    ~0.5 GB each)."""
    return env_int("XLT_MAX_LOADED_MODELS", 5, 1)


def model_key(path_or_task: str) -> str:
    """One canonical spelling per model: a shipped task name, a resolved folder path or a Hub id."""
    name = (path_or_task or "").strip() if isinstance(path_or_task, str) else ""
    if not name:
        raise XltError("choose a model")
    if "\x00" in name or len(name) > 1000:
        raise XltError("that is not a model name")
    if (SHIPPED_DIR / name / "xlt_classifier.json").is_file() and "/" not in name and not name.startswith("."):
        return name
    path = Path(name).expanduser()
    if path.exists() or path.is_absolute() or name.startswith((".", "~")):
        return str(path.resolve())
    return name


def load_predictor(path_or_task: str, int8: bool | None = None) -> Predictor:
    """A predictor, loaded once per canonical key: a shipped task name (`sentiment`, `nli`), a classifier
    folder or a Hub repo id. At most `max_loaded_models()` stay loaded (least recently used goes first).
    `int8`: its int8 form (default `XLT_INT8`; see `Predictor`), cached apart from the float32 one."""
    name = model_key(path_or_task)
    int8 = int8_default() if int8 is None else int8
    # the ONNX Runtime form is cached apart from the torch one (only xlt classifier folders have one)
    key = name + " (int8)" if int8 else name + " (onnx)" if onnx_default() else name
    with _LOAD_LOCK:
        if (loaded := _recently_used(key)) is not None:
            return loaded
        key_lock = _KEY_LOCKS.setdefault(key, threading.Lock())
    # one load per model at a time; loaded models answer meanwhile (a first ONNX export takes seconds)
    with key_lock:
        with _LOAD_LOCK:
            if (loaded := _recently_used(key)) is not None:
                return loaded
        predictor = _load_uncached(name, int8)
        with _LOAD_LOCK:
            _LOADED[key] = predictor
            while len(_LOADED) > max_loaded_models():
                # the least recently used goes, a shipped predictor last: visitors cycling through other
                # models reload those, never the defaults everyone uses
                others = [k for k, p in _LOADED.items() if k != key and not is_shipped(p.path)]
                _LOADED.pop(others[0] if others else next(iter(_LOADED)))
            return predictor


def _recently_used(key: str) -> Predictor | None:
    """The loaded predictor of `key`, marked as the most recently used (call with `_LOAD_LOCK` held)."""
    if key in _LOADED:
        _LOADED.move_to_end(key)
        return _LOADED[key]
    return None


def _load_uncached(name: str, int8: bool) -> Predictor:
    make = partial(Predictor, int8=int8)
    path = Path(name)
    if (path / "xlt_classifier.json").is_file():
        return make(path)
    if (SHIPPED_DIR / name / "xlt_classifier.json").is_file():
        return make(SHIPPED_DIR / name)
    if (path / "config.json").is_file():  # a published sequence classifier saved to a folder
        from .models.hub_classifier import hub_classifier_for_any_task

        return make(artifact=hub_classifier_for_any_task(str(path)))
    if re.fullmatch(r"[\w.-]+/[\w.-]+", name) and not path.exists():  # owner/name: a Hub repo
        from .models.hub_classifier import hub_classifier_for_any_task, is_sequence_classifier, read_hub_config

        if is_sequence_classifier(read_hub_config(name)):
            return make(artifact=hub_classifier_for_any_task(name))
        downloaded = _download_classifier(name)
        if not (downloaded / "xlt_classifier.json").is_file():
            raise XltError(f"{name!r} is not an xlt classifier (no xlt_classifier.json in the repo)")
        return make(downloaded)
    if path.exists():
        raise XltError(f"{name} is not an xlt classifier folder (no xlt_classifier.json) nor a sequence classifier")
    if path.is_absolute() or name.startswith((".", "~")) or "/" in name:
        raise XltError(f"model folder {name} does not exist")
    return make(shipped_predictor_path(name))
