"""The analytic approximation: closed forms against mpmath quadrature, the refined formula and
its bound against the exact entropy, the wobble's periodicity."""

from __future__ import annotations

from typing import Any

import mpmath
import numpy as np
import pytest
from scipy import stats

from boltzkit import InvalidArgumentError
from boltzkit import fpentropy as fp


def _k_quadrature(logpdf: Any, support: tuple[float, float]) -> float:
    """K = −∫ f log2(|x| f) by mpmath (40 digits), split at 0 and ±1."""
    mpmath.mp.dps = 40

    def g(x: mpmath.mpf) -> mpmath.mpf:
        if x == 0:
            return mpmath.mpf(0)
        lf = logpdf(x)
        return -mpmath.exp(lf) * (lf + mpmath.log(abs(x))) / mpmath.log(2)

    lo, hi = support
    pts = [p for p in [lo, -1, 0, 1, hi] if lo <= p <= hi]
    return float(mpmath.quad(g, pts))


L = mpmath.log
CASES: list[tuple[str, Any, Any, tuple[float, float]]] = [
    ("norm", stats.norm(scale=3.0), lambda x: -(x**2) / 18 - L(3 * mpmath.sqrt(2 * mpmath.pi)), (-mpmath.inf, mpmath.inf)),
    ("halfnorm", stats.halfnorm(), lambda x: -(x**2) / 2 + L(2) - L(mpmath.sqrt(2 * mpmath.pi)), (0, mpmath.inf)),
    ("uniform(-a,a)", stats.uniform(-2, 4), lambda x: -L(4), (-2, 2)),
    ("uniform(0,a)", stats.uniform(0, 5), lambda x: -L(5), (0, 5)),
    ("expon", stats.expon(scale=0.5), lambda x: -2 * x + L(2), (0, mpmath.inf)),
    ("laplace", stats.laplace(), lambda x: -abs(x) - L(2), (-mpmath.inf, mpmath.inf)),
    ("logistic", stats.logistic(), lambda x: -abs(x) - 2 * L(1 + mpmath.exp(-abs(x))), (-mpmath.inf, mpmath.inf)),
    ("gamma(2.5)", stats.gamma(2.5), lambda x: 1.5 * L(x) - x - mpmath.loggamma(2.5), (0, mpmath.inf)),
    ("chi2(3)", stats.chi2(3), lambda x: 0.5 * L(x) - x / 2 - 1.5 * L(2) - mpmath.loggamma(1.5), (0, mpmath.inf)),
    ("weibull(1.7)", stats.weibull_min(1.7), lambda x: L(1.7) + 0.7 * L(x) - x**1.7, (0, mpmath.inf)),
    ("lognorm(0.6)", stats.lognorm(0.6), lambda x: -(L(x) ** 2) / 0.72 - L(x * 0.6 * mpmath.sqrt(2 * mpmath.pi)), (0, 1e9)),
    ("pareto(2.5)", stats.pareto(2.5), lambda x: L(2.5) - 3.5 * L(x), (1, mpmath.inf)),
    ("beta(2,3)", stats.beta(2, 3), lambda x: L(x) + 2 * L(1 - x) - L(mpmath.beta(2, 3)), (0, 1)),
    (
        "t(4.5)",
        stats.t(4.5),
        lambda x: mpmath.loggamma(2.75) - mpmath.loggamma(2.25) - L(mpmath.sqrt(4.5 * mpmath.pi)) - 2.75 * L(1 + x**2 / 4.5),
        (-mpmath.inf, mpmath.inf),
    ),
    ("cauchy", stats.cauchy(scale=0.3), lambda x: -L(mpmath.pi * 0.3 * (1 + (x / 0.3) ** 2)), (-mpmath.inf, mpmath.inf)),
    ("loguniform", stats.loguniform(0.01, 3.0), lambda x: -L(x * L(300)), (0.01, 3.0)),
]


@pytest.mark.parametrize(("label", "dist", "logpdf", "support"), CASES, ids=[c[0] for c in CASES])
def test_closed_forms_equal_quadrature(label: str, dist: Any, logpdf: Any, support: tuple[float, float]) -> None:
    k = fp.closed_form_k(dist)
    assert abs(k - _k_quadrature(logpdf, support)) < 1e-12, label
    # the paper's approximation is p - 1/2 + K, and K does not depend on the scale
    a = fp.approx_entropy(dist, "float32")
    assert a.terms.k_closed_form
    assert abs(a.paper - (24 - 0.5 + k)) < 1e-12


