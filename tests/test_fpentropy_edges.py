"""Issue 14 ("trust at the edges") for fpentropy, sweeps and jobs: named errors, checked results."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats

from boltzkit import fpentropy as fp
from boltzkit.errors import ComputationError, InvalidArgumentError, InvalidTypeError
from boltzkit.jobs import ConfigError
from boltzkit.sweep import MAX_SWEEP_TASKS, load_sweep


class _ScaledPdf(stats.rv_continuous):
    """A normal law whose pdf is `factor` times too large while its cdf is right."""

    factor = 67.0

    def _pdf(self, x: Any) -> Any:  # type: ignore[override]
        return self.factor * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)

    def _cdf(self, x: Any) -> Any:  # type: ignore[override]
        return stats.norm.cdf(x)


@pytest.mark.parametrize("fmt", ["float16", "float8_e4m3fn"])
def test_inconsistent_law_is_refused_naming_dist(fmt: fp.FormatName) -> None:
    # independent truth: the pdf integrates to 67, so no entropy of a probability law exists
    d = _ScaledPdf(name="scaledpdf")()
    with pytest.raises(InvalidArgumentError, match=r"^dist: .*sum to [0-9.]+, not 1: .*disagree"):
        fp.entropy(d, fmt)


def test_consistent_callback_law_still_works() -> None:
    # through callbacks, a normal law gives the native (closed-form-checked) value
    e = fp.entropy(stats.norm(), "float8_e4m3fn", native=False)
    assert abs(e.bits - fp.entropy(stats.norm(), "float8_e4m3fn").bits) < 1e-9
    assert 0 <= e.bits <= math.log2(256)


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        ((3, -1), r"^mantissa_bits: must be an int between 0 and 52, got -1$"),
        ((2**63, 0), r"^exponent_bits: must be an int between 1 and 11, got 9223372036854775808$"),
        ((12, 3), r"^exponent_bits: must be an int between 1 and 11, got 12$"),
        ((4, 3, 2**70), r"^bias: must be an int between -1100 and 1100, got"),
    ],
)
def test_float_format_ranges_in_words(args: tuple[Any, ...], pattern: str) -> None:
    with pytest.raises(InvalidArgumentError, match=pattern):
        fp.FloatFormat(*args)


def test_float_format_types_named() -> None:
    with pytest.raises(InvalidTypeError, match=r"^exponent_bits: expected an int, got bool"):
        fp.FloatFormat(True, 3)
    with pytest.raises(InvalidTypeError, match=r"^zero: expected a str"):
        fp.FloatFormat(4, 3, None, None)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match=r"^precision: must be an int between 1 and 53"):
        fp.FloatFormat.from_range(2**64, -6, 7)
    with pytest.raises(InvalidArgumentError, match=r"^emax: must be an int between -6 and 1023"):
        fp.FloatFormat.from_range(4, -6, -8)


def test_approx_never_returns_nan() -> None:
    # a law narrower than float64 resolves near zero: either finite numbers or a ComputationError
    d = stats.rayleigh(loc=-1.1e-308, scale=1e-150)
    try:
        a = fp.approx_entropy(d, "float8_e5m2", merge_zero=True)
    except ComputationError as e:
        assert str(e).startswith("dist: ")
    else:
        vals = [a.paper, a.refined, a.bound, *vars(a.terms).values()]
        assert all(math.isfinite(float(v)) for v in vals)


def test_callback_loguniform_matches_native() -> None:
    # the log-uniform law has 1 + x (ln f)' = 0: the callback path must converge like the native one
    d = stats.reciprocal(0.3, 1.3, scale=0.1)
    a = fp.approx_entropy(d, "float8_e4m3fn", native=False)
    b = fp.approx_entropy(d, "float8_e4m3fn", native=True)
    assert abs(a.refined - b.refined) < 1e-9
    # independent truth: K of the log-uniform law is log2(ln(b/a)) in bits, where b/a = 13/3
    assert abs(a.terms.k - math.log2(math.log(13 / 3))) < 1e-9


def test_entropy_vs_scale_blames_scales() -> None:
    with pytest.raises(InvalidArgumentError, match=r"^scales: "):
        fp.entropy_vs_scale(stats.norm(loc=2), "float8_e4m3fn", [1e308], progress=False)
    with pytest.raises(InvalidArgumentError, match=r"^scales: "):
        fp.entropy_vs_scale(stats.rayleigh(loc=2), "float8_e4m3fn", [1e308], progress=False)
    with pytest.raises(InvalidArgumentError, match=r"^scales: "):
        fp.entropy_vs_scale(stats.norm(), "float8_e4m3fn", [1.8e308], progress=False)


def test_entropy_vs_scale_warns_on_unordered_scales() -> None:
    with pytest.warns(UserWarning, match=r"^scales: not in increasing order"):
        r = fp.entropy_vs_scale(stats.norm(), "float8_e4m3fn", [2.0, 1.0], progress=False)
    # the given order is kept: row 0 is the law of 2X
    assert list(r.scales) == [2.0, 1.0]
    assert abs(r.exact[0] - fp.entropy(stats.norm(scale=2.0), "float8_e4m3fn").bits) < 1e-12


def test_quadrature_limit_names_dist() -> None:
    # every message of the module starts with a public argument name (no internal counters first)
    with pytest.raises(InvalidArgumentError, match=r"^method: "):
        fp.entropy(stats.norm(), "float64", method="enumerate")


def test_bool_and_int_flags() -> None:
    with pytest.raises(InvalidTypeError, match=r"^merge_zero: expected True or False, got int"):
        fp.entropy(stats.norm(), "float8_e4m3fn", merge_zero=1)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match=r"^threads: "):
        fp.quantize([1.0], "float16", threads=2**64)


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "s.toml"
    p.write_text('type = "sweep"\ntask = "fpentropy.entropy"\n' + text)
    return p


def test_sweep_task_count_checked_before_expansion(tmp_path: Path) -> None:
    p = _write(tmp_path, '[base]\nfmt = "float16"\n[random]\nn = 10000000\nx = { uniform = [0, 1] }\n')
    with pytest.raises(ConfigError, match=r"^s\.toml\.random\.n: the sweep would expand to 10000000 tasks"):
        load_sweep(p)
    assert MAX_SWEEP_TASKS < 10_000_000


def test_sweep_grid_product_checked(tmp_path: Path) -> None:
    grid = "\n".join(f"g{i} = [{', '.join(str(j) for j in range(10))}]" for i in range(7))
    p = _write(tmp_path, f"[grid]\n{grid}\n")
    with pytest.raises(ConfigError, match=r"^s\.toml\.grid: the sweep would expand to 10000000 tasks"):
        load_sweep(p)


def test_sweep_reversed_random_range_refused(tmp_path: Path) -> None:
    p = _write(tmp_path, "[random]\nn = 2\nx = { uniform = [1, 0] }\n")
    with pytest.raises(ConfigError, match=re.escape("s.toml.random.x: uniform = [a, b] needs a < b")):
        load_sweep(p)


def test_sweep_int_range_in_words(tmp_path: Path) -> None:
    p = _write(tmp_path, "threads_per_task = 0\n")
    with pytest.raises(ConfigError, match=r"^s\.toml\.threads_per_task: must be an integer between 1 and 1024, got 0$"):
        load_sweep(p)


def test_scale_curve_task_ranges(tmp_path: Path) -> None:
    from boltzkit.tasks import check_params

    base = {"dist": {"law": "norm"}, "format": "float8_e4m3fn"}
    with pytest.raises(ConfigError, match=r"^t\.log2_max: must be > log2_min"):
        check_params("fpentropy.scale_curve", base | {"log2_min": 1.0, "log2_max": 0.0}, "t")
    with pytest.raises(ConfigError, match=r"^t\.log2_max: must be between -1000 and 1000"):
        check_params("fpentropy.scale_curve", base | {"log2_max": 1e300}, "t")


def test_empirical_task_memory_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    import boltzkit._validate as v
    from boltzkit.tasks import check_params

    monkeypatch.setattr(v, "memory_limit", lambda: 10**6)
    params = {"dist": {"law": "norm"}, "format": "float16", "n": 10**6}
    with pytest.raises(InvalidArgumentError, match=r"^t\.n: 1000000 samples would need about"):
        check_params("fpentropy.empirical", params, "t")


def test_unreadable_job_file_named(tmp_path: Path) -> None:
    from boltzkit.jobs import load_job

    p = tmp_path / "job.toml"
    p.write_bytes(b"\xff\xfe type")
    with pytest.raises(ConfigError, match=r"^job\.toml: cannot read"):
        load_job(p)
    with pytest.raises(ConfigError, match=r"^nothere\.toml: no such file"):
        load_job(tmp_path / "nothere.toml")


def test_subnormal_scale_refused() -> None:
    with pytest.raises(InvalidArgumentError, match=r"^scales: the scale 4\.94066e-324"):
        fp.entropy_vs_scale(stats.norm(), "float8_e5m2", [5e-324, 1.0], progress=False)


def test_approx_of_very_wide_law_fails_fast() -> None:
    # every value of a normal law of scale 1e298 overflows float8: exact entropy is the sign, 1 bit
    assert abs(fp.entropy(stats.norm(scale=1e298), "float8_e5m2").bits - 1.0) < 1e-12
    with pytest.raises(ComputationError, match=r"^dist: .*use entropy\(\) instead"):
        fp.approx_entropy(stats.norm(scale=1e298), "float8_e5m2")


def test_get_format_none_refused() -> None:
    with pytest.raises(InvalidTypeError, match=r"^fmt: "):
        fp.get_format(None)  # type: ignore[arg-type]


def test_core_law_errors_name_dist() -> None:
    from boltzkit import _core

    f16 = fp.get_format("float16").spec
    with pytest.raises(InvalidArgumentError, match=r"^dist: loc: must be finite"):
        _core.entropy_law(("normal", [], math.nan, 1.0), f16, False, "auto", None)


def test_callback_scale_sweep_far_from_one_is_fast() -> None:
    import time

    t0 = time.perf_counter()
    r = fp.entropy_vs_scale(stats.rayleigh(loc=1.46, scale=1e300), "float8_e5m2", [1e-300], progress=False)
    assert time.perf_counter() - t0 < 5.0  # was 18 s: the scaled callbacks had no split points
    # c X with X = rayleigh(loc, scale) is rayleigh(c loc, c scale): the same law, given directly
    direct = fp.entropy(stats.rayleigh(loc=1.46e-300, scale=1.0), "float8_e5m2")
    assert abs(r.exact[0] - direct.bits) < 1e-9


def test_empirical_codes_wider_than_the_format_refused() -> None:
    # a 4-bit format has 16 codes: 8 bits of entropy per value would exceed its width
    codes = np.arange(256, dtype=np.uint8)
    with pytest.raises(InvalidArgumentError, match=r"^arr: the code 255 does not fit the 4-bit format"):
        fp.empirical_entropy(codes, fmt="float4_e2m1fn")
    r = fp.empirical_entropy(np.arange(16, dtype=np.uint8), fmt="float4_e2m1fn")
    assert abs(r.bits_per_value - 4.0) < 1e-12  # 16 equally frequent codes: log2(16)


def test_approx_of_law_inside_the_zero_cells() -> None:
    # every value of N(0, 1e-300) rounds to ±0 in float8: H = 0 with merged zeros, 1 bit without
    # (independent truth); the refined approximation must agree within its bound (was -977 bits)
    d = stats.norm(scale=1e-300)
    for mz, truth in ((True, 0.0), (False, 1.0)):
        a = fp.approx_entropy(d, "float8_e5m2", merge_zero=mz)
        assert abs(a.refined - truth) <= a.bound + 1e-9, (mz, a.refined, a.bound)


@pytest.mark.parametrize("native", [True, False])
def test_law_with_subnormal_densities_converges_fast(native: bool) -> None:
    """expon(scale=1e300) has densities below 2^-1022 over much of its bulk: their rounding is
    the quadrature's noise floor, not a reason to split to 4e7 evaluations (a 20 s+ "hang").
    Multiplying by a power of two commutes with rounding to float64 (no mass near the subnormal
    or overflow ranges here), so the entropy equals that of the law scaled by 2^-996 exactly."""
    s = 1e300
    r = fp.entropy(stats.expon(scale=s), "float64", merge_zero=False, native=native)
    same = fp.entropy(stats.expon(scale=math.ldexp(s, -996)), "float64", merge_zero=False, native=native)
    assert r.n_evaluations < 10**6, r.n_evaluations
    assert abs(r.bits - same.bits) <= 2e-9 + r.error_estimate + same.error_estimate, (r.bits, same.bits)
    assert abs(r.total_mass - 1.0) < 1e-9
