"""The inference model registry: each entry builds its module and its inputs from options.

A model entry says what it is (``describe``), which options it takes (a pydantic model that
rejects unknown keys, so a YAML typo is an error naming the field), the study's default batch
size, and how to make deterministic random inputs for a batch. Float inputs come in the case's
dtype; token and item ids stay integers.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Annotated, Any, ClassVar, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, Strict, model_validator
from torch import nn

from accelbench.registry import Registry

Pos = Annotated[int, Strict(), Field(gt=0, le=1_000_000)]


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InferenceModel(ABC):
    """One benchmark model: options -> module, inputs and names for export."""

    name: ClassVar[str]
    Options: ClassVar[type[BaseModel]]
    default_batch: ClassVar[int]
    input_names: ClassVar[tuple[str, ...]]
    output_names: ClassVar[tuple[str, ...]]

    def __init__(self, options: BaseModel) -> None:
        self.options = options

    @classmethod
    def from_dict(cls, options: dict[str, Any]) -> InferenceModel:
        return cls(cls.Options.model_validate(options))

    @abstractmethod
    def build(self) -> nn.Module:
        """The module with random weights (seeded by the caller), in eval mode, float32."""

    @abstractmethod
    def inputs(
        self, batch: int, device: torch.device, dtype: torch.dtype, seed: int = 0
    ) -> tuple[torch.Tensor, ...]:
        """Deterministic random inputs for ``batch`` samples; float tensors in ``dtype``."""

    def describe(self) -> str:
        return self.name


MODELS: Registry[type[InferenceModel]] = Registry("inference model")


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


class ImageOptions(_Options):
    image_size: Pos = Field(default=224, ge=32, description="square input height and width")
    num_classes: Pos = 1000


class _ImageModel(InferenceModel):
    Options = ImageOptions
    options: ImageOptions
    default_batch = 32
    input_names = ("images",)
    output_names = ("logits",)

    def inputs(
        self, batch: int, device: torch.device, dtype: torch.dtype, seed: int = 0
    ) -> tuple[torch.Tensor, ...]:
        s = self.options.image_size
        x = torch.randn(batch, 3, s, s, generator=_gen(seed))
        return (x.to(device=device, dtype=dtype),)

    def describe(self) -> str:
        return f"{self.name} {self.options.image_size}x{self.options.image_size}"


@MODELS.register("resnet50")
class ResNet50(_ImageModel):
    """ResNet-50 v1.5 (stride on the 3x3 convolution); the study: batch 32 at 224x224."""

    name = "resnet50"

    def build(self) -> nn.Module:
        from accelbench.models.resnet50 import resnet50

        return resnet50(self.options.num_classes).eval()


@MODELS.register("vgg19")
class VGG19(_ImageModel):
    """VGG-19 (configuration E, no batch norm); the study: batch 32 at 224x224."""

    name = "vgg19"

    def build(self) -> nn.Module:
        from accelbench.inference.vgg import vgg19

        return vgg19(self.options.num_classes).eval()


def ssd_feature_sizes(image_size: int) -> list[int]:
    """Side of each of SSD-ResNet34's six feature maps for a square input (see ssd.py)."""

    def conv(n: int, k: int, s: int, p: int) -> int:
        return (n + 2 * p - k) // s + 1

    n = conv(conv(image_size, 7, 2, 3), 3, 2, 1)  # stem conv and max pool
    n = conv(n, 3, 2, 1)  # layer2 (layer3 keeps its size in SSD)
    sizes = [n]
    for stride, pad in ((2, 1), (2, 1), (2, 1), (2, 0), (1, 0)):
        n = conv(n, 3, stride, pad)
        sizes.append(n)
    return sizes


class SSDOptions(_Options):
    image_size: Pos = Field(default=1200, description="square input; MLPerf uses 1200")
    num_classes: Pos = 81

    @model_validator(mode="after")
    def _big_enough(self) -> SSDOptions:
        if min(ssd_feature_sizes(self.image_size)) < 1:
            raise ValueError(
                f"image_size {self.image_size} is too small for SSD-ResNet34's six feature maps "
                "(the last one needs at least 3x3 below it); use 400 or more"
            )
        return self


@MODELS.register("ssd-resnet34")
class SSDResNet34(InferenceModel):
    """SSD-ResNet34 (MLPerf "ssd-large"), heads' raw outputs; NMS excluded (see ssd.py)."""

    name = "ssd-resnet34"
    Options = SSDOptions
    options: SSDOptions
    default_batch = 1
    input_names = ("images",)
    output_names = ("locs", "confs")

    def build(self) -> nn.Module:
        from accelbench.inference.ssd import ssd_resnet34

        return ssd_resnet34(self.options.num_classes).eval()

    def inputs(
        self, batch: int, device: torch.device, dtype: torch.dtype, seed: int = 0
    ) -> tuple[torch.Tensor, ...]:
        s = self.options.image_size
        return (torch.randn(batch, 3, s, s, generator=_gen(seed)).to(device, dtype),)

    def describe(self) -> str:
        s = self.options.image_size
        return f"{self.name} {s}x{s}"


class BertOptions(_Options):
    seq_len: Pos = Field(default=384, le=512, description="tokens per sequence (MLPerf: 384)")
    layers: Pos = 24
    hidden: Pos = 1024
    heads: Pos = 16
    intermediate: Pos = 4096

    @model_validator(mode="after")
    def _heads_divide(self) -> BertOptions:
        if self.hidden % self.heads:
            raise ValueError(f"hidden ({self.hidden}) must be a multiple of heads ({self.heads})")
        return self


@MODELS.register("bert-large")
class BertLarge(InferenceModel):
    """BERT-Large with the SQuAD head (MLPerf); smaller encoders through the options."""

    name = "bert-large"
    Options = BertOptions
    options: BertOptions
    default_batch = 1
    input_names = ("input_ids", "token_type_ids")
    output_names = ("start_logits", "end_logits")

    def _config(self) -> Any:
        from accelbench.inference.bert import BertConfig

        o = self.options
        return BertConfig(
            layers=o.layers, hidden=o.hidden, heads=o.heads, intermediate=o.intermediate
        )

    def build(self) -> nn.Module:
        from accelbench.inference.bert import BertForQuestionAnswering

        return BertForQuestionAnswering(self._config()).eval()

    def inputs(
        self, batch: int, device: torch.device, dtype: torch.dtype, seed: int = 0
    ) -> tuple[torch.Tensor, ...]:
        c, t = self._config(), self.options.seq_len
        g = _gen(seed)
        ids = torch.randint(0, c.vocab_size, (batch, t), generator=g)
        types = torch.zeros(batch, t, dtype=torch.long)
        types[:, t // 2 :] = 1  # question then context, as a SQuAD input
        return ids.to(device), types.to(device)

    def describe(self) -> str:
        o = self.options
        size = "" if (o.layers, o.hidden) == (24, 1024) else f" L{o.layers}/H{o.hidden}"
        return f"{self.name}{size} seq={o.seq_len}"


class DinOptions(_Options):
    history_len: Pos = Field(default=100, le=100_000, description="behaviours per user")


@MODELS.register("din")
class Din(InferenceModel):
    """DIN (Deep Interest Network) click-through-rate model."""

    name = "din"
    Options = DinOptions
    options: DinOptions
    default_batch = 128
    input_names = ("hist_items", "hist_categories", "hist_mask", "item", "category")
    output_names = ("ctr",)

    def build(self) -> nn.Module:
        from accelbench.inference.din import DIN, DinConfig

        return DIN(DinConfig(history_len=self.options.history_len)).eval()

    def inputs(
        self, batch: int, device: torch.device, dtype: torch.dtype, seed: int = 0
    ) -> tuple[torch.Tensor, ...]:
        from accelbench.inference.din import DinConfig

        c, t = DinConfig(), self.options.history_len
        g = _gen(seed)
        items = torch.randint(1, c.num_items, (batch, t), generator=g)
        cats = torch.randint(1, c.num_categories, (batch, t), generator=g)
        # Real histories vary in length: each user gets between 1 and t real behaviours.
        lengths = torch.randint(1, t + 1, (batch, 1), generator=g)
        mask = (torch.arange(t).unsqueeze(0) < lengths).to(dtype)
        item = torch.randint(1, c.num_items, (batch,), generator=g)
        cat = torch.randint(1, c.num_categories, (batch,), generator=g)
        return tuple(x.to(device) for x in (items, cats, mask, item, cat))

    def describe(self) -> str:
        return f"{self.name} hist={self.options.history_len}"


class TransformerOptions(_Options):
    preset: Literal["base", "small"] = Field(
        default="base", description="base: 6+6 blocks, d_model 512 (Vaswani et al. 2017)"
    )
    vocab_size: Pos | None = Field(default=None, description="default: the preset's")
    src_len: Pos = Field(default=32, le=900, description="source tokens per sentence")
    new_tokens: Pos = Field(
        default=32, le=900, description="tokens decoded per sentence (greedy, no early stop)"
    )

    @model_validator(mode="after")
    def _fits(self) -> TransformerOptions:
        from accelbench.models.transformer import PRESETS

        vocab = self.vocab_size or PRESETS[self.preset].vocab_size
        if vocab <= 4:
            raise ValueError(f"vocab_size ({vocab}) must exceed the 4 special tokens")
        limit = PRESETS[self.preset].max_positions
        if self.new_tokens + 1 > limit:
            raise ValueError(f"new_tokens ({self.new_tokens}) must be below {limit} positions")
        return self


@MODELS.register("transformer")
class TransformerTranslation(InferenceModel):
    """The Transformer of Vaswani et al. 2017 translating a batch by greedy decoding: one
    encoder pass, then exactly ``new_tokens`` incremental decoder steps (key/value cache), so
    every call does the same work whatever the random weights emit. Output: the token ids."""

    name = "transformer"
    Options = TransformerOptions
    options: TransformerOptions
    default_batch = 32
    input_names = ("src",)
    output_names = ("tokens",)

    def _config(self) -> Any:
        from accelbench.models.transformer import transformer_config

        o = self.options
        return transformer_config(
            o.preset, **({"vocab_size": o.vocab_size} if o.vocab_size else {})
        )

    def build(self) -> nn.Module:
        from accelbench.models.transformer import GreedyTranslator, Transformer

        return GreedyTranslator(Transformer(self._config()), self.options.new_tokens).eval()

    def inputs(
        self, batch: int, device: torch.device, dtype: torch.dtype, seed: int = 0
    ) -> tuple[torch.Tensor, ...]:
        from accelbench.models.transformer import EOS

        c, t = self._config(), self.options.src_len
        src = torch.randint(4, c.vocab_size, (batch, t), generator=_gen(seed))
        src[:, -1] = EOS  # a full-length sentence, ended as the tokeniser ends them
        return (src.to(device),)

    def describe(self) -> str:
        o = self.options
        return f"{self.name} {o.preset} src={o.src_len} new={o.new_tokens}"
