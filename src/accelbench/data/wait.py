"""How long a training loop waits for its data: the host-side input-pipeline stall.

:class:`DataWait` wraps any batch iterator and times each ``next()`` call: the time from the
loop asking for the next batch to getting it. Summed over an epoch and divided by the epoch's
(synchronised) training time, it is the **fraction of step time spent waiting for data**: near
0 when the input pipeline keeps up, large when the host (decoding, augmentation, disk) is the
bottleneck rather than the accelerator. The study's two hosts (Kunpeng 920 and Xeon) fed the
same accelerators at different rates; this number shows it.

What it measures, exactly: host time blocked on the iterator. On an asynchronous device the
host may block there while the device still works through queued kernels, so it is an upper
bound of the device's idle time caused by input; in a data-bound steady state the device queue
drains and the two coincide, and in a compute-bound one the prefetched batch is ready and the
wait is ~0. ``sync`` (the device's synchronise, called before each wait) makes it exact at the
cost of one synchronisation per step, which removes the host/device overlap; off by default.

The first wait of an epoch (starting DataLoader workers, filling the prefetch queue) is
reported apart from the rest, like the first epoch is apart from the steady state.

Use::

    wait = DataWait()
    for inputs, y in wait.wrap(task.train_batches(epoch)):
        ...  # the training step
    device.synchronize(); train_s = ...
    record.update(wait.summary(train_s))
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


class DataWait:
    """Times every ``next()`` of the iterators it wraps; one instance per epoch."""

    def __init__(
        self,
        clock: Callable[[], float] = time.perf_counter,
        sync: Callable[[], None] | None = None,
    ) -> None:
        self.clock = clock
        self.sync = sync
        self.waits: list[float] = []
        """Seconds of each wait, in order; the last one may be the wait that found the end."""
        self.exhausted = False

    def wrap(self, batches: Iterable[T]) -> Iterator[T]:
        """Yield ``batches``' items, timing how long each one took to arrive. Creating the
        iterator (which may start worker processes) counts towards the first wait."""
        it: Iterator[T] | None = None
        while True:
            if self.sync is not None:
                self.sync()
            t0 = self.clock()
            try:
                if it is None:
                    it = iter(batches)
                item = next(it)
            except StopIteration:
                # Finding the end costs time too (a DataLoader joins its queue), but it is not
                # a step's wait: kept out of ``waits``.
                self.exhausted = True
                return
            self.waits.append(self.clock() - t0)
            yield item

    @property
    def steps(self) -> int:
        return len(self.waits)

    @property
    def total_s(self) -> float:
        return sum(self.waits)

    def fraction(self, step_time_s: float) -> float | None:
        """Share of ``step_time_s`` (the epoch's training time) spent waiting; None without
        steps or time."""
        if not self.waits or step_time_s <= 0:
            return None
        return min(self.total_s / step_time_s, 1.0)

    def summary(self, step_time_s: float) -> dict[str, Any]:
        """Per-epoch record fields: total, first and steady waits, and the fraction."""
        out: dict[str, Any] = {
            "data_wait_s": self.total_s,
            "data_wait_fraction": self.fraction(step_time_s),
            "data_wait_first_s": self.waits[0] if self.waits else None,
            "data_wait_steady_s": sum(self.waits[1:]),
            "data_wait_steady_fraction": None,
            "data_wait_median_s": statistics.median(self.waits) if self.waits else None,
            "data_wait_max_s": max(self.waits) if self.waits else None,
            "data_wait_synchronised": self.sync is not None,
        }
        if len(self.waits) > 1 and step_time_s > self.waits[0]:
            out["data_wait_steady_fraction"] = min(
                sum(self.waits[1:]) / (step_time_s - self.waits[0]), 1.0
            )
        return out
