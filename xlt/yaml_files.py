"""YAML as xlt reads its grid and task files: safe, and a key given twice is an error, not a silent overwrite."""

from __future__ import annotations

from collections.abc import Hashable

import yaml


class _UniqueKeyLoader(yaml.SafeLoader):
    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor` may repeat; SafeLoader merges it
                continue
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, Hashable):
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        "while reading a mapping", node.start_mark, f"the key {key!r} is given twice",
                        key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep)


def load_yaml(text: str):
    """`yaml.safe_load`, refusing a mapping that repeats a key (raises `yaml.YAMLError`). A document nested
    deeper than the parser's recursion can follow is a `yaml.YAMLError` too, not a RecursionError."""
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader subclass)
    except RecursionError:
        raise yaml.YAMLError("the document is nested too deeply") from None


def yaml_problem(exc: Exception) -> str:
    """One line for a YAML error: what is wrong and on which line."""
    problem, mark = getattr(exc, "problem", None), getattr(exc, "problem_mark", None)
    if problem:
        return f"{problem} (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else problem
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
