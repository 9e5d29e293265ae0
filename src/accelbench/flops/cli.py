"""``accelbench flops OP KEY=VALUE ...``: the analytic count of one operator, for humans or JSON.

The command glue in :mod:`accelbench.cli` is thin; parsing KEY=VALUE pairs, checking them against
the op's signature and rendering live here. Every mistake becomes a :class:`UserError` naming
the op and the key, so the CLI prints one ``error:`` line and exits 2.
"""

from __future__ import annotations

import inspect
import json
import sys
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.table import Table

from accelbench.errors import UserError
from accelbench.flops.ops import CONVENTION, MODES, OPS, Cost, OpCount

# Bytes per element of the dtypes --dtype accepts (sub-byte formats are fractions).
DTYPE_BYTES: dict[str, float] = {
    "float64": 8,
    "float32": 4,
    "tfloat32": 4,
    "bfloat16": 2,
    "float16": 2,
    "float8_e4m3fn": 1,
    "float8_e5m2": 1,
    "int64": 8,
    "int32": 4,
    "int8": 1,
    "uint8": 1,
    "int4": 0.5,
}


def parse_value(text: str) -> Any:
    """A KEY=VALUE value: true/false, none, int, float, a comma tuple (``3,3``), else the text."""
    if "," in text:
        return tuple(parse_value(part.strip()) for part in text.split(",") if part.strip())
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    if low == "none":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _signature(fn: Callable[..., OpCount]) -> list[inspect.Parameter]:
    return list(inspect.signature(fn).parameters.values())


def _describe_args(fn: Callable[..., OpCount]) -> str:
    return ", ".join(
        p.name if p.default is inspect.Parameter.empty else f"{p.name}={p.default}"
        for p in _signature(fn)
    )


def parse_args(op: str, pairs: list[str]) -> dict[str, Any]:
    """KEY=VALUE pairs checked against the op's keyword arguments: unknown, repeated, missing."""
    fn = OPS[op]
    names = [p.name for p in _signature(fn)]
    kwargs: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UserError(f"flops {op}: expected KEY=VALUE, got {pair!r}")
        if key not in names:
            raise UserError(
                f"flops {op}: unknown argument {key!r}; expected one of: {', '.join(names)}"
            )
        if key in kwargs:
            raise UserError(f"flops {op}: argument {key!r} given twice")
        if not value.strip():
            raise UserError(f"flops {op}: {key}: empty value (expected {key}=VALUE)")
        kwargs[key] = parse_value(value.strip())
    required = [p.name for p in _signature(fn) if p.default is inspect.Parameter.empty]
    missing = [name for name in required if name not in kwargs]
    if missing:
        raise UserError(
            f"flops {op}: missing argument{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)} (give {' '.join(f'{m}=VALUE' for m in missing)})"
        )
    return kwargs


def _resolved(op: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The call's arguments with defaults filled in, in signature order, JSON-friendly."""
    full = {p.name: kwargs.get(p.name, p.default) for p in _signature(OPS[op])}
    return {k: list(v) if isinstance(v, tuple) else v for k, v in full.items()}


def _cost_dict(c: Cost) -> dict[str, Any]:
    return {
        "flops": c.flops,
        "macs": c.macs,
        "min_bytes": c.min_bytes,
        "arithmetic_intensity": c.arithmetic_intensity,
    }


def _num(x: float) -> str:
    """Exact, with thousands separators, so a count can be checked by hand."""
    return f"{int(x):,}" if float(x).is_integer() else f"{x:,.2f}"


def _show(v: Any) -> str:
    if isinstance(v, tuple):
        return ",".join(_show(x) for x in v)
    return str(v).lower() if isinstance(v, bool) or v is None else str(v)


def _intensity(c: Cost) -> str:
    ai = c.arithmetic_intensity
    return "-" if ai is None else f"{ai:.3g}"


def count_op(
    op: str, pairs: list[str], *, dtype: str | None = None
) -> tuple[OpCount, dict[str, Any]]:
    """Parse, validate and count: the OpCount and the resolved arguments."""
    if op not in OPS:
        raise UserError(f"flops: unknown op {op!r}; expected one of: {', '.join(OPS)}")
    kwargs = parse_args(op, pairs)
    if dtype is not None:
        if dtype not in DTYPE_BYTES:
            raise UserError(f"--dtype: expected one of {', '.join(DTYPE_BYTES)}, got {dtype!r}")
        if "elem_bytes" in kwargs:
            raise UserError(f"flops {op}: give elem_bytes or --dtype, not both")
        kwargs["elem_bytes"] = DTYPE_BYTES[dtype]
    try:
        count = OPS[op](**kwargs)
    except ValueError as exc:
        raise UserError(f"flops {op}: {exc}") from None
    return count, _resolved(op, kwargs)


def run(
    op: str | None,
    pairs: list[str],
    *,
    mode: str,
    dtype: str | None,
    list_ops: bool,
    as_json: bool,
    console: Console,
) -> None:
    """The ``accelbench flops`` command."""
    if list_ops or op == "list":
        if pairs:
            raise UserError("flops --list: takes no KEY=VALUE arguments")
        show_list(as_json=as_json, console=console)
        return
    if op is None:
        raise UserError(f"flops: give an OP (one of: {', '.join(OPS)}) or --list")
    if mode not in MODES:
        raise UserError(f"--mode: expected one of {', '.join(MODES)}, got {mode!r}")
    count, args = count_op(op, pairs, dtype=dtype)
    given = parse_args(op, pairs)
    total = count.total(mode)
    if as_json:
        data = {
            "op": op,
            "counted_as": count.op,
            "args": args,
            "dtype": dtype,
            "mode": mode,
            "convention": CONVENTION,
            "params": count.params,
            "input_grad": count.input_grad,
            "forward": _cost_dict(count.forward),
            "backward": _cost_dict(count.backward),
            "total": _cost_dict(total),
            "detail": count.detail,
        }
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return
    shown = " ".join(f"{k}={_show(v)}" for k, v in given.items())
    dt = f" ({dtype})" if dtype else ""
    t = Table("pass", "FLOPs", "MACs", "min bytes", "FLOP/B", title=f"{op} {shown}{dt}")
    for name, c in (("forward", count.forward), ("backward", count.backward), ("total", total)):
        t.add_row(name, _num(c.flops), _num(c.macs), _num(c.min_bytes), _intensity(c))
    console.print(t)
    grad = "with" if count.input_grad else "without"
    console.print(
        f"total = {mode}; backward {grad} the input gradient; params: {_num(count.params)}; "
        f"elem_bytes: {args['elem_bytes']}",
        highlight=False,
    )
    if count.detail:
        detail = ", ".join(f"{k}={_num(v)}" for k, v in count.detail.items())
        console.print(f"detail: {detail}", highlight=False)
    console.print(f"convention: {CONVENTION}", highlight=False)


def show_list(*, as_json: bool, console: Console) -> None:
    """The ops and their arguments."""
    rows = []
    for name, fn in OPS.items():
        doc = (inspect.getdoc(fn) or "").split("\n\n")[0]
        rows.append(
            {
                "op": name,
                "arguments": [
                    {
                        "name": p.name,
                        "required": p.default is inspect.Parameter.empty,
                        "default": None if p.default is inspect.Parameter.empty else p.default,
                    }
                    for p in _signature(fn)
                ],
                "description": " ".join(doc.split()),
            }
        )
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    t = Table("op", "arguments", "what")
    for name, row in zip(OPS, rows, strict=True):
        t.add_row(name, _describe_args(OPS[name]), row["description"])
    console.print(t)
    console.print(f"convention: {CONVENTION}", highlight=False)
