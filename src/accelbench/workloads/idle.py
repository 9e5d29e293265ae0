"""``idle-power``: the device's power with nothing running on it.

The study found the Ascend idling at 67.5 W against the V100's 22.5 W, which decides energy
for light workloads. This workload waits ``settle_s`` (clocks come down after the previous
work), then measures a ``seconds``-long window with the run's power meters. Net energy of
later results subtracts it.
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from accelbench.errors import Unsupported
from accelbench.results.schema import Metric
from accelbench.workloads.base import WORKLOADS, CaseOutput, RunContext, Workload


class IdlePowerParams(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    seconds: float = Field(default=30.0, gt=0, le=3600, description="length of the window")
    settle_s: float = Field(default=2.0, ge=0, le=600, description="wait before measuring")


@WORKLOADS.register("idle-power")
class IdlePower(Workload):
    kind = "idle-power"
    Params = IdlePowerParams
    timed = False
    params: IdlePowerParams

    def cases(self) -> list[dict[str, Any]]:
        return [{"seconds": self.params.seconds}]

    @classmethod
    def describe(cls, case: dict[str, Any]) -> str:
        return f"idle power over {case['seconds']:g} s"

    def run_case(self, case: dict[str, Any], ctx: RunContext) -> CaseOutput:
        monitor = ctx.power
        if monitor is None:
            raise Unsupported("power measurement is off for this run")
        if not monitor.meters:
            raise Unsupported(f"no power meter on {ctx.device.spec}: {monitor.reason}")
        ctx.device.synchronize()
        time.sleep(self.params.settle_s)
        monitor.start()
        time.sleep(case["seconds"])
        reading = monitor.stop()
        if reading.unavailable:
            raise RuntimeError(f"idle power not measured: {reading.unavailable}")
        metrics = {
            "idle_power_w": Metric(value=reading.avg_power_w or 0.0, unit="W"),
            "energy_j": Metric(value=reading.energy_j or 0.0, unit="J"),
            "window_s": Metric(value=reading.duration_s, unit="s"),
        }
        return CaseOutput(metrics=metrics, config={"power": reading.model_dump()})
