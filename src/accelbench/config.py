"""Validated suite configs, loaded from YAML.

A suite names its workloads and the measurement protocol; each workload kind validates its own
``params``. Unknown keys and bad values are rejected with the file, the field path and the
reason, e.g. ``quick.yaml: workloads[0].params.sizes[2]: Input should be a valid integer``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
    field_validator,
)

from accelbench.devices.specs import PeakSpec
from accelbench.errors import ConfigError
from accelbench.timing.protocol import MeasureSettings


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def format_validation_error(exc: ValidationError, prefix: str) -> str:
    """One line: where, what was wrong, what was given; counts any further errors."""
    errs = exc.errors()
    e = errs[0]
    where = _loc(tuple(e["loc"]))
    if prefix.endswith(":"):
        head = f"{prefix} {where}" if where else prefix[:-1]
    elif where:
        head = prefix + (where if where.startswith("[") else f".{where}")
    else:
        head = prefix
    msg = e["msg"].removeprefix("Value error, ")
    if e["type"] == "extra_forbidden":
        msg = "unknown key (check the spelling)"
    elif e["type"] != "missing" and "input" in e and not isinstance(e["input"], dict):
        given = repr(e["input"])
        if not isinstance(e["input"], list) or len(given) <= 60:  # a long list buries the message
            msg += f" (got {given})"
    more = (
        f" (and {len(errs) - 1} more error{'s' if len(errs) > 2 else ''})" if len(errs) > 1 else ""
    )
    return f"{head}: {msg}{more}"


class _StrictLoader(yaml.SafeLoader):
    """YAML's safe loader, except that a key given twice in one mapping is an error: plain YAML
    keeps the last value silently, which hides a typo such as a second ``params:``."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=deep)
        try:
            first = seen.setdefault(key, key_node.start_mark.line)
        except TypeError:  # an unhashable key; construct_mapping reports it
            continue
        if first != key_node.start_mark.line:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"key {key!r} is given twice (first on line {first + 1})",
                key_node.start_mark,
            )
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_yaml(path: Path) -> Any:
    if not path.is_file():
        raise ConfigError(f"{path}: no such file")
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: malformed YAML at {where}: {problem}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file (expected YAML)") from None


class WorkloadSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    kind: str
    params: dict[str, Any] = Field(default_factory=dict)
    measure: dict[str, Any] = Field(
        default_factory=dict, description="overrides of the suite's measurement settings"
    )


class Suite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    seed: StrictInt = Field(default=0, ge=0, le=2**63 - 1)
    measure: MeasureSettings = Field(default_factory=MeasureSettings)
    peaks: list[PeakSpec] = Field(default_factory=list)
    workloads: list[WorkloadSpec] = Field(min_length=1)

    @field_validator("workloads")
    @classmethod
    def _unique_names(cls, v: list[WorkloadSpec]) -> list[WorkloadSpec]:
        seen: dict[str, int] = {}
        for i, w in enumerate(v):
            first = seen.setdefault(w.name, i)
            if first != i:
                raise ValueError(
                    f"workload name {w.name!r} is used twice "
                    f"(workloads[{first}] and workloads[{i}])"
                )
        return v


def measure_for(suite: Suite, spec: WorkloadSpec) -> MeasureSettings:
    return MeasureSettings.model_validate({**suite.measure.model_dump(), **spec.measure})


