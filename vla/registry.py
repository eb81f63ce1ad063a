"""Name -> class registries that import lazily, so optional dependencies stay optional.

Users add a backbone or head from their own code without editing this library:

    from vla.heads import HEADS
    HEADS.register("my_head", "my_package.my_head:MyHead")   # or pass the class itself
"""

from __future__ import annotations

import importlib
from typing import Any

from vla.errors import unknown_name_error


class Registry:
    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, str | type] = {}

    def register(self, name: str, target: str | type | None = None):
        """Register `target` ("module:Class" or a class) under `name`; usable as a class decorator."""
        if target is not None:
            self._entries[name] = target
            return target

        def decorator(cls: type) -> type:
            self._entries[name] = cls
            return cls

        return decorator

    def get(self, name: str) -> Any:
        if name not in self._entries:
            raise unknown_name_error(self.kind, name, self._entries)
        entry = self._entries[name]
        if isinstance(entry, str):
            module, attr = entry.split(":")
            entry = getattr(importlib.import_module(module), attr)
            self._entries[name] = entry
        return entry

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries
