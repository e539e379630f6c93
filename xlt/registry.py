"""A small name -> item registry shared by tasks, models, methods and translators.

Entries can be registered lazily: `register_lazy(name, "package.module")` names the module that
registers the real item when imported, so listing names imports nothing heavy and an item's
module is imported on first use.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Iterator
from typing import Generic, TypeVar

from .errors import XltError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to specs; rejects duplicates; unknown names get a helpful error."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._lazy: dict[str, str] = {}

    def register(self, name: str, item: T) -> T:
        if not name or name != name.strip():
            raise ValueError(f"invalid {self.kind} name {name!r}")
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._items[name] = item
        self._lazy.pop(name, None)
        return item

    def register_lazy(self, name: str, module: str) -> None:
        """`name` is registered by importing `module` (on first `get`)."""
        if name in self._items or name in self._lazy:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._lazy[name] = module

    def unregister(self, name: str) -> None:
        self._items.pop(name, None)
        self._lazy.pop(name, None)

    def get(self, name: str) -> T:
        if name not in self._items and name in self._lazy:
            importlib.import_module(self._lazy[name])
            if name not in self._items:
                raise RuntimeError(f"module {self._lazy[name]} did not register {self.kind} {name!r}")
        try:
            return self._items[name]
        except (KeyError, TypeError):
            raise XltError(self.unknown_message(name)) from None

    def unknown_message(self, name: str) -> str:
        known = ", ".join(self.names())
        close = difflib.get_close_matches(str(name), self.names(), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        return f"unknown {self.kind} {str(name)[:60]!r}.{hint} Known {self.kind}s: {known}."

    def __contains__(self, name: object) -> bool:
        return name in self._items or name in self._lazy

    def names(self) -> list[str]:
        return list(dict.fromkeys([*self._items, *self._lazy]))

    def items(self) -> Iterator[tuple[str, T]]:
        return iter([(name, self.get(name)) for name in self.names()])
