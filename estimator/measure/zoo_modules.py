"""Small torch modules the family exports build themselves: a UNet, a token encoder, recurrent nets.

Imported only by estimator.measure.zoo_families (which needs the `zoo` extra); torch is imported here.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["recurrent", "token_encoder", "unet"]


def _double_conv(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """The standard UNet (Ronneberger et al.): 4 poolings down, 4 transposed 2x2 convolutions up, skip concats."""

    def __init__(self, in_channels: int = 3, classes: int = 2, base: int = 32) -> None:
        super().__init__()
        widths = [base * 2**level for level in range(5)]
        self.down = nn.ModuleList([_double_conv(in_channels, widths[0])]
                                  + [_double_conv(widths[i], widths[i + 1]) for i in range(4)])
        self.pool = nn.MaxPool2d(2)
        self.up = nn.ModuleList([nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2) for i in reversed(range(4))])
        self.merge = nn.ModuleList([_double_conv(widths[i] * 2, widths[i]) for i in reversed(range(4))])
        self.head = nn.Conv2d(widths[0], classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for level, block in enumerate(self.down):
            x = block(x if level == 0 else self.pool(x))
            skips.append(x)
        x = skips.pop()
        for up, merge in zip(self.up, self.merge, strict=True):
            x = merge(torch.cat([skips.pop(), up(x)], dim=1))
        return self.head(x)


def unet() -> nn.Module:
    return UNet()


class TokenEncoder(nn.Module):
    """Token ids -> embedding + learned positions -> nn.TransformerEncoder (batch first, GELU) -> per-token logits."""

    def __init__(self, vocabulary: int = 1000, width: int = 256, heads: int = 4, layers: int = 4, length: int = 128) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocabulary, width)
        self.position = nn.Parameter(torch.randn(1, length, width) * 0.02)
        layer = nn.TransformerEncoderLayer(width, heads, 4 * width, activation="gelu", batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, norm=nn.LayerNorm(width), enable_nested_tensor=False)
        self.head = nn.Linear(width, vocabulary)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(self.embed(tokens) + self.position[:, : tokens.shape[1]]))


def token_encoder() -> nn.Module:
    return TokenEncoder()


class Recurrent(nn.Module):
    """Two stacked recurrent layers over a sequence-first input (seq, batch, features), then a Linear per step."""

    def __init__(self, kind: str, features: int = 128, hidden: int = 256, bidirectional: bool = False) -> None:
        super().__init__()
        cell = nn.LSTM if kind == "lstm" else nn.GRU
        self.rnn = cell(features, hidden, num_layers=2, bidirectional=bidirectional)
        self.head = nn.Linear(hidden * (2 if bidirectional else 1), 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.rnn(x)[0])


def recurrent(kind: str) -> nn.Module:
    """'lstm': a 2-layer LSTM; 'gru': a 2-layer bidirectional GRU (both sequence first)."""
    return Recurrent(kind, bidirectional=kind == "gru")
