"""Learnt shapes: a recurring layout is read by one regex, and odd senders cannot make the
parser compile without end."""

from __future__ import annotations

import re

from collectors.syslog.shapes import Shapes

PAIR = re.compile(r"(\w+)=(\S*)")


def general(text: str) -> dict[str, str]:
    return dict(PAIR.findall(text))


def shape_of(text: str) -> tuple[str, tuple[str, ...]]:
    keys = tuple(general(text))
    return " ".join(re.escape(key) + r"=(\S*)" for key in keys), keys


def offer(shapes: Shapes, key: str, text: str) -> dict[str, str]:
    known = shapes.read(key, text)
    if known is not None:
        return known[0]
    fields = general(text)
    if shapes.wants(key):
        source, names = shape_of(text)
        shapes.offer(key, source, names, text, 0, True, fields)
    return fields


def test_a_layout_seen_twice_is_learnt_and_reads_new_values() -> None:
    shapes = Shapes()
    assert shapes.read("k", "a=1 b=2") is None
    offer(shapes, "k", "a=1 b=2")
    assert shapes.read("k", "a=3 b=4") is None  # seen once: not learnt yet
    offer(shapes, "k", "a=5 b=6")
    found = shapes.read("k", "a=x b=")
    assert found is not None and found[0] == {"a": "x", "b": ""} and found[1] == len("a=x b=")
    assert shapes.read("k", "a=x c=1") is None  # another layout: read the general way


def test_a_shape_that_reads_its_own_line_differently_is_not_learnt() -> None:
    shapes = Shapes()
    for _ in range(3):
        shapes.offer("k", r"a=(\S)\S*", ("a",), "a=12", 0, True, {"a": "12"})
    assert shapes.read("k", "a=12") is None


def test_layouts_that_never_repeat_do_not_compile_without_end() -> None:
    shapes = Shapes()
    lines = [f"k{n}=1 k{n}x=2" for n in range(20_000)]
    for n, line in enumerate(lines):  # each layout twice, each under its own key
        offer(shapes, f"key{n}", line)
        offer(shapes, f"key{n}", line)
    # 64 free compiles, then one per 500 lines read the general way: 144 here, not 20,000.
    assert shapes._compiles <= Shapes._FREE_COMPILES + 2 * len(lines) // Shapes._OFFERS_PER_COMPILE
    assert shapes._compiles >= Shapes._FREE_COMPILES


def test_learnt_shapes_and_keys_stay_bounded() -> None:
    shapes = Shapes(per_key=2, max_keys=8)
    for n in range(100):
        for _ in range(2):
            offer(shapes, f"key{n}", f"a{n}=1")
    assert len(shapes._learnt) <= 8
    assert all(len(learnt) <= 2 for learnt in shapes._learnt.values())
