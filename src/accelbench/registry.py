"""One small typed registry per kind of plug-in (devices, meters, workloads, ...).

Adding a device, meter or workload is one file in the registry's package plus
``@REGISTRY.register("name")``: the registry imports every module of its package the first time
it is asked for its entries, so no list of imports has to be kept anywhere, and the contract
tests, which iterate the registries, pick the new entry up without being edited.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from accelbench.errors import UserError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps a name to a registered object; unknown names raise a :class:`UserError`.

    ``package`` (a dotted name) is the package whose modules register into this registry;
    they are imported on first use.
    """

    def __init__(self, kind: str, package: str | None = None) -> None:
        self.kind = kind
        self.package = package
        self._items: dict[str, T] = {}
        self._discovered = package is None

    def _discover(self) -> None:
        if self._discovered:
            return
        self._discovered = True  # set first: the modules imported below may ask again
        pkg = importlib.import_module(self.package)  # type: ignore[arg-type]
        for info in pkgutil.iter_modules(pkg.__path__):
            if not info.name.startswith("_"):
                importlib.import_module(f"{self.package}.{info.name}")

    def register(self, name: str) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = obj
            return obj

        return deco

    def get(self, name: str) -> T:
        self._discover()
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "none"
            raise UserError(f"unknown {self.kind} {name!r}; expected one of: {known}") from None

    def names(self) -> list[str]:
        self._discover()
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        self._discover()
        return name in self._items

    def __iter__(self) -> Iterator[tuple[str, T]]:
        self._discover()
        return iter(sorted(self._items.items()))
