"""The shared ResNet-50 v1.5: size and work unchanged by the move, and the recipe options."""

from __future__ import annotations

import warnings

import pytest
import torch

from accelbench.flops import count_model
from accelbench.models.resnet50 import (
    GMACS_RESNET50_224,
    PARAMS_RESNET50,
    Bottleneck,
    ResNet,
    resnet34,
    resnet50,
)


def _meta_count(model: torch.nn.Module, size: int = 224) -> tuple[float, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = count_model(model, torch.empty(1, 3, size, size, device="meta"))
    assert not c.uncounted
    return c.total("forward").macs, c.total("forward+backward").flops


def test_parameter_count_and_macs_at_224_are_torchvisions() -> None:
    with torch.device("meta"):
        model = resnet50()
    assert sum(p.numel() for p in model.parameters()) == PARAMS_RESNET50 == 25_557_032
    macs, _ = _meta_count(model)
    assert macs / 1e9 == pytest.approx(GMACS_RESNET50_224, abs=0.005)
    assert macs == 4_089_184_256  # counted once, kept: a changed layer changes this


def test_inference_builds_the_same_shared_model() -> None:
    from accelbench.inference import models as inference_models
    from accelbench.inference import ssd

    assert ssd.resnet34 is resnet34
    m = inference_models.MODELS.get("resnet50").from_dict({"num_classes": 10})
    with torch.device("meta"):
        built = m.build()
    assert type(built) is ResNet and built.fc.out_features == 10


def test_options_change_nothing_but_what_they_say() -> None:
    torch.manual_seed(0)
    plain = resnet50(num_classes=10)
    torch.manual_seed(0)
    zero = resnet50(num_classes=10, zero_init_residual=True, channels_last=True)
    assert plain.fc.out_features == zero.fc.out_features == 10
    blocks = [m for m in zero.modules() if isinstance(m, Bottleneck)]
    assert len(blocks) == 16
    for b in blocks:
        assert torch.count_nonzero(b.bn3.weight) == 0  # last BN gamma of every block
        assert torch.all(b.bn2.weight == 1)
    assert all(torch.all(b.bn3.weight == 1) for b in plain.modules() if isinstance(b, Bottleneck))
    assert zero.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    assert not plain.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    # Same seed, same draws: the convolutions are identical, only the zeroed gammas differ.
    assert torch.equal(plain.layer3[2].conv2.weight, zero.layer3[2].conv2.weight)


def test_zero_init_blocks_start_as_identity_and_still_learn() -> None:
    torch.manual_seed(0)
    model = resnet50(num_classes=4, zero_init_residual=True, channels_last=True).train()
    block = model.layer1[1]  # no downsample: output is relu(0 + input) at initialisation
    h = torch.randn(2, 256, 8, 8).contiguous(memory_format=torch.channels_last)
    assert torch.allclose(block(h), torch.relu(h))
    block(h).square().mean().backward()
    assert block.bn3.weight.grad is not None and block.bn3.weight.grad.abs().sum() > 0
