"""What a result ran on, as one label a reader can tell apart from the others."""

from __future__ import annotations

from dataclasses import dataclass

from accelbench.results.schema import Result


@dataclass(frozen=True)
class Platform:
    """The hardware and software that produced a result; two results are from the same
    platform when every field matches."""

    device: str
    device_name: str
    host: str
    threads: int
    torch: str
    cpu_model: str

    @property
    def label(self) -> str:
        return f"{self.device_name} on {self.host} ({self.threads} threads, torch {self.torch})"


def platform_of(r: Result) -> Platform:
    e = r.environment
    return Platform(
        device=r.device,
        device_name=e.device_name,
        host=e.host,
        threads=e.threads,
        torch=e.torch,
        cpu_model=e.cpu_model,
    )
