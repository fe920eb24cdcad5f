"""tools/replicas.py: re-parametrised copies compute the same float function with other weights."""

from types import SimpleNamespace

import numpy as np
import pytest

from edge.errors import ConversionError
from tools.replicas import reparametrise, shared_tensors

# tensors: 0 input [1,1,1,3]; 1 stem (conv+relu) [4]; 2 depthwise [4]; 3 pointwise [4];
# 4 add+relu [4]; 5 head [2]. Constants 10.. . All kernels 1x1, so numpy can run the graph.
SHAPES = {0: (1, 1, 1, 3), 1: (1, 1, 1, 4), 2: (1, 1, 1, 4), 3: (1, 1, 1, 4), 4: (1, 1, 1, 4), 5: (1, 1, 1, 2)}


def _graph(stem_act=1):
    rng = np.random.default_rng(1)
    c = {10: rng.normal(size=(4, 1, 1, 3)), 11: rng.normal(size=4), 12: rng.normal(size=(1, 1, 1, 4)), 13: rng.normal(size=4),
         14: rng.normal(size=(4, 1, 1, 4)), 15: rng.normal(size=4), 16: rng.normal(size=(2, 1, 1, 4)), 17: rng.normal(size=2)}
    consts = {k: v.astype(np.float32) for k, v in c.items()}
    o = lambda act: SimpleNamespace(fusedActivationFunction=act)  # noqa: E731
    steps = [("CONV_2D", o(stem_act), [0, 10, 11], 1), ("DEPTHWISE_CONV_2D", o(0), [1, 12, 13], 2), ("CONV_2D", o(0), [2, 14, 15], 3),
             ("ADD", o(1), [1, 3], 4), ("CONV_2D", o(0), [4, 16, 17], 5)]
    return steps, consts


def _run(steps, consts, x):
    env = {0: x}
    act = {0: lambda v: v, 1: lambda v: np.maximum(v, 0), 3: lambda v: np.clip(v, 0, 6)}
    for name, o, ins, out in steps:
        if name == "CONV_2D":
            y = env[ins[0]] @ consts[ins[1]][:, 0, 0, :].T + consts[ins[2]]
        elif name == "DEPTHWISE_CONV_2D":
            y = env[ins[0]] * consts[ins[1]][0, 0, 0] + consts[ins[2]]
        else:
            y = env[ins[0]] + env[ins[1]]
        env[out] = act[o.fusedActivationFunction](y)
    return env[5]


def test_replica_is_the_same_function_with_other_weights():
    steps, consts = _graph()
    rep = reparametrise(steps, consts, SHAPES, 0, [5], np.random.default_rng(0), 0.3)
    x = np.random.default_rng(2).normal(size=(50, 3)).astype(np.float32)
    assert np.allclose(_run(steps, rep, x), _run(steps, consts, x), atol=1e-5)
    assert not np.allclose(rep[10], consts[10]) and not np.allclose(rep[12], consts[12])  # really re-scaled
    assert shared_tensors(steps, consts, rep, 0) == set()


def test_shared_first_stage_keeps_the_stem_and_shares_it():
    steps, consts = _graph()
    shapes = {**SHAPES, 2: (1, 2, 2, 4), 3: (1, 2, 2, 4), 4: (1, 2, 2, 4), 5: (1, 2, 2, 2)}  # later tensors at another resolution
    rep = reparametrise(steps, consts, shapes, 0, [5], np.random.default_rng(0), 0.3, share_first_stage=True)
    assert np.array_equal(rep[10], consts[10]) and np.array_equal(rep[11], consts[11])
    assert shared_tensors(steps, consts, rep, 0) == {1}
    x = np.random.default_rng(3).normal(size=(20, 3)).astype(np.float32)
    assert np.allclose(_run(steps, rep, x), _run(steps, consts, x), atol=1e-5)


def test_an_activation_that_does_not_commute_with_scaling_is_refused():
    steps, consts = _graph(stem_act=3)  # ReLU6 inside the network
    with pytest.raises(ConversionError, match="cannot be re-scaled"):
        reparametrise(steps, consts, SHAPES, 0, [5], np.random.default_rng(0), 0.3)
