"""A TFLite op list as ``(operator, options, input tensors, output tensor)`` steps, and the two
patterns the graph rewrites look for (equalisation, bounded heads, replicas)."""

from __future__ import annotations

from typing import Any

import numpy as np

Step = tuple[str, Any, list[int], int]
_PASS_THROUGH = ("RESHAPE", "CONCATENATION")


def separable_pairs(steps: list[Step], consts: dict[int, np.ndarray]) -> list[tuple[Step, Step]]:
    """(depthwise, pointwise) pairs: a DEPTHWISE_CONV_2D without activation whose only user is a
    1x1 CONV_2D taking it as input, so that nothing non-linear sits between the two."""
    users: dict[int, list[Step]] = {}
    for st in steps:
        for i in st[2]:
            users.setdefault(i, []).append(st)
    pairs = []
    for st in steps:
        name, o, _, out = st
        if name != "DEPTHWISE_CONV_2D" or o.fusedActivationFunction != 0 or len(users.get(out, [])) != 1:
            continue
        nxt = users[out][0]
        if nxt[0] == "CONV_2D" and nxt[2][0] == out and consts[nxt[2][1]].shape[1:3] == (1, 1):
            pairs.append((st, nxt))
    return pairs


def head(steps: list[Step], consts: dict[int, np.ndarray], output: int) -> tuple[set[int], list[Step]]:
    """An output's head: the tensors that only reshape or concatenate into ``output`` (itself
    included), and the steps that produce them (the head's convolutions, for BlazeFace)."""
    producer = {st[3]: st for st in steps}
    tensors: set[int] = set()
    producers: list[Step] = []
    frontier = [output]
    while frontier:
        t = frontier.pop()
        tensors.add(t)
        st = producer.get(t)
        if st is None:
            continue
        if st[0] in _PASS_THROUGH:
            frontier += [i for i in st[2] if i not in consts and i not in tensors]
        else:
            producers.append(st)
    return tensors, producers
