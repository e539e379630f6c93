"""`apertium`: Debian's Apertium, rule-based machine translation that runs offline (GPL-2).

`apt-get install apertium cg3 apertium-eng-spa apertium-fr-es apertium-es-pt apertium-spa-ita` (the
project's `packages.txt`, which a Space installs) gives en<->es directly and fr, pt, it both ways
through Spanish (the default pivot: `en -> es -> fr` is `apertium -u eng-spa | apertium -u es-fr`,
each leg cached). The installed pairs are read from `apertium -l`, so any other installed pair
works too. One sentence per line in, the same number of lines out; `-u` drops the marks on
unknown words. Quality (chrF on 200 sentences) is about 47 en<->es, 41 for fr through es.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from ..errors import XltError
from .base import Translator, TranslatorOptions
from .registry import register_translator

PACKAGES = "apertium cg3 apertium-eng-spa apertium-fr-es apertium-es-pt apertium-spa-ita"
# Apertium names languages by ISO 639-3 or 639-1 code; xlt uses 639-1
ISO3 = {"eng": "en", "spa": "es", "fra": "fr", "por": "pt", "ita": "it", "cat": "ca", "eus": "eu", "glg": "gl",
        "mkd": "mk", "bul": "bg", "ron": "ro", "deu": "de", "nld": "nl", "swe": "sv", "dan": "da", "nob": "nb",
        "nno": "nn", "afr": "af", "rus": "ru", "ukr": "uk", "bel": "be", "pol": "pl", "ces": "cs", "slk": "sk",
        "slv": "sl", "srp": "sr", "hrv": "hr", "bos": "bs", "kaz": "kk", "tat": "tt", "tur": "tr", "ara": "ar",
        "mlt": "mt", "heb": "he", "hin": "hi", "urd": "ur", "epo": "eo", "isl": "is", "cym": "cy", "bre": "br",
        "gle": "ga", "fin": "fi", "est": "et", "hun": "hu", "ind": "id", "msa": "ms", "ell": "el", "sqi": "sq",
        "lit": "lt", "lav": "lv", "oci": "oc", "arg": "an", "ast": "ast"}


@lru_cache(maxsize=1)
def installed_modes(binary: str = "apertium") -> dict[tuple[str, str], str]:
    """(src, tgt) -> Apertium mode name, for the installed plain pairs (no variants such as es-pt_BR)."""
    try:
        listing = subprocess.run([binary, "-l"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    modes = {}
    for mode in listing.split():
        parts = mode.split("-")
        if len(parts) != 2 or "_" in mode:
            continue
        src, tgt = (ISO3.get(p, p) for p in parts)
        modes.setdefault((src, tgt), mode)
    return modes


def run_mode(mode: str, texts: list[str]) -> list[str]:
    """`apertium -u MODE` on `texts` (one line each), one process; `XltError` when it fails or loses lines."""
    text = "".join(t + "\n" for t in texts)  # texts are normalised: one line each
    try:
        done = subprocess.run(["apertium", "-u", mode], input=text, capture_output=True, text=True,
                              timeout=60 + len(texts))
    except (OSError, subprocess.SubprocessError) as exc:
        raise XltError(f"apertium {mode} failed: {exc}") from None
    if done.returncode != 0:
        raise XltError(f"apertium {mode} failed (exit {done.returncode}): {done.stderr.strip()[:200]}")
    lines = done.stdout.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) != len(texts):
        raise XltError(f"apertium {mode} returned {len(lines)} lines for {len(texts)}")
    return [line.strip() for line in lines]


@lru_cache(maxsize=64)
def mode_version(mode: str) -> str:
    """`apertium=V,apertium-eng-spa=V,lttoolbox=V,...`: the Debian packages behind `mode`, the engine first,
    then the package of the mode file (the pair's data) and of every program its pipeline runs (lt-proc,
    lrx-proc, cg-proc, ...); "" where dpkg cannot say (another system, a pair built by hand)."""
    def query(*args: str) -> str:
        try:  # -S and -W print what they found even when some name is unknown (exit 1)
            return subprocess.run(["dpkg-query", *args], capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.SubprocessError):
            return ""

    mode_file = Path(f"/usr/share/apertium/modes/{mode}.mode")
    try:
        pipeline = mode_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""
    paths = [str(mode_file)]
    for stage in pipeline.split("|"):
        program = shutil.which(stage.split()[0]) if stage.split() else None
        if program:
            paths.append(str(Path(program).resolve()))
    owners = {line.split(":", 1)[0].strip() for line in query("-S", *paths).splitlines() if ":" in line}
    if not owners:
        return ""
    found = query("-W", "-f", "${Package}=${Version}\n", "apertium", *sorted(owners)).split()
    return ",".join(sorted(dict.fromkeys(found), key=lambda p: (not p.startswith("apertium="), p)))


@lru_cache(maxsize=64)
def mode_fault(mode: str) -> str | None:
    """Why an installed mode does not run here (one short sentence through it, once per process), or None.

    `apertium -l` lists a pair whose pipeline still needs another program: `ita-spa` runs `cg-proc`
    (Debian's cg3), and without it fails only when the first batch is translated, after training."""
    try:
        return None if run_mode(mode, ["test"])[0] else "no output"
    except XltError as exc:
        return str(exc)


@dataclass
class ApertiumOptions(TranslatorOptions):
    pivot: str | None = field(default="es", metadata={
        "help": "language to translate through when no installed pair is direct (Apertium's pairs centre on es)"})


class ApertiumTranslator(Translator):
    name = "apertium"
    kind = "rule-based"
    description = ("Debian's Apertium, rule-based and offline: en<->es directly; fr, pt, it through Spanish "
                   "(apt-get install " + PACKAGES + ").")
    options_cls = ApertiumOptions
    chunk_size = 2000  # one process per chunk: its start-up is most of the cost of a small batch

    def unavailable(self) -> str | None:
        if shutil.which("apertium") is None:
            return f"the apertium program is not installed (apt-get install {PACKAGES}; listed in packages.txt)"
        if not installed_modes():
            return f"apertium lists no language pairs (apt-get install {PACKAGES})"
        return None

    def can_translate(self, src: str, tgt: str) -> bool:
        return (src, tgt) in installed_modes()

    def check(self, src: str, tgt: str) -> None:
        """The route exists and every Apertium mode on it runs (a pair can be listed yet miss a program)."""
        route = self.route(src, tgt)
        for a, b in zip(route, route[1:]):
            mode = installed_modes()[(a, b)]
            fault = mode_fault(mode)
            if fault:
                raise XltError(f"translator {self.spec!r} cannot translate {src} -> {tgt} here: apertium {mode} is "
                               f"installed but does not run ({fault}). Install what it needs (apt-get install "
                               f"{PACKAGES}; listed in packages.txt) or leave that language out.")

    def serves(self) -> str:
        pairs = sorted(installed_modes())
        return "the installed pairs " + ", ".join(f"{s}->{t}" for s, t in pairs)

    def leg_version(self, src: str, tgt: str) -> str:
        mode = installed_modes().get((src, tgt))
        return mode_version(mode) if mode else ""

    def _translate_direct(self, texts: list[str], src: str, tgt: str) -> list[str]:
        return run_mode(installed_modes()[(src, tgt)], texts)

register_translator(ApertiumTranslator)
