"""Method registry: each transfer method registers its `TransferMethod` in its own module.

Shipped methods are registered lazily (name -> module), so `xlt methods` imports only the small
method modules (no torch). Modules named in `XLT_PLUGINS` (comma-separated) are imported too:
that is how a method outside the package (a research prototype, a test) joins the registry.
"""

from __future__ import annotations

import importlib
import os

from ..errors import XltError
from ..registry import Registry
from .base import TransferMethod

METHODS: Registry[TransferMethod] = Registry("method")

BUILTIN = {
    "zero-shot": "xlt.methods.zero_shot",
    "few-shot": "xlt.methods.few_shot",
    "multi-source": "xlt.methods.multi_source",
    "pretrained": "xlt.methods.pretrained",
    "code-switch": "xlt.methods.code_switch",
    "translate-train": "xlt.methods.translate_train",
    "translate-train-all": "xlt.methods.translate_train",
    "translate-test": "xlt.methods.translate_test",
    "frozen-embedding": "xlt.methods.frozen_embedding",
    "embedding-alignment": "xlt.methods.embedding_alignment",
    "model-merging": "xlt.methods.model_merging",
    "maml": "xlt.methods.maml",
}
for _name, _module in BUILTIN.items():
    METHODS.register_lazy(_name, _module)

_plugins_loaded: set[str] = set()


def load_plugins() -> None:
    """Import the modules in `XLT_PLUGINS` once each (they call `register_method`)."""
    for module in [m.strip() for m in os.environ.get("XLT_PLUGINS", "").split(",") if m.strip()]:
        if module in _plugins_loaded:
            continue
        try:
            importlib.import_module(module)
        except Exception as exc:  # not found, a relative name ('.'), or the plugin's own error on import
            raise XltError(f"XLT_PLUGINS names {module!r}, which cannot be imported ({type(exc).__name__}: "
                           f"{str(exc)[:200]}); name importable modules, comma-separated") from exc
        _plugins_loaded.add(module)


def register_method(method: TransferMethod) -> TransferMethod:
    if not isinstance(method, TransferMethod) or not method.name:
        raise ValueError("register a TransferMethod instance with a name")
    return METHODS.register(method.name, method)


def get_method(name: str) -> TransferMethod:
    load_plugins()
    return METHODS.get(name)


def method_names() -> list[str]:
    load_plugins()
    return METHODS.names()
