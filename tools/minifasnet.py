"""MiniFASNetV2 and MiniFASNetV1SE (presentation-attack detection), as PyTorch modules.

Written for the toolchain from the architecture published in minivision-ai/Silent-Face-Anti-Spoofing
(``src/model_lib/MiniFASNet.py``, Apache-2.0); module and parameter names follow the published
state dicts so that their weights load with ``strict=True``.

The network is one chain of pruned MobileFaceNet bottlenecks. ``CHANNELS`` lists the width after
every convolution along that chain: bottleneck ``b`` starting at position ``s`` expands
``CHANNELS[s] -> CHANNELS[s+1]`` (1x1), filters depthwise ``CHANNELS[s+1] -> CHANNELS[s+2]`` (3x3)
and projects ``CHANNELS[s+2] -> CHANNELS[s+3]`` (1x1, linear); the next one starts at ``s + 3``.

Input: ``[N, 3, 80, 80]`` float BGR pixels in 0..255 (no normalisation: upstream's ``ToTensor``
does not divide by 255). Output: 3 logits; softmax class 1 is "live".
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch
from torch import nn

#: Channel widths along the chain, per pruning variant (from the published model).
CHANNELS: dict[str, tuple[int, ...]] = {
    "v1": (32, 32, 103, 103, 64, 13, 13, 64, 26, 26, 64, 13, 13, 64, 52, 52, 64, 231, 231, 128,
           154, 154, 128, 52, 52, 128, 26, 26, 128, 52, 52, 128, 26, 26, 128, 26, 26, 128, 308, 308,
           128, 26, 26, 128, 26, 26, 128, 512, 512),
    "v2": (32, 32, 103, 103, 64, 13, 13, 64, 13, 13, 64, 13, 13, 64, 13, 13, 64, 231, 231, 128,
           231, 231, 128, 52, 52, 128, 26, 26, 128, 77, 77, 128, 26, 26, 128, 26, 26, 128, 308, 308,
           128, 26, 26, 128, 26, 26, 128, 512, 512),
}
#: (attribute name, chain start, bottlenecks, stride, residual) for each stage after conv2_dw.
STAGES = (
    ("conv_23", 1, 1, 2, False),
    ("conv_3", 4, 4, 1, True),
    ("conv_34", 16, 1, 2, False),
    ("conv_4", 19, 6, 1, True),
    ("conv_45", 37, 1, 2, False),
    ("conv_5", 40, 2, 1, True),
)
#: The released models: channel variant, squeeze-excitation, crop scale.
VARIANTS: dict[str, dict[str, Any]] = {
    "MiniFASNetV2": {"channels": "v2", "se": False},
    "MiniFASNetV1SE": {"channels": "v1", "se": True},
}


class ConvBN(nn.Module):
    """Convolution without bias, batch norm, and a per-channel PReLU unless ``linear``."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, linear: bool = False):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, padding=kernel // 2 if kernel == 3 else 0, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.prelu: nn.Module | None = None if linear else nn.PReLU(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn(self.conv(x))
        return y if self.prelu is None else self.prelu(y)


