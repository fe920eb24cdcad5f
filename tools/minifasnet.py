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
