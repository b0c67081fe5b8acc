"""One small registry used for every kind of block: name -> entry.

It gives wildcard listing (``fnmatch``), "did you mean" suggestions for unknown names,
refuses duplicate names, and checks overrides against the keyword-only signature of the
registered callable so that an unknown key raises a ``TypeError`` naming the valid ones.
"""

from __future__ import annotations

import difflib
import fnmatch
import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping

__all__ = ["Registry", "RegistryEntry", "UnknownNameError", "check_overrides", "signature_defaults"]


class UnknownNameError(KeyError):
    """An unknown registry name. A ``KeyError`` whose message lists close matches."""

    def __str__(self) -> str:  # KeyError would quote the message; show it as written.
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class RegistryEntry:
    """A registered callable and the metadata it was registered with."""

    name: str
    fn: Callable[..., Any]
    meta: Mapping[str, Any] = field(default_factory=dict)


def signature_defaults(fn: Callable[..., Any]) -> dict[str, Any]:
    """The keyword parameters of ``fn`` and their defaults (``inspect.Parameter.empty`` if none)."""
    params = inspect.signature(fn).parameters.values()
    return {
        p.name: p.default
        for p in params
        if p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    }


def check_overrides(what: str, fn: Callable[..., Any], overrides: Mapping[str, Any]) -> None:
    """Raise ``TypeError`` naming the valid keys when ``overrides`` has a key ``fn`` does not take."""
    valid = signature_defaults(fn)
    unknown = sorted(set(overrides) - set(valid))
    if unknown:
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, list(valid), n=1)
            if close:
                hints.append(f"{key!r} (did you mean {close[0]!r}?)")
            else:
                hints.append(repr(key))
        raise TypeError(
            f"{what} got unknown argument(s) {', '.join(hints)}. "
            f"Valid arguments are: {', '.join(sorted(valid))}."
        )


class Registry:
    """Maps names to callables of one kind (models, backbones, attention blocks, ...).

    >>> reg = Registry("head")
    >>> @reg.register(paper="...")
    ... def fcn(*, channels=256): ...
    >>> reg.get("fcn").fn is fcn
    True
    """

    def __init__(self, kind: str, *, list_hint: str = "") -> None:
        self.kind = kind
        self.list_hint = list_hint  # the public call that lists the names, for error messages
        self._entries: dict[str, RegistryEntry] = {}

    def register(self, fn: Callable[..., Any] | None = None, *, name: str | None = None, **meta: Any):
        """Register ``fn`` under ``name`` (default: its ``__name__``); usable bare or with arguments."""

        def decorator(f: Callable[..., Any]) -> Callable[..., Any]:
            self.add(name or f.__name__, f, **meta)
            return f

        return decorator(fn) if fn is not None else decorator

    def add(self, name: str, fn: Callable[..., Any], **meta: Any) -> RegistryEntry:
        """Add an entry; a second registration of the same name is refused."""
        if not isinstance(name, str) or not name or "." in name or any(c in name for c in "*?[]"):
            raise ValueError(
                f"Invalid {self.kind} name {name!r}: use a non-empty string without '.', '*', '?', '[' or ']' "
                "('.' separates a weights tag, e.g. 'deeplabv3_r50.cityscapes')."
            )
        if name in self._entries:
            raise ValueError(
                f"A {self.kind} named {name!r} is already registered (by "
                f"{getattr(self._entries[name].fn, '__module__', '?')}). Pick another name."
            )
        entry = RegistryEntry(name=name, fn=fn, meta=dict(meta))
        self._entries[name] = entry
        return entry

    def remove(self, name: str) -> None:
        """Remove an entry (mainly for tests that register temporary recipes)."""
        self.get(name)
        del self._entries[name]

    def get(self, name: str) -> RegistryEntry:
        """The entry for ``name``; an unknown name raises :class:`UnknownNameError` with close matches."""
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            pass
        close = difflib.get_close_matches(str(name), list(self._entries), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        listing = f" with {self.list_hint}" if self.list_hint else ""
        raise UnknownNameError(
            f"Unknown {self.kind} {name!r}.{hint} {len(self._entries)} are registered; list them{listing}."
        )

    def names(self, pattern: str = "*", **filters: Any) -> list[str]:
        """Sorted names matching the ``fnmatch`` pattern and whose metadata equals every filter."""
        out = []
        for name, entry in self._entries.items():
            if not fnmatch.fnmatchcase(name, pattern):
                continue
            if any(v is not None and entry.meta.get(k) != v for k, v in filters.items()):
                continue
            out.append(name)
        return sorted(out)

    def build(self, name: str, /, *args: Any, **kwargs: Any) -> Any:
        """Call the entry's function with ``args`` (positional inputs such as a block's channel
        count) and ``kwargs`` (its options), checking the options against its signature first."""
        entry = self.get(name)
        check_overrides(f"{self.kind[:1].upper()}{self.kind[1:]} {name!r}", entry.fn, kwargs)
        return entry.fn(*args, **kwargs)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def __len__(self) -> int:
        return len(self._entries)