def _expand_includes(
    data: dict[str, Any], source: str, chain: tuple[str, ...], base_dir: Path | None
) -> dict[str, Any]:
    """Replace ``include: [suite, ...]`` by the included suites' workloads, appended in order.

    Each included workload keeps exactly the measurement settings it has in the suite it came
    from (the defaults, that suite's ``measure``, then its own overrides), so ``quick`` times
    the ``quick-ops`` cases as ``quick-ops`` does and the parent's ``measure`` never leaks in.
    Included ``peaks:`` entries are kept; the seed is the including suite's. An include names a
    built-in suite or a YAML file, relative to the including file; includes may nest, and a
    cycle is an error.
    """
    if "include" not in data:
        return data
    includes = data["include"]
    if not isinstance(includes, list) or not all(isinstance(i, str) for i in includes):
        raise ConfigError(f"{source}: include: expected a list of suite names or YAML files")
    merged = {k: v for k, v in data.items() if k != "include"}
    own = data.get("workloads", [])
    workloads = list(own) if isinstance(own, list) else own
    peaks = list(data.get("peaks") or []) if isinstance(data.get("peaks", []), list) else None
    for ref in includes:
        path, label = _suite_file(ref, f"{source}: include", base_dir)
        key = str(path.resolve())
        if key in chain:
            raise ConfigError(f"{source}: include: {ref!r} includes itself")
        raw = read_yaml(path)
        if not isinstance(raw, dict):
            raise ConfigError(f"{label}: expected a mapping with 'name' and 'workloads'")
        child = _expand_includes(raw, label, (*chain, key), path.parent)
        if not isinstance(child.get("workloads"), list):
            raise ConfigError(f"{label}: workloads: expected a list")
        try:
            child_measure = MeasureSettings.model_validate(child.get("measure") or {})
        except ValidationError as exc:
            raise ConfigError(format_validation_error(exc, f"{label}: measure")) from None
        for w in child["workloads"]:
            if isinstance(w, dict):
                w = {**w, "measure": {**child_measure.model_dump(), **(w.get("measure") or {})}}
            if isinstance(workloads, list):
                workloads.append(w)
        if peaks is not None and isinstance(child.get("peaks"), list):
            peaks.extend(child["peaks"])
    merged["workloads"] = workloads
    if peaks:
        merged["peaks"] = peaks
    return merged


def validate_suite(data: Any, source: str, path: Path | None = None) -> Suite:
    """Validate suite data, including each workload's params against its kind.

    ``path`` is the file the data came from, if any: includes resolve relative to it.
    """
    from accelbench.workloads import WORKLOADS

    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping with 'name' and 'workloads' at the top")
    chain = (str(path.resolve()),) if path is not None else ()
    data = _expand_includes(data, source, chain, path.parent if path is not None else None)
    try:
        suite = Suite.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, f"{source}:")) from None
    for i, w in enumerate(suite.workloads):
        if w.kind not in WORKLOADS:
            raise ConfigError(
                f"{source}: workloads[{i}].kind: unknown workload kind {w.kind!r}; expected one "
                f"of {', '.join(WORKLOADS.names())}"
            )
        try:
            WORKLOADS.get(w.kind).Params.model_validate(w.params)
        except ValidationError as exc:
            raise ConfigError(
                format_validation_error(exc, f"{source}: workloads[{i}].params")
            ) from None
        try:
            measure_for(suite, w)
        except ValidationError as exc:
            raise ConfigError(
                format_validation_error(exc, f"{source}: workloads[{i}].measure")
            ) from None
    return suite


def builtin_suites() -> dict[str, Path]:
    """Name -> file of every suite shipped inside the package."""
    folder = resources.files("accelbench") / "suites"
    return {Path(str(p)).stem: Path(str(p)) for p in folder.iterdir() if str(p).endswith(".yaml")}


def _suite_file(ref: str, what: str = "suite", base_dir: Path | None = None) -> tuple[Path, str]:
    """The file behind a suite reference and the label its errors use."""
    builtins = builtin_suites()
    if ref in builtins:
        return builtins[ref], f"{ref} (built-in)"
    path = Path(ref)
    if base_dir is not None and not path.is_absolute():
        path = base_dir / path
    if path.suffix.lower() in (".yaml", ".yml") or path.exists():
        return path, str(path)
    raise ConfigError(
        f"{what} {ref!r}: neither a built-in suite ({', '.join(sorted(builtins))}) nor a YAML file"
    )


def load_suite(ref: str) -> Suite:
    """Load a built-in suite by name, or a suite file by path."""
    path, label = _suite_file(ref)
    return validate_suite(read_yaml(path), label, path)
