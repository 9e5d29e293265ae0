"""Top-k accuracy of an image classifier over its validation batches, as the training core's
:class:`~accelbench.training.task.Quality`: top-1 (%) is the value; top-5, the mean validation
cross-entropy and the number of images evaluated are its secondary values (ImageNet results are
quoted as top-1 and top-5).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F

from accelbench.training.task import Batch, EvalContext, Quality, QualitySpec


def evaluate_topk(
    ctx: EvalContext,
    batches: Iterable[Batch],
    spec: QualitySpec,
    ks: tuple[int, ...] = (1, 5),
) -> Quality:
    """Top-k accuracies (%) of ``ctx.forward`` over ``batches``, in ``ctx.model``'s eval mode
    (its previous mode restored). Counts accumulate on the device, read once at the end; ``k``
    larger than the number of classes is capped to it."""
    ks = tuple(sorted({1, *ks}))
    correct = {k: torch.zeros((), dtype=torch.int64, device=ctx.device) for k in ks}
    loss = torch.zeros((), dtype=torch.float64, device=ctx.device)
    total = 0
    was = ctx.model.training
    ctx.model.eval()
    try:
        with torch.no_grad(), ctx.autocast():
            for inputs, y in batches:
                out = ctx.forward(*ctx.cast_inputs(inputs)).float()
                kmax = min(max(ks), out.shape[1])
                hit = out.topk(kmax, dim=1).indices == y[:, None]
                for k in ks:
                    correct[k] += hit[:, : min(k, kmax)].any(dim=1).sum()
                loss += F.cross_entropy(out, y, reduction="sum").double()
                total += len(y)
    finally:
        ctx.model.train(was)
    if total == 0:
        raise ValueError("no evaluation images: the validation set is empty")
    acc = {k: 100.0 * float(correct[k].item()) / total for k in ks}
    secondary: dict[str, float | str] = {f"top{k}": acc[k] for k in ks if k != 1}
    secondary["val_loss"] = loss.item() / total
    secondary["val_samples"] = float(total)
    return Quality(spec, acc[1], secondary)
