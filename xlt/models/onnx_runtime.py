"""A classifier served by ONNX Runtime on the CPU (`XLT_ONNX`, on by default for CPU predictors).

A saved classifier folder's `SequenceClassifier` (LoRA merged) is exported once to ONNX with torch's
exporter, eager attention so ONNX Runtime fuses each layer's attention into one kernel, and cached on
disk by a digest of the folder and its base checkpoint; later loads serve the cached graph without
loading the torch model. ONNX Runtime runs the graph with its own optimisations. The probabilities
are those of the torch model to ~1e-5 (the same labels), at about half the one-sentence latency on
2 cores (`benchmarks/predict_speed.py` measures both, and the macro-F1 of each path).

Only the forward pass moves: tokenizing, length-sorted batching and everything around a prediction
stay in `xlt.inference`. A model that cannot be exported keeps its torch form, with a warning.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ONNX_ENV = "XLT_ONNX"
FORMAT = "1"  # bump when the exported graph changes for the same weights
INPUTS = ("input_ids", "attention_mask", "token_type_ids")

logger = logging.getLogger(__name__)


def onnx_default() -> bool:
    """Whether CPU predictors run on ONNX Runtime: `XLT_ONNX` (1/0), on when unset and `onnxruntime` and
    `onnx` are installed. On by measurement: it is kept only because it leaves macro-F1 where float32
    torch has it (benchmarks/README.md)."""
    value = os.environ.get(ONNX_ENV, "").strip().lower()
    if value in {"0", "false", "no", "off"}:
        return False
    try:
        import onnx  # noqa: F401  (the exporter writes with it)
        import onnxruntime  # noqa: F401
    except ImportError:
        if value in {"1", "true", "yes", "on"}:
            logger.warning("%s=%s but onnxruntime or onnx is not installed: predicting with torch", ONNX_ENV, value)
        return False
    return True


class OnnxClassifier:
    """The forward pass of a `SequenceClassifier` as an ONNX Runtime session: called like the model with
    a padded batch, it returns an object with `.logits` (a CPU tensor)."""

    training = False  # `xlt.inference` leaves a model in eval mode alone

    def __init__(self, path: str | Path, num_labels: int, threads: int | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads or _torch_threads()
        options.inter_op_num_threads = 1
        self.path = Path(path)
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.num_labels = num_labels

    def __call__(self, **batch):
        import torch

        feed = {name: np.ascontiguousarray(batch[name].cpu().numpy(), dtype=np.int64) for name in self.input_names}
        (logits,) = self.session.run(["logits"], feed)
        return SimpleNamespace(logits=torch.from_numpy(logits))


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def _logits_module(model, names: list[str]):
    """The exported function: the inputs, positionally in `names` order -> logits (no loss, no dropout)."""
    import torch

    class Logits(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, *tensors):
            return self.model(**dict(zip(names, tensors))).logits

    return Logits().eval()


def _hash_files(digest, folder: Path) -> None:
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(file.relative_to(folder).as_posix().encode() + b"\0")
        with file.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)


def graph_path(folder: str | Path, info, cache: str | Path | None = None) -> Path | None:
    """Where the ONNX graph of a saved classifier folder is cached: named by a digest of every file in the
    folder, the base checkpoint (a LoRA folder holds only the adapter: its fingerprint, or the files of a
    local base folder) and the exporter's versions. None for a base checkpoint with neither (a Hub model
    whose revision is unknown: nothing would say it changed)."""
    from importlib.metadata import version

    from ..settings import cache_dir
    from .loading import checkpoint_location, model_fingerprint
    from .registry import resolve_model

    folder = Path(folder)
    digest = hashlib.sha256(f"{FORMAT}|{version('torch')}|{version('onnx')}".encode())
    if info.finetune == "lora":
        spec = resolve_model(info.base_model)
        base = model_fingerprint(spec)
        if base != "unknown":
            digest.update(base.encode())
        elif Path(checkpoint_location(spec)).is_dir():
            _hash_files(digest, Path(checkpoint_location(spec)))
        else:
            return None
    _hash_files(digest, folder)
    return (Path(cache) if cache is not None else cache_dir() / "onnx") / f"{digest.hexdigest()[:24]}.onnx"


@contextlib.contextmanager
def _eager_attention(encoder):
    """Eager attention while exporting: ONNX Runtime recognises its pattern and fuses it (SDPA's it does not)."""
    previous = getattr(getattr(encoder, "config", None), "_attn_implementation", None)
    switch = previous not in (None, "eager") and hasattr(encoder, "set_attn_implementation")
    if switch:
        encoder.set_attn_implementation("eager")
    try:
        yield
    finally:
        if switch:
            encoder.set_attn_implementation(previous)


def export_onnx(model, tokenizer, path: str | Path) -> Path:
    """Export `model`'s logits for the tokenizer's inputs to `path` (batch and sequence length dynamic)."""
    import torch

    names = [n for n in INPUTS if n in tokenizer.model_input_names]
    example = tokenizer(["an example", "a second, longer example"], ["a pair", "a pair"], padding=True,
                        return_tensors="pt")
    wrapper = _logits_module(model, names)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    try:
        # the tracer's warnings (shape checks taken as constants, index ops) are about graphs that only ever
        # see the shapes they were traced with; the graph here is checked against torch in tests at many lengths
        with _eager_attention(model.encoder), torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(wrapper, tuple(example[n] for n in names), str(tmp), input_names=names,
                              output_names=["logits"], opset_version=17, dynamo=False,
                              dynamic_axes={**{n: {0: "batch", 1: "sequence"} for n in names},
                                            "logits": {0: "batch"}})
        os.replace(tmp, path)  # readers see the whole graph or none
    finally:
        tmp.unlink(missing_ok=True)
    return path


def cached_classifier(folder: str | Path, info, cache: str | Path | None = None) -> OnnxClassifier | None:
    """The folder's classifier on ONNX Runtime when its graph is already exported, else None: served without
    ever loading the torch model (faster start, and the torch weights never take memory)."""
    try:
        path = graph_path(folder, info, cache)
        return OnnxClassifier(path, num_labels=len(info.label_names)) if path is not None and path.is_file() \
            else None
    except Exception as exc:  # a damaged cached graph: export again from the torch model
        logger.warning("cached ONNX graph not usable (%s: %s)", type(exc).__name__, exc)
        return None


def onnx_classifier(model, tokenizer, folder: str | Path, info,
                    cache: str | Path | None = None) -> OnnxClassifier | None:
    """`model` (the CPU `SequenceClassifier` loaded from `folder`, LoRA merged) on ONNX Runtime, exported
    once per folder into `cache` (default: the xlt cache); None, with a warning, where that cannot be done."""
    from filelock import FileLock

    try:
        path = graph_path(folder, info, cache)
        if path is None:
            logger.warning("ONNX Runtime not used for %s: its base model has no fingerprint to cache by", folder)
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(path) + ".lock"):
            if not path.is_file():
                logger.info("exporting the classifier to ONNX (once per model): %s", path)
                export_onnx(model, tokenizer, path)
        return OnnxClassifier(path, num_labels=model.head.out_features)
    except Exception as exc:  # prediction must go on: torch serves it
        logger.warning("ONNX Runtime not used for this model (%s: %s); predicting with torch",
                       type(exc).__name__, exc)
        return None
