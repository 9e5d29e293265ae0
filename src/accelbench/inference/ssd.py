"""SSD-ResNet34 as in MLPerf inference ("ssd-large", 1200x1200, COCO's 81 classes).

Follows the MLPerf reference model (``vision/classification_and_detection/python/models/
ssd_r34.py``) layer for layer:

- **Backbone**: ResNet-34 through ``layer3``, with the first block of ``layer3`` at stride 1
  (its 3x3 convolution and its down-sampling 1x1), so the 256-channel feature map is 1/8 of
  the input: 150x150 at 1200x1200.
- **Feature pyramid**: five extra blocks (1x1 reduce, 3x3) giving 512, 512, 256, 256 and 256
  channels at 75, 38, 19, 9 and 7 (strides 2, 2, 2, 2 and the last two unpadded).
- **Heads**: per level a 3x3 location and a 3x3 confidence convolution of stride 3 (MLPerf's
  ``strides=[3, 3, ...]``) with 4, 6, 6, 6, 4, 4 default boxes: 15130 boxes at 1200x1200.

The timed model ends at the raw head outputs (``locs``: N x 4 x 15130, ``confs``:
N x 81 x 15130). Box decoding and non-maximum suppression are **excluded**: they are
data-dependent post-processing on the host in the reference implementation, and timing them
with random weights (which produce arbitrary numbers of candidate boxes) would not measure
anything meaningful. Random weights, as every model here.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from accelbench.models.resnet50 import resnet34


class ResNet34Backbone(nn.Module):
    """ResNet-34 conv1..layer3, layer3 without its stride (MLPerf's ``_ModifyBlock``)."""

    def __init__(self) -> None:
        super().__init__()
        rn = resnet34()
        first = rn.layer3[0]
        first.conv1.stride = (1, 1)
        assert first.downsample is not None
        first.downsample[0].stride = (1, 1)
        self.body = nn.Sequential(rn.conv1, rn.bn1, rn.relu, rn.maxpool, rn.layer1, rn.layer2)
        self.layer3 = rn.layer3

    def forward(self, x: Tensor) -> Tensor:
        return self.layer3(self.body(x))


class SSDResNet34(nn.Module):
    out_channels = (256, 512, 512, 256, 256, 256)
    num_defaults = (4, 6, 6, 6, 4, 4)
    strides = (3, 3, 2, 2, 2, 2)  # loc head, conf head, then extra blocks 1..4

    def __init__(self, num_classes: int = 81) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.backbone = ResNet34Backbone()
        oc, s = self.out_channels, self.strides
        mid = (256, 256, 128, 128, 128)

        def extra(i: int, stride: int, padding: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(oc[i], mid[i], 1),
                nn.ReLU(inplace=True),
                nn.Conv2d(mid[i], oc[i + 1], 3, stride=stride, padding=padding),
                nn.ReLU(inplace=True),
            )

        # (stride, padding) of each block's 3x3: 150 -> 75 -> 38 -> 19 -> 9 -> 7 at 1200x1200
        geometry = ((s[2], 1), (s[3], 1), (s[4], 1), (s[5], 0), (1, 0))
        self.additional_blocks = nn.ModuleList(
            extra(i, stride, pad) for i, (stride, pad) in enumerate(geometry)
        )
        self.loc = nn.ModuleList(
            nn.Conv2d(c, nd * 4, 3, padding=1, stride=s[0])
            for c, nd in zip(oc, self.num_defaults, strict=True)
        )
        self.conf = nn.ModuleList(
            nn.Conv2d(c, nd * num_classes, 3, padding=1, stride=s[1])
            for c, nd in zip(oc, self.num_defaults, strict=True)
        )
        for m in [*self.additional_blocks.modules(), *self.loc, *self.conf]:
            if isinstance(m, nn.Conv2d) and m.weight.dim() > 1:
                nn.init.xavier_uniform_(m.weight)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        x = self.backbone(x)
        src = [x]
        for block in self.additional_blocks:
            x = block(x)
            src.append(x)
        n = x.shape[0]
        locs = [head(f).reshape(n, 4, -1) for f, head in zip(src, self.loc, strict=True)]
        confs = [
            head(f).reshape(n, self.num_classes, -1) for f, head in zip(src, self.conf, strict=True)
        ]
        return torch.cat(locs, 2).contiguous(), torch.cat(confs, 2).contiguous()


def ssd_resnet34(num_classes: int = 81) -> SSDResNet34:
    return SSDResNet34(num_classes)
