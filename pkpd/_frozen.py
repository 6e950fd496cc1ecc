"""A read-only mapping that pickles (MappingProxyType does not), for frozen objects that travel
to dask workers."""

from __future__ import annotations

from collections.abc import Mapping


class FrozenMap(Mapping):
    """An immutable mapping over a private copy of ``data``."""

    __slots__ = ("_data",)

    def __init__(self, data=()):
        object.__setattr__(self, "_data", dict(data))

    def __getitem__(self, key):
        return self._data[key]

    def __iter__(self):
        return iter(self._data)

    def __len__(self):
        return len(self._data)

    def __setattr__(self, name, value):
        raise AttributeError("FrozenMap is read-only")

    def __reduce__(self):
        return (FrozenMap, (self._data,))

    def __repr__(self):
        return f"FrozenMap({self._data!r})"

    def __eq__(self, other):
        return isinstance(other, Mapping) and dict(self.items()) == dict(other.items())

    def __hash__(self):
        return hash(tuple(sorted(self._data.items(), key=repr)))
