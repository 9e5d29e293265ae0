"""The data-wait meter: how much of a training loop's step time goes to waiting for batches."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from accelbench.data.wait import DataWait


def test_waits_are_timed_per_batch_with_a_scripted_clock() -> None:
    # Each clock reading advances by the scripted step; reads happen at the start and end of
    # each wait, so waits are the differences inside each pair.
    readings = iter([0.0, 0.5, 1.0, 1.1, 3.0, 3.2, 5.0])

    wait = DataWait(clock=lambda: next(readings))
    got = list(wait.wrap(["a", "b", "c"]))
    assert got == ["a", "b", "c"] and wait.exhausted
    assert wait.waits == pytest.approx([0.5, 0.1, 0.2])
    assert wait.total_s == pytest.approx(0.8) and wait.steps == 3
    s = wait.summary(step_time_s=4.0)
    assert s["data_wait_fraction"] == pytest.approx(0.2)
    assert s["data_wait_first_s"] == pytest.approx(0.5)
    assert s["data_wait_steady_s"] == pytest.approx(0.3)
    assert s["data_wait_steady_fraction"] == pytest.approx(0.3 / 3.5)
    assert s["data_wait_max_s"] == pytest.approx(0.5) and s["data_wait_synchronised"] is False


def test_an_empty_or_broken_off_loop_is_reported_honestly() -> None:
    wait = DataWait()
    assert list(wait.wrap([])) == [] and wait.exhausted
    assert wait.fraction(1.0) is None and wait.summary(1.0)["data_wait_first_s"] is None
    wait = DataWait()
    for i in wait.wrap(range(10)):
        if i == 2:
            break  # a diverged epoch stops early: three batches waited for, no end seen
    assert wait.steps == 3 and not wait.exhausted


class SlowDataset(Dataset):
    """A deliberately slow loader: every sample takes ``delay`` seconds to 'decode'."""

    def __init__(self, n: int, delay: float) -> None:
        self.n, self.delay = n, delay

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        time.sleep(self.delay)
        return torch.zeros(4), i % 2


def _loop(batches: DataLoader | Iterator, step_s: float) -> tuple[DataWait, float]:
    wait = DataWait()
    t0 = time.perf_counter()
    for _ in wait.wrap(batches):
        time.sleep(step_s)  # the "training step"
    return wait, time.perf_counter() - t0


def test_a_slow_loader_shows_as_a_large_wait_fraction_a_fast_one_as_small() -> None:
    # Sleeps are lower bounds on a busy machine, so the bounds are loose and the two loops are
    # compared with each other as well.
    slow = DataLoader(SlowDataset(8, delay=0.02), batch_size=2, num_workers=0)
    slow_wait, slow_s = _loop(slow, step_s=0.0)
    assert slow_wait.steps == 4
    assert slow_wait.total_s >= 4 * 2 * 0.02 * 0.9  # every sample's 'decoding' was waited for
    fast = DataLoader(SlowDataset(8, delay=0.0), batch_size=2, num_workers=0)
    fast_wait, fast_s = _loop(fast, step_s=0.05)
    assert fast_wait.steps == 4
    slow_f, fast_f = slow_wait.fraction(slow_s), fast_wait.fraction(fast_s)
    assert slow_f is not None and fast_f is not None
    assert slow_f > 0.6 and fast_f < 0.5 and slow_f > fast_f + 0.3


def test_worker_start_up_lands_in_the_first_wait_and_sync_runs_before_each() -> None:
    calls = []
    loader = DataLoader(SlowDataset(6, delay=0.0), batch_size=2, num_workers=1)
    wait = DataWait(sync=lambda: calls.append(1))
    n = sum(1 for _ in wait.wrap(loader))
    assert n == 3 and len(calls) == 4  # three batches plus the wait that found the end
    assert wait.waits[0] == max(wait.waits)  # starting the worker process
    assert wait.summary(1.0)["data_wait_synchronised"] is True
