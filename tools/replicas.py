"""Int8 replicas: copies of a graph that compute the same float function but round differently.

Post-training int8 adds rounding noise at every activation tensor. Where that noise is still too
large after equalisation (BlazeFace's keypoints), ``K`` replicas of the graph run side by side in
one model and the host averages their outputs. Replica 0 is the graph itself; replica k > 0 is an
exact re-parametrisation: every activation channel c of a tensor t is carried multiplied by a
positive factor S_t[c] (each CONV_2D / DEPTHWISE_CONV_2D takes S_in out and puts S_out in:
W[o, :, :, i] * S_out[o] / S_in[i], bias * S_out[o]). ReLU, max-pooling, zero padding and
additions commute with such factors as long as both inputs of an addition carry the same ones, so:

- residual-stream tensors (everything not named below) carry G[:C], one random vector for the
  whole stream: channel padding appends channels, so channel c keeps its factor end to end;
- a depthwise output feeding only a 1x1 convolution (linear in between) gets its own factors;
- the network input and the output heads (and what only reshapes/concatenates them) keep 1.

Each replica's values land differently on its int8 grid, so the replicas' rounding errors are
partly independent and their mean has less noise than any one of them. The cost is K times the
compute of the graph. Exactness is checked numerically (``check_replicas``), never assumed.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from edge.errors import ConversionError
from tools.graph import Step, head, separable_pairs


def reparametrise(
    steps: list[Step],
    consts: dict[int, np.ndarray],
    shapes: dict[int, tuple[int, ...]],
    graph_input: int,
    outputs: list[int],
    rng: np.random.Generator,
    spread: float,
    share_first_stage: bool = False,
) -> dict[int, np.ndarray]:
    """One replica's constants: ``consts`` with every conv's weights and bias re-scaled for
    channel factors exp(U(-spread, spread)) on the activation tensors (see the module doc).
    ``share_first_stage``: the ops at the first convolution's output resolution keep their
    constants, so replicas can share them (BlazeFace: 46% of the multiply-adds at 64x64); their
    rounding noise is then common to all replicas."""
    fixed = {graph_input}.union(*(head(steps, consts, t)[0] for t in outputs))
    middles = {dw[3] for dw, _ in separable_pairs(steps, consts)}
    widest = max(shp[-1] for shp in shapes.values())
    stream = np.exp(rng.uniform(-spread, spread, widest)).astype(np.float32)
    first_stage: set[int] = set()
    if share_first_stage:  # factor 1 for every tensor at the stem's resolution: replicas share them
        stem = next(st for st in steps if st[0] == "CONV_2D" and st[2][0] == graph_input)
        first_stage = {t for t, shp in shapes.items() if shp[1:3] == shapes[stem[3]][1:3]}
        stream[: max(shapes[t][-1] for t in first_stage)] = 1.0
    factors: dict[int, np.ndarray] = {}

    def factor(t: int) -> np.ndarray:
        if t not in factors:
            c = shapes[t][-1]
            if t in fixed or t in first_stage:
                factors[t] = np.ones(c, np.float32)
            elif t in middles:
                factors[t] = np.exp(rng.uniform(-spread, spread, c)).astype(np.float32)
            else:
                factors[t] = stream[:c]
        return factors[t]

    new = dict(consts)
    for name, o, ins, out in steps:
        if name not in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            continue
        if o.fusedActivationFunction not in (0, 1) and out not in fixed:  # only ReLU commutes with scaling
            raise ConversionError(f"replicas: a {name} with fused activation {o.fusedActivationFunction} outside the output heads cannot be re-scaled")
        s_in, s_out = factor(ins[0]), factor(out)
        w, b = consts[ins[1]], consts[ins[2]]
        if name == "CONV_2D":  # [O, H, W, I]
            new[ins[1]] = (w * s_out.reshape(-1, 1, 1, 1) / s_in.reshape(1, 1, 1, -1)).astype(np.float32)
        else:  # [1, H, W, C], channel multiplier 1
            if w.shape[3] != s_in.size:
                raise ConversionError(f"replicas: depthwise conv with channel multiplier {w.shape[3] // s_in.size} is not supported")
            new[ins[1]] = (w * (s_out / s_in).reshape(1, 1, 1, -1)).astype(np.float32)
        new[ins[2]] = (b * s_out).astype(np.float32)
    return new


def check_replicas(run: Callable[[dict[int, np.ndarray], np.ndarray], dict[str, np.ndarray]], replicas: list[dict[int, np.ndarray]], samples: np.ndarray) -> float:
    """Largest difference (relative to the output's magnitude) between replica 0 and any other
    replica in float on ``samples``; raises when the re-parametrisation is not exact."""
    worst = 0.0
    for x in samples:
        ref = run(replicas[0], x)
        for r in replicas[1:]:
            got = run(r, x)
            for name, v in ref.items():
                worst = max(worst, float(np.abs(got[name] - v).max()) / max(1.0, float(np.abs(v).max())))
    if worst > 1e-4:
        raise ConversionError(f"replicas: re-parametrised copies differ from the graph by {worst:.2e} (relative) in float; expected exact copies")
    return worst


def shared_tensors(steps: list[Step], base: dict[int, np.ndarray], replica: dict[int, np.ndarray], graph_input: int) -> set[int]:
    """Tensors a replica computes exactly as ``base`` does: every input shared and every
    constant identical. The replica can take them from the base's run instead of recomputing."""
    shared = {graph_input}
    for _, _, ins, out in steps:
        if all(i in shared or (i in base and np.array_equal(base[i], replica[i])) for i in ins):
            shared.add(out)
    return shared - {graph_input}
