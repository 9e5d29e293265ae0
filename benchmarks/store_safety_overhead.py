"""What the store's safety costs: the in-flight marker per case, and validating every record
on the way out of the store.

A sweep now writes one small transaction before each case (which case is in flight, so a
resume recognises the case that killed the process), and every read validates each record as
a fresh measurement is validated (finite numbers, ids matching the content). This prints, over
R rounds, the median and IQR of:

- ``mark_in_flight``: one marker write (what each case pays), in ms;
- ``add``: one result commit (what each case paid already), in ms, for scale;
- ``query`` and ``stored_cases`` (the resume check) per 1000 stored records, in ms.

    .venv/bin/python benchmarks/store_safety_overhead.py --records 2000 --rounds 7
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from accelbench.api import run_suite, validate_suite
from accelbench.devices.fake import FakeDevice
from accelbench.results.schema import Result
from accelbench.results.store import Store


def _spread(xs: list[float]) -> str:
    q = statistics.quantiles(xs, n=4) if len(xs) > 1 else [xs[0]] * 3
    return f"median {statistics.median(xs):.3f}  IQR {q[2] - q[0]:.3f}  (n={len(xs)})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        suite = validate_suite(
            {
                "name": "bench",
                "measure": {"mode": "fixed", "warmup": 1, "iterations": 20},
                "workloads": [
                    {"name": "g", "kind": "gemm", "params": {"sizes": [8], "dtypes": ["float32"]}}
                ],
            },
            "bench",
        )
        template = run_suite(suite, device=FakeDevice(), db=db, threads=1).results[0]
        data = template.model_dump(mode="json")
        copies = [
            Result.model_validate({**data, "result_id": "", "case_key": "", "run_id": f"r{i}"})
            for i in range(args.records + args.rounds * 50)
        ]
        marker = {"workload": "g", "case_key": template.case_key, "started_at": "x", "pid": 1}
        mark, add, query, resume = [], [], [], []
        with Store(db) as st:
            for c in copies[: args.records]:
                st.add(c)
            spare = iter(copies[args.records :])
            for _ in range(args.rounds):
                for _ in range(50):
                    t = time.perf_counter()
                    st.mark_in_flight(template.run_id, marker)
                    mark.append((time.perf_counter() - t) * 1e3)
                    t = time.perf_counter()
                    st.add(next(spare))
                    add.append((time.perf_counter() - t) * 1e3)
                n = st.count()
                t = time.perf_counter()
                st.query()
                query.append((time.perf_counter() - t) * 1e6 / n)
                t = time.perf_counter()
                st.stored_cases("bench", template.device, template.environment.host, 1)
                resume.append((time.perf_counter() - t) * 1e6 / n)
        print(f"mark_in_flight per case, ms:            {_spread(mark)}")
        print(f"add (one result commit) per case, ms:   {_spread(add)}")
        print(f"query, ms per 1000 records:             {_spread(query)}")
        print(f"stored_cases (resume), ms per 1000:     {_spread(resume)}")


if __name__ == "__main__":
    main()