class SqueezeExcite(nn.Module):
    """Channel gate: global mean -> 1x1 conv/BN/ReLU -> 1x1 conv/BN -> sigmoid, times the input."""

    def __init__(self, channels: int, reduction: int = 4):
        super().__init__()
        mid = channels // reduction
        self.fc1 = nn.Conv2d(channels, mid, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.fc2 = nn.Conv2d(mid, channels, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = x.mean(dim=(2, 3), keepdim=True)
        g = self.bn2(self.fc2(torch.relu(self.bn1(self.fc1(g)))))
        return x * torch.sigmoid(g)


class Bottleneck(nn.Module):
    """Expand (1x1), depthwise 3x3 (``stride``), project (1x1, linear); optional SE gate and shortcut."""

    def __init__(self, ch: tuple[int, ...], start: int, stride: int, residual: bool, se: bool):
        super().__init__()
        a, b, c, d = ch[start : start + 4]
        self.conv = ConvBN(a, b, 1)
        self.conv_dw = ConvBN(b, c, 3, stride, groups=b)
        self.project = ConvBN(c, d, 1, linear=True)
        self.residual = residual
        self.se_module: nn.Module | None = SqueezeExcite(d) if se else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.conv_dw(self.conv(x)))
        if self.se_module is not None:
            y = self.se_module(y)
        return x + y if self.residual else y


class Stage(nn.Module):
    """Bottlenecks in sequence (kept under ``model`` as the published weights name them)."""

    def __init__(self, blocks: list[Bottleneck]):
        super().__init__()
        self.model = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class MiniFASNet(nn.Module):
    """One MiniFASNet for ``size`` x ``size`` inputs (the last depthwise kernel covers the 1/16 map)."""

    def __init__(self, channels: str, se: bool, size: int = 80, classes: int = 3, embedding: int = 128):
        super().__init__()
        ch = CHANNELS[channels]
        self.conv1 = ConvBN(3, ch[0], 3, 2)
        self.conv2_dw = ConvBN(ch[0], ch[1], 3, 1, groups=ch[1])
        for name, start, n, stride, residual in STAGES:
            blocks = [Bottleneck(ch, start + 3 * i, stride, residual, se and residual and i == n - 1) for i in range(n)]
            # The published model wraps only the residual stages in a container.
            setattr(self, name, Stage(blocks) if residual else blocks[0])
        k = (size + 15) // 16
        self.conv_6_sep = ConvBN(ch[46], ch[47], 1)
        self.conv_6_dw = ConvBN(ch[47], ch[48], k, groups=ch[48], linear=True)
        self.linear = nn.Linear(ch[48], embedding, bias=False)
        self.bn = nn.BatchNorm1d(embedding)
        self.prob = nn.Linear(embedding, classes, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2_dw(self.conv1(x))
        for name, *_ in STAGES:
            y = getattr(self, name)(y)
        y = self.conv_6_dw(self.conv_6_sep(y)).flatten(1)
        return self.prob(self.bn(self.linear(y)))


def load(path: Path, variant: str, size: int = 80) -> MiniFASNet:
    """The network ``variant`` (a key of ``VARIANTS``) with the state dict at ``path``, in eval mode.
    A ``module.`` prefix (DataParallel) is stripped; every key must match (strict)."""
    spec = VARIANTS[variant]
    net = MiniFASNet(spec["channels"], spec["se"], size)
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    state = OrderedDict((k.removeprefix("module."), v) for k, v in state.items())
    net.load_state_dict(state, strict=True)
    return net.eval()


def _scale_out(block: ConvBN, s: torch.Tensor) -> None:
    """Multiply ``block``'s output channels by ``s`` (> 0): its batch norm's affine part; PReLU commutes."""
    block.bn.weight.mul_(s)
    block.bn.bias.mul_(s)


def _scale_in(block: ConvBN, s: torch.Tensor) -> None:
    """Divide ``block``'s input channels by ``s``, undoing a factor its input carries."""
    w = block.conv.weight
    if block.conv.groups == 1:
        w.div_(s.view(1, -1, 1, 1))
    else:  # depthwise: one filter per input channel
        w.div_(s.view(-1, 1, 1, 1))


def _pairs(net: MiniFASNet) -> list[tuple[ConvBN, ConvBN]]:
    """(producer, consumer) pairs with only a PReLU between them: their shared tensor may carry any
    positive per-channel factor. The residual stream and the SE gates' inputs keep factor 1."""
    out = [(net.conv1, net.conv2_dw), (net.conv_6_sep, net.conv_6_dw)]
    for name, *_ in STAGES:
        stage = getattr(net, name)
        for b in (stage.model if isinstance(stage, Stage) else [stage]):
            out += [(b.conv, b.conv_dw), (b.conv_dw, b.project)]
    return out


def _bn_gain(block: ConvBN) -> torch.Tensor:
    bn = block.bn
    return bn.weight / torch.sqrt(bn.running_var + bn.eps)


def equalise(net: MiniFASNet, rounds: int = 4) -> int:
    """Cross-layer equalisation (Nagel et al. 2019) of every pair from :func:`_pairs`, on the
    batch-norm-folded weights: channel c of the shared tensor is divided by sqrt(r_a[c] / r_b[c]),
    so producer and consumer use their int8 weight ranges evenly. Exact in float. Done here, not
    on the ONNX graph, so that replicas can then be re-scaled apart (equalising after replication
    would make them identical again). Returns the number of pairs."""
    pairs = _pairs(net)
    with torch.no_grad():
        for _ in range(rounds):
            for a, b in pairs:
                wa = a.conv.weight * _bn_gain(a).view(-1, 1, 1, 1)
                ra = wa.abs().flatten(1).amax(1)
                wb = b.conv.weight * _bn_gain(b).view(-1, 1, 1, 1)
                rb = wb.abs().flatten(1).amax(1) if b.conv.groups > 1 else wb.abs().transpose(0, 1).flatten(1).amax(1)
                ok = (ra > 0) & (rb > 0)
                f = torch.where(ok, torch.sqrt(ra / rb.clamp_min(1e-12)), torch.ones_like(ra))
                _scale_out(a, 1 / f)
                _scale_in(b, 1 / f)
    return len(pairs)


def _scale_stream(net: MiniFASNet, factors: list[torch.Tensor]) -> None:
    """Carry the residual stream of each resolution multiplied by per-channel ``factors`` (one vector
    per residual stage): the stride-2 bottleneck before a stage puts them in, every bottleneck of the
    stage takes them out at its expansion and back in at its projection (so the shortcut addition sees
    equal factors), the SE gate's first conv takes them out of its mean, the next stage's first
    expansion (or conv_6_sep) takes them out."""
    residual = [name for name, *_, res in STAGES if res]
    entry = {"conv_3": "conv_23", "conv_4": "conv_34", "conv_5": "conv_45"}
    after = {"conv_3": net.conv_34.conv, "conv_4": net.conv_45.conv, "conv_5": net.conv_6_sep}
    for name, g in zip(residual, factors, strict=True):
        _scale_out(getattr(net, entry[name]).project, g)
        for b in getattr(net, name).model:
            _scale_in(b.conv, g)
            _scale_out(b.project, g)
            if b.se_module is not None:
                b.se_module.fc1.weight.div_(g.view(1, -1, 1, 1))
        _scale_in(after[name], g)


class Replicas(nn.Module):
    """``count`` copies of one network that compute the same float function but carry different
    positive per-channel factors inside (exact re-parametrisations), their logits averaged in the
    graph. In int8 every copy rounds differently, so the mean has less rounding noise than one copy
    (the idea of tools/replicas.py, here on the PyTorch module). Float equality is checked by the
    converter, never assumed."""

    def __init__(self, net: MiniFASNet, count: int, spread: float, seed: int):
        super().__init__()
        import copy

        gen = torch.Generator().manual_seed(int(seed))
        copies = [net]
        with torch.no_grad():
            for _ in range(int(count) - 1):
                r = copy.deepcopy(net)
                def factors(n: int) -> torch.Tensor:
                    return torch.exp((torch.rand(n, generator=gen) * 2 - 1) * float(spread))

                for a, b in _pairs(r):
                    f = factors(a.bn.weight.numel())
                    _scale_out(a, f)
                    _scale_in(b, f)
                _scale_stream(r, [factors(getattr(r, n).model[0].conv.conv.in_channels) for n in ("conv_3", "conv_4", "conv_5")])
                copies.append(r)
        self.copies = nn.ModuleList(copies)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([c(x) for c in self.copies]).mean(0)
