"""VGG-19 (configuration E of Simonyan & Zisserman, without batch norm), as torchvision's
``vgg19``: sixteen 3x3 convolutions in five stages, then three fully connected layers.

About 19.6 GMACs per 224x224 image, almost all in convolutions, which is why the CPU study
used it to show a faster BF16 GEMM. Random weights; dropout is inactive in eval mode.
"""

from __future__ import annotations

from torch import Tensor, nn

# Output channels per 3x3 convolution, "M" for a 2x2 max pool (configuration E).
VGG19_CFG: list[int | str] = [
    *(64, 64, "M", 128, 128, "M"),
    *(256, 256, 256, 256, "M"),
    *(512, 512, 512, 512, "M"),
    *(512, 512, 512, 512, "M"),
]


class VGG(nn.Module):
    def __init__(self, cfg: list[int | str], num_classes: int = 1000) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(cin, int(v), 3, padding=1), nn.ReLU(inplace=True)]
                cin = int(v)
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(7)
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(),
            nn.Linear(4096, num_classes),
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.avgpool(self.features(x)).flatten(1))


def vgg19(num_classes: int = 1000) -> VGG:
    """VGG-19: 143.7 M parameters."""
    return VGG(VGG19_CFG, num_classes)
