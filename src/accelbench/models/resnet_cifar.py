"""ResNet for CIFAR, in plain PyTorch (no torchvision here), read top to bottom.

:class:`ResNetCifar`: He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition"
(CVPR 2016), section 4.2: a 3x3 stem of 16 channels, three stages of ``n`` basic blocks with
16/32/64 channels (stride 2 at the start of stages 2 and 3), global average pooling, a linear
classifier; depth 6n+2, so ResNet-56 is n = 9 (0.85 M parameters). Shortcuts are **option A**
as in the paper's CIFAR experiments: identity, and where the shape changes, stride-2
subsampling with zero-padded extra channels (no parameters). Kaiming-normal init.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.stride, self.pad = stride, c_out - c_in

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        """Option A: subsample by the stride, zero-pad the new channels (half each side)."""
        if self.stride != 1:
            x = x[:, :, :: self.stride, :: self.stride]
        if self.pad:
            x = F.pad(x, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNetCifar(nn.Module):
    def __init__(
        self,
        n: int = 9,
        num_classes: int = 10,
        widths: tuple[int, ...] = (16, 32, 64),
        zero_init_residual: bool = True,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(widths[0])
        blocks: list[nn.Module] = []
        c_in = widths[0]
        for i, w in enumerate(widths):
            for j in range(n):
                blocks.append(BasicBlock(c_in, w, 2 if (i > 0 and j == 0) else 1))
                c_in = w
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(c_in, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_residual:
            # Goyal et al. 2017: each block starts as the identity, which keeps the large
            # learning rates of a short schedule stable.
            for b in self.blocks:
                nn.init.zeros_(b.bn2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn(self.conv(x)))
        x = self.blocks(x)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def resnet56(num_classes: int = 10) -> ResNetCifar:
    return ResNetCifar(n=9, num_classes=num_classes)