def test_table_values_of_the_spec() -> None:
    table = {
        "norm": (stats.norm(), 2.4635),
        "halfnorm": (stats.halfnorm(), 1.4635),
        "uniform(-a,a)": (stats.uniform(-1, 2), 1.9427),
        "uniform(0,a)": (stats.uniform(0, 1), 0.9427),
        "expon": (stats.expon(), 1.7754),
        "laplace": (stats.laplace(), 2.7754),
        "logistic": (stats.logistic(), 2.5666),
        "gamma(2.5)": (stats.gamma(2.5), 0.9813),
        "rayleigh": (stats.weibull_min(2.0), 0.7755),
        "pareto(2.5)": (stats.pareto(2.5), -0.3792),
        "beta(2,3)": (stats.beta(2, 3), 0.7240),
        "t(4.5)": (stats.t(4.5), 2.6271),
        "cauchy": (stats.cauchy(), 3.1515),
    }
    for label, (dist, h_minus_p) in table.items():
        assert abs(fp.closed_form_k(dist) - 0.5 - h_minus_p) < 6e-5, label


def test_no_closed_form_raises() -> None:
    with pytest.raises(InvalidArgumentError, match="dist"):
        fp.closed_form_k(stats.norm(loc=1.0))
    with pytest.raises(InvalidArgumentError, match="dist"):
        fp.closed_form_k(stats.gumbel_r())


def test_refined_plus_wobble_on_bfloat16_across_a_period() -> None:
    # spec §7.6: |H - refined - W| <= 1e-5 for N(0, σ) on bf16 across a log2 σ period
    for t in np.linspace(0, 1, 17):
        d = stats.norm(scale=2.0**t)
        h = fp.entropy(d, "bfloat16").bits
        a = fp.approx_entropy(d, "bfloat16")
        assert abs(h - a.refined - a.terms.w) <= 1e-5
        assert abs(a.terms.w) <= a.terms.w_bound


GRID_LAWS: dict[str, Any] = {
    "norm": lambda s: stats.norm(scale=s),
    "laplace": lambda s: stats.laplace(scale=s),
    "logistic": lambda s: stats.logistic(scale=s),
    "t": lambda s: stats.t(4.5, scale=s),
    "gamma": lambda s: stats.gamma(2.5, scale=s),
    "cauchy": lambda s: stats.cauchy(scale=s),
    "uniform": lambda s: stats.uniform(-s, 2 * s),
}


@pytest.mark.parametrize("law", list(GRID_LAWS))
@pytest.mark.parametrize("name", ["float32", "bfloat16", "float16", "float8_e4m3fn", "float8_e5m2"])
def test_approximation_within_its_bound(law: str, name: fp.FormatName) -> None:
    for log2_scale in (-3.3, 0.0, 1.7, 6.25):
        d = GRID_LAWS[law](2.0**log2_scale)
        h = fp.entropy(d, name).bits
        a = fp.approx_entropy(d, name)
        assert abs(h - a.refined) <= a.bound, (name, log2_scale, h, a.refined, a.bound)
        # H = paper + b + u + v + w + d_true with 0 <= d_true <= d_bound
        d_true = h - (a.refined - a.terms.d) - a.terms.w
        assert -1e-9 <= d_true <= a.terms.d_bound + 1e-9


def test_wobble_is_periodic_and_powers_of_two_are_exact() -> None:
    scales = 2.0 ** np.linspace(-1, 1, 17)
    sw = fp.entropy_vs_scale(stats.norm(), "bfloat16", scales, progress=False)
    assert np.allclose(sw.exact[:9], sw.exact[8:], atol=1e-12, rtol=0)  # period 1 in log2(scale)
    assert np.ptp(sw.paper) < 1e-12  # the paper's formula is scale-invariant
    amp = np.ptp(sw.exact) / 2
    assert 3.0e-4 < amp < 3.7e-4  # spec: observed amplitude 3.64e-4 bits
    assert np.all(np.abs(sw.exact - sw.refined) <= sw.bound)


def test_boundary_term_matches_the_smooth_law_formula() -> None:
    # spec §4: for a smooth law of log|X|, B ≈ 0.088406 · 2^(1−p); bf16: 6.9e-4
    a = fp.approx_entropy(stats.norm(), "bfloat16")
    assert abs(a.terms.b - 6.9e-4) < 0.1e-4
    assert abs(a.terms.b - a.terms.b_point) < 2e-5


def test_underflow_term_for_a_flat_density() -> None:
    # U ≈ -3.885 f(0) 2^emin (spec, smoothed floor); ours uses the exact floor (≈ -4 f(0) 2^emin)
    a = fp.approx_entropy(stats.norm(), "float8_e4m3fn")
    f0 = 1 / np.sqrt(2 * np.pi)
    assert -4.1 * f0 * 2.0**-6 < a.terms.u < -3.7 * f0 * 2.0**-6
