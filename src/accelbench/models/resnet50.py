"""ResNet-50 v1.5 (and the ResNet-34 trunk SSD uses), in plain PyTorch, shared by training and
inference.

Reproduces torchvision's ``resnet50`` / ``resnet34`` layer for layer (there is no torchvision
build here): 25,557,032 parameters and 4.09 GMACs per 224x224 image for ResNet-50. v1.5 puts
the down-sampling stride on the 3x3 convolution of a bottleneck, not on the first 1x1 as v1
did (He et al. 2016 describe v1; the MLPerf reference and NVIDIA's "ResNet50 v1.5" recipe,
github.com/NVIDIA/DeepLearningExamples PyTorch/Classification/ConvNets/resnet50v1.5, use v1.5:
about 0.5% more top-1 for about 5% less throughput).

Initialisation: Kaiming-normal (fan-out) convolutions, BatchNorm gamma 1 and beta 0, PyTorch's
default for the classifier. Options the training recipes need:

* ``zero_init_residual``: the last BatchNorm gamma of every residual block starts at 0, so each
  block starts as the identity (Goyal et al. 2017, "Accurate, Large Minibatch SGD", section 5.1;
  NVIDIA's recipe does the same). Keeps the large learning rates of short schedules stable.
* ``channels_last``: the parameters are laid out NHWC, which tensor-core convolutions (cuDNN,
  and oneDNN on CPUs) run without layout transposes; feed inputs in the same memory format.
* ``num_classes``: 1000 for ImageNet, 10 for CIFAR-10.

Inference uses it with random weights: speed does not depend on their values, and results say so.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

PARAMS_RESNET50 = 25_557_032
"""Parameters of ResNet-50 v1.5 with 1000 classes (torchvision's published count)."""
GMACS_RESNET50_224 = 4.09
"""Multiply-accumulates per 224x224 image, in billions (torchvision publishes "4.09 GFLOPS",
counting one multiply-accumulate as one operation)."""


def conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


def conv1x1(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 1, stride=stride, bias=False)


def shortcut(cin: int, cout: int, stride: int) -> nn.Module | None:
    """The projection a block's identity path needs when its shape changes (1x1 conv + BN),
    else None: both block types use the same one."""
    if stride == 1 and cin == cout:
        return None
    return nn.Sequential(conv1x1(cin, cout, stride), nn.BatchNorm2d(cout))


class BasicBlock(nn.Module):
    """Two 3x3 convolutions (ResNet-18/34)."""

    expansion = 1

    def __init__(self, cin: int, width: int, stride: int = 1) -> None:
        super().__init__()
        cout = width * self.expansion
        self.conv1 = conv3x3(cin, width, stride)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = conv3x3(width, cout)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = shortcut(cin, cout, stride)

    def last_bn(self) -> nn.BatchNorm2d:
        return self.bn2

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + identity)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (carrying the stride: v1.5), 1x1 expand (ResNet-50/101/152)."""

    expansion = 4

    def __init__(self, cin: int, width: int, stride: int = 1) -> None:
        super().__init__()
        cout = width * self.expansion
        self.conv1 = conv1x1(cin, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = conv3x3(width, width, stride)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = conv1x1(width, cout)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = shortcut(cin, cout, stride)

    def last_bn(self) -> nn.BatchNorm2d:
        return self.bn3

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.relu(y + identity)


class ResNet(nn.Module):
    """The ImageNet ResNet: 7x7 stem, four stages, global average pool, classifier."""

    def __init__(
        self,
        block: type[BasicBlock | Bottleneck],
        layers: list[int],
        num_classes: int = 1000,
        zero_init_residual: bool = False,
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        cin = 64
        stages = []
        for i, (width, n) in enumerate(zip((64, 128, 256, 512), layers, strict=True)):
            blocks = []
            for j in range(n):
                blocks.append(block(cin, width, stride=2 if (i > 0 and j == 0) else 1))
                cin = width * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, (BasicBlock, Bottleneck)):
                    nn.init.zeros_(m.last_bn().weight)

    def features(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.avgpool(self.features(x)).flatten(1))


def _finish(model: ResNet, channels_last: bool) -> ResNet:
    return model.to(memory_format=torch.channels_last) if channels_last else model


def resnet50(
    num_classes: int = 1000, *, zero_init_residual: bool = False, channels_last: bool = False
) -> ResNet:
    """ResNet-50 v1.5: bottlenecks [3, 4, 6, 3], 25.6 M parameters at 1000 classes."""
    return _finish(ResNet(Bottleneck, [3, 4, 6, 3], num_classes, zero_init_residual), channels_last)


def resnet34(
    num_classes: int = 1000, *, zero_init_residual: bool = False, channels_last: bool = False
) -> ResNet:
    """ResNet-34: basic blocks [3, 4, 6, 3], 21.8 M parameters (SSD-ResNet34's trunk)."""
    return _finish(ResNet(BasicBlock, [3, 4, 6, 3], num_classes, zero_init_residual), channels_last)
