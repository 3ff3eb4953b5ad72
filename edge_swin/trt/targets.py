"""The deployment-target table (`targets.toml`) as typed records."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

from edge_swin.errors import TargetError

TABLE = Path(__file__).with_name("targets.toml")
BUILD_ON = ("cpu", "gpu", "device")
HARDWARE_COMPATIBILITY = ("none", "ampere_plus")
DLA = ("none", "optional")
PRECISIONS = ("fp8", "int8", "fp16")
LOW_PRECISIONS = ("fp8", "int8")  # the quantized ones: explicit Q/DQ from QAT
FP8_MIN_SM = 89  # FP8 tensor cores: Ada (8.9), Hopper (9.0), Blackwell, Thor (11.0)


@dataclass(frozen=True)
class Target:
    name: str
    description: str
    gpu: str
    sm: int | str
    tensorrt: str
    cuda: str
    flavour: str
    precisions: tuple[str, ...]
    workspace_mib: int
    batch: tuple[int, int, int]
    dla: str
    attention: str
    build_on: str
    hardware_compatibility: str
    version_compatible: bool
    min_sm: int | None = None  # where sm = "any": the oldest GPU the engine runs on

    @property
    def is_jetson(self) -> bool:
        return self.build_on == "device"

    def runs_on_sm(self, sm: int) -> bool:
        """Whether an engine built for this target runs on a GPU of compute capability `sm` (e.g. 87)."""
        if self.hardware_compatibility == "ampere_plus":
            return sm >= 80
        if isinstance(self.sm, int):
            return sm == self.sm
        return self.min_sm is None or sm >= self.min_sm

    def sm_requirement(self) -> str:
        """`runs_on_sm` in words, for error messages."""
        if self.hardware_compatibility == "ampere_plus":
            return "SM >= 80 (hardware-compatible engine)"
        if isinstance(self.sm, int):
            return f"SM {self.sm // 10}.{self.sm % 10} ({self.gpu})"
        return f"SM >= {self.min_sm // 10}.{self.min_sm % 10}" if self.min_sm else "any SM"

    @property
    def low_precisions(self) -> tuple[str, ...]:
        """The quantized precisions the target allows, its default first."""
        return tuple(p for p in self.precisions if p in LOW_PRECISIONS)

    @property
    def default_low_precision(self) -> str | None:
        """What a run quantizes to when no recipe is asked for: FP8 where the GPU has it, else INT8."""
        return self.low_precisions[0] if self.low_precisions else None

    def check_low_precision(self, precision: str, asked_by: str = "--quant-recipe") -> None:
        """TargetError naming the choices if the target cannot run `precision` ("int8" / "fp8")."""
        if precision in self.precisions:
            return
        why = (f" ({self.gpu}, SM {self.sm}, has no FP8 tensor cores: FP8 needs SM >= {FP8_MIN_SM // 10}."
               f"{FP8_MIN_SM % 10})" if precision == "fp8" else "")
        ok = ", ".join(self.low_precisions) or "none"
        raise TargetError(f"{asked_by}: target {self.name} cannot run {precision.upper()}{why}; its quantized "
                          f"precisions: {ok}. Use the recipe of one of those (swin_int8, swin_fp8), or another target")

    def as_dict(self) -> dict:
        return asdict(self)


def _check(name: str, row: dict) -> None:
    """A typo in the table fails when it is read, naming the row, not later in a build."""
    for key, allowed in (("build_on", BUILD_ON), ("hardware_compatibility", HARDWARE_COMPATIBILITY), ("dla", DLA)):
        if row.get(key) not in allowed:
            raise TargetError(f"{TABLE}: [{name}] {key} = {row.get(key)!r}, expected one of {', '.join(allowed)}")
    if not (isinstance(row.get("sm"), int) or row.get("sm") == "any"):
        raise TargetError(f"{TABLE}: [{name}] sm = {row.get('sm')!r}, expected an integer such as 87, or \"any\"")
    unknown = [p for p in row.get("precisions", ()) if p not in PRECISIONS]
    if unknown or not row.get("precisions"):
        raise TargetError(f"{TABLE}: [{name}] precisions = {row.get('precisions')!r}, expected a non-empty list of "
                          f"{', '.join(PRECISIONS)}")
    if "fp8" in row["precisions"] and isinstance(row["sm"], int) and row["sm"] < FP8_MIN_SM:
        raise TargetError(f"{TABLE}: [{name}] lists fp8 but sm = {row['sm']}: FP8 needs SM >= {FP8_MIN_SM}")
    lo, opt, hi = row["batch"]
    if not 1 <= lo <= opt <= hi:
        raise TargetError(f"{TABLE}: [{name}] batch = {row['batch']}, expected [min, opt, max] with 1 <= min <= opt <= max")


@lru_cache(maxsize=1)
def load_targets() -> dict[str, Target]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10 (JetPack 6's): the same parser as a package
        import tomli as tomllib
    with open(TABLE, "rb") as f:
        table = tomllib.load(f)
    for name, row in table.items():
        _check(name, row)
    return {name: Target(name=name, **{**row, "precisions": tuple(row["precisions"]), "batch": tuple(row["batch"])})
            for name, row in table.items()}


def target_names() -> list[str]:
    return list(load_targets())


def get_target(name: str) -> Target:
    targets = load_targets()
    if name not in targets:
        raise TargetError(f"unknown target '{name}'. Known targets: {', '.join(targets)}")
    return targets[name]
