"""Learnt line shapes: one regex per recurring key/value layout, read in a single match.

A device writes the lines of one kind with the same keys in the same order, quoted the same way;
only the values change. A regex holding those keys as literals reads such a line in one match,
where a general regex finds the pairs one at a time (each find costing about what the whole
shape match does). Each dialect builds its shapes so that any text a shape matches is text its
general reading gives exactly the same pairs for (single spaces, values that cannot hold the
quote or the separator the general regex stops at); a shape is also checked against the general
reading of the line it is learnt from. Text no shape matches is read the general way, and a
layout seen twice is learnt, so one-off lines never pay for a compile.
"""

from __future__ import annotations

import re

_Shape = tuple[re.Pattern[str], tuple[str, ...], str]


class Shapes:
    """Shapes of one dialect, a few per key (a cheap slice of the line that tells kinds apart).

    Each key's shapes are one tuple replaced in a single assignment, so parsers in several
    threads never see half an update; the sizes are bounded (a flood of odd lines resets them),
    and so are the compiles: after the first `_FREE_COMPILES`, one per `_OFFERS_PER_COMPILE`
    lines read the general way, so a sender whose layouts never repeat costs little extra.
    """

    __slots__ = ("_compiles", "_learnt", "_max_keys", "_offers", "_per_key", "_seen")
    _FREE_COMPILES = 64
    _OFFERS_PER_COMPILE = 500

    def __init__(self, per_key: int = 4, max_keys: int = 256) -> None:
        self._learnt: dict[str, tuple[_Shape, ...]] = {}
        self._seen: dict[str, bool] = {}
        self._per_key = per_key
        self._max_keys = max_keys
        self._offers = 0
        self._compiles = 0

    def read(self, key: str, text: str, pos: int = 0, full: bool = True) -> tuple[dict[str, str], int, str] | None:
        """(pairs, end, tag) of the first learnt shape matching text at pos (to its end if `full`);
        the tag is what the dialect stored with the shape (the SD-ID of a structured data element)."""
        for pattern, names, tag in self._learnt.get(key, ()):
            m = pattern.fullmatch(text, pos) if full else pattern.match(text, pos)
            if m is not None:
                return dict(zip(names, m.groups(), strict=True)), m.end(), tag
        return None

    def wants(self, key: str) -> bool:
        """Whether a shape for key may still be learnt (the caller then builds it and offers it)."""
        self._offers += 1
        return (
            len(self._learnt.get(key, ())) < self._per_key
            and self._compiles < self._FREE_COMPILES + self._offers // self._OFFERS_PER_COMPILE
        )

    def offer(
        self,
        key: str,
        source: str,
        names: tuple[str, ...],
        text: str,
        pos: int,
        full: bool,
        expected: dict[str, str],
        tag: str = "",
    ) -> None:
        """A text read the general way (as `expected`): learn the shape `source` (one group per
        name) the second time it is offered, if it reads this text the same way."""
        shapes = self._learnt.get(key, ())
        if len(shapes) >= self._per_key:
            return
        if self._seen.pop(source, None) is None:
            if len(self._seen) >= 1024:
                self._seen.clear()
            self._seen[source] = True
            return
        self._compiles += 1
        pattern = re.compile(source, re.S | re.A)
        if pattern.groups != len(names):
            return
        m = pattern.fullmatch(text, pos) if full else pattern.match(text, pos)
        if m is None or dict(zip(names, m.groups(), strict=True)) != expected:
            return
        if len(self._learnt) >= self._max_keys:
            self._learnt.clear()
        self._learnt[key] = ((pattern, names, tag), *shapes)
