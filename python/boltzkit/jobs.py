"""Jobs described in TOML, run by ``boltzkit run CONFIG.toml``.

A job file names its type and its parameters; every key is checked, and an unknown key or a bad
value is rejected with a message that names it, before any work starts::

    type = "fpentropy.entropy"      # which job
    out = "results"                 # output folder (optional; --out overrides)
    threads = 2                     # optional

    [params]
    formats = ["float16", "bfloat16", "float8_e4m3fn"]
    dists = [{ law = "norm" }, { law = "t", df = 4.5, scale = 0.02 }]

Job types (``boltzkit run --list`` prints them): see :data:`JOB_TYPES`.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from boltzkit._table import format_table, write_csv
from boltzkit._threads import resolve_threads
from boltzkit._validate import range_words
from boltzkit.errors import BoltzkitError, InvalidArgumentError

__all__ = ["JOB_TYPES", "ConfigError", "JobResult", "load_job", "run_job"]


class ConfigError(InvalidArgumentError):
    """A job file with an unknown key, a missing key or a bad value."""


@dataclass(frozen=True)
class JobResult:
    """What a job produced: printable tables and the files it wrote."""

    tables: list[str]
    files: list[Path]


class Table:
    """Typed, strict access to one TOML table; records which keys were used."""

    def __init__(self, data: dict[str, Any], path: str) -> None:
        self.data = data
        self.path = path
        self.used: set[str] = set()

    def _get(self, key: str, default: Any, required: bool) -> Any:
        self.used.add(key)
        if key not in self.data:
            if required:
                raise ConfigError(f"{self.path}.{key}: missing key '{key}'")
            return default
        return self.data[key]

    def get_value(self, key: str, default: Any) -> Any:
        """The raw value of an optional key (the caller checks its type)."""
        return self._get(key, default, False)

    def get_str(self, key: str, default: str | None = None, *, choices: tuple[str, ...] | None = None) -> str:
        v = self._get(key, default, default is None)
        if not isinstance(v, str):
            raise ConfigError(f"{self.path}.{key}: expected a string, got {v!r}")
        if choices is not None and v not in choices:
            raise ConfigError(f"{self.path}.{key}: expected one of {', '.join(choices)}; got {v!r}")
        return v

    def get_int(self, key: str, default: int | None = None, *, lo: int | None = None, hi: int | None = None) -> int:
        v = self._get(key, default, default is None)
        if isinstance(v, bool) or not isinstance(v, int):
            raise ConfigError(f"{self.path}.{key}: expected an integer, got {v!r}")
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise ConfigError(f"{self.path}.{key}: must be an integer {range_words(lo, hi)}, got {v}")
        return v

    def get_float(self, key: str, default: float | None = None, *, positive: bool = False) -> float:
        v = self._get(key, default, default is None)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ConfigError(f"{self.path}.{key}: expected a finite number, got {v!r}")
        if positive and v <= 0:
            raise ConfigError(f"{self.path}.{key}: must be > 0, got {v}")
        return float(v)

    def get_bool(self, key: str, default: bool | None = None) -> bool:
        v = self._get(key, default, default is None)
        if not isinstance(v, bool):
            raise ConfigError(f"{self.path}.{key}: expected true or false, got {v!r}")
        return v

    def get_list(self, key: str, default: list[Any] | None = None) -> list[Any]:
        v = self._get(key, default, default is None)
        if not isinstance(v, list) or not v:
            raise ConfigError(f"{self.path}.{key}: expected a non-empty list, got {v!r}")
        return v

    def get_table(self, key: str, default: dict[str, Any] | None = None) -> Table:
        v = self._get(key, default, default is None)
        if not isinstance(v, dict):
            raise ConfigError(f"{self.path}.{key}: expected a table, got {v!r}")
        return Table(v, f"{self.path}.{key}")

    def done(self) -> None:
        """Reject every key that no accessor asked for."""
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            allowed = ", ".join(sorted(self.used)) or "(none)"
            raise ConfigError(f"{self.path}: unknown key '{unknown[0]}'; expected one of: {allowed}")


Runner = Callable[[Table, Path, int | None, bool | None], JobResult]


@dataclass(frozen=True)
class Job:
    """A parsed job file."""

    type: str
    params: dict[str, Any]
    out: Path
    threads: int | None
    source: str


def load_job(path: str | Path) -> Job:
    """Parse and check the top level of a job file (the parameters are checked by the runner).

    Raises
    ------
    ConfigError
        For a missing file, invalid TOML, an unknown job type or an unknown top-level key.
    """
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{p.name}: no such file ({p})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{p.name}: cannot read {p}: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p.name}: invalid TOML ({p}): {e}") from None
    if data.get("type") == "sweep":
        raise ConfigError(f'{p.name}: is a sweep file (type = "sweep"), not a job file; run it with: boltzkit sweep {p}')
    top = Table(data, p.name)
    jtype = top.get_str("type", choices=tuple(sorted(JOB_TYPES)))
    out = Path(top.get_str("out", "boltzkit-results"))
    threads = top.get_int("threads", 0, lo=0, hi=1024) or None
    params = top.get_table("params", {}).data
    top.done()
    return Job(jtype, params, out, threads, p.name)


def run_job(job: Job, *, out: Path | None = None, progress: bool | None = None) -> JobResult:
    """Run a parsed job, writing its outputs to ``out`` (default: the job's ``out``)."""
    from boltzkit._validate import out_folder

    folder = out_folder("out", out if out is not None else job.out)
    runner = JOB_TYPES[job.type][1]
    params = Table(job.params, f"{job.source}: [params]")
    try:
        return runner(params, folder, resolve_threads(job.threads), progress)
    except BoltzkitError as e:
        if isinstance(e, ConfigError):
            raise
        raise ConfigError(f"{job.source}: {e}") from e


def write_rows(folder: Path, stem: str, headers: list[str], rows: list[list[Any]], title: str) -> tuple[str, Path]:
    """Write a CSV and return the printable table and the path."""
    path = folder / f"{stem}.csv"
    write_csv(path, headers, rows)
    return format_table(headers, rows, title), path


def as_array(values: list[Any], path: str) -> np.ndarray[Any, np.dtype[np.float64]]:
    """A list of numbers from TOML as float64, finite."""
    try:
        a = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError(f"{path}: expected a list of numbers") from None
    if not np.all(np.isfinite(a)):
        raise ConfigError(f"{path}: every value must be finite")
    return a


def _registry() -> dict[str, tuple[str, Runner]]:
    from boltzkit import _fpentropy_jobs, _hmc_jobs, _mlp_jobs, _spin_jobs

    return {
        "fpentropy.entropy": ("exact and approximate entropy of laws × formats", _fpentropy_jobs.run_entropy),
        "fpentropy.scale_sweep": ("entropy vs scale: exact, approximation, wobble (plot)", _fpentropy_jobs.run_scale_sweep),
        "fpentropy.empirical": ("empirical bits per value of sampled or loaded arrays", _fpentropy_jobs.run_empirical),
        "hmc.sample": ("HMC / LAHMC / ct-HMC / MJHMC on a built-in target: ESS per gradient, plot", _hmc_jobs.run_sample),
        "mlp.compare": (
            "MLP moment propagation vs Monte Carlo at equal FLOPs over widths × depths × activations (plot)",
            _mlp_jobs.run_compare,
        ),
        "spin.anneal": ("simulated annealing of an SK / lattice / layered / .npy instance", _spin_jobs.run_anneal),
        "spin.mpf": ("coupling recovery of MPF vs pseudolikelihood from exact samples", _spin_jobs.run_mpf),
        "spin.nn_phases": ("train MLPs, map snapshots to spin models, T_c vs training (plots)", _spin_jobs.run_nn_phases),
    }


#: Job types, ``name -> (description, runner)``; modules register theirs here.
JOB_TYPES: dict[str, tuple[str, Runner]] = _registry()
