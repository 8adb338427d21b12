//! Binary floating-point formats: parameters, values, codes and round-to-nearest-even quantization.
//!
//! A [`Format`] is plain data: exponent and fraction widths, the exponent bias, a zero policy and an
//! overflow policy. Every derived quantity (precision `p`, `emin`, `emax`, `xmax`, the number of
//! codes) follows from those fields. The named constructors reproduce the semantics of ml_dtypes
//! 0.6 (and IEEE 754 for float16/32/64).
//!
//! Codes follow the IEEE layout `sign | exponent field | fraction`, with the value of a code
//! `(-1)^s 2^(E - bias) (1 + M / 2^m)` for `E ≥ 1` and `(-1)^s 2^(1 - bias) M / 2^m` for `E = 0`.
//! How the top of the code space is used depends on the overflow policy:
//! - [`Overflow::Inf`]: the all-ones exponent field holds ±inf (`M = 0`) and NaNs (IEEE).
//! - [`Overflow::Nan`] with signed zeros ("fn", float8_e4m3fn): only `S.1…1.1…1` is NaN; overflow gives NaN.
//! - [`Overflow::Nan`] with a single zero ("fnuz"): the negative-zero code is the only NaN.
//! - [`Overflow::Saturate`] (float6/float4): every code is finite; overflow gives ±xmax.

use super::FpError;

/// How zero is represented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ZeroPolicy {
    /// Two zeros, +0 and −0 (IEEE).
    Signed,
    /// One zero; the code of −0 is the NaN ("fnuz" formats).
    Single,
}

/// What values beyond the largest finite value round to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Overflow {
    /// ±infinity (two symbols).
    Inf,
    /// NaN (one symbol for both signs).
    Nan,
    /// The largest finite value of the same sign.
    Saturate,
}

/// A binary floating-point format.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Format {
    /// Display name (`"float16"`, `"float8_e4m3fn"`, or a generated name for custom formats).
    pub name: String,
    /// Width of the exponent field in bits (≥ 1).
    pub exponent_bits: u32,
    /// Number of stored fraction bits `m` (precision `p = m + 1`).
    pub mantissa_bits: u32,
    /// Exponent bias: a normal code with exponent field `E` has exponent `E − bias`.
    pub bias: i32,
    /// Zero policy.
    pub zero: ZeroPolicy,
    /// Overflow policy.
    pub overflow: Overflow,
}

/// The named formats understood by [`Format::by_name`].
pub const FORMAT_NAMES: [&str; 14] = [
    "float64",
    "float32",
    "float16",
    "bfloat16",
    "float8_e5m2",
    "float8_e4m3fn",
    "float8_e4m3fnuz",
    "float8_e5m2fnuz",
    "float6_e2m3fn",
    "float6_e3m2fn",
    "float4_e2m1fn",
    "float8_e4m3",
    "float8_e3m4",
    "float8_e4m3b11fnuz",
];

impl Format {
    /// Builds and validates a format.
    ///
    /// # Errors
    /// [`FpError::InvalidArgument`] naming the offending field when the widths are out of range
    /// (`1 ≤ exponent_bits`, `mantissa_bits ≤ 52`, total width ≤ 64), when the exponent range does
    /// not fit inside float64 (`emin ≥ −1022`, `emax ≤ 1023`), or when the policies do not combine
    /// (a single zero needs the NaN overflow policy, which owns the negative-zero code; an
    /// infinity format needs at least one fraction bit to encode NaN).
    pub fn new(
        name: impl Into<String>,
        exponent_bits: u32,
        mantissa_bits: u32,
        bias: i32,
        zero: ZeroPolicy,
        overflow: Overflow,
    ) -> Result<Self, FpError> {
        let f = Self {
            name: name.into(),
            exponent_bits,
            mantissa_bits,
            bias,
            zero,
            overflow,
        };
        if !(1..=11).contains(&exponent_bits) {
            return Err(FpError::invalid(
                "exponent_bits",
                format!("must be in 1..=11, got {exponent_bits}"),
            ));
        }
        if mantissa_bits > 52 {
            return Err(FpError::invalid(
                "mantissa_bits",
                format!("must be in 0..=52, got {mantissa_bits}"),
            ));
        }
        if zero == ZeroPolicy::Single && overflow != Overflow::Nan {
            return Err(FpError::invalid(
                "zero",
                "a single zero is only supported with overflow='nan' (the negative-zero code is the NaN)".to_string(),
            ));
        }
        if overflow == Overflow::Inf && mantissa_bits == 0 {
            return Err(FpError::invalid(
                "mantissa_bits",
                "an 'inf' format needs at least one fraction bit to encode NaN".to_string(),
            ));
        }
        if overflow == Overflow::Nan
            && zero == ZeroPolicy::Signed
            && mantissa_bits == 0
            && exponent_bits == 1
        {
            return Err(FpError::invalid(
                "exponent_bits",
                "format has no finite non-zero value".to_string(),
            ));
        }
        if f.emin() < -1022 {
            return Err(FpError::invalid(
                "bias",
                format!("emin = 1 - bias = {} is below float64's -1022", f.emin()),
            ));
        }
        if f.emax() > 1023 {
            return Err(FpError::invalid(
                "bias",
                format!("emax = {} is above float64's 1023", f.emax()),
            ));
        }
        if f.emax() < f.emin() {
            return Err(FpError::invalid(
                "exponent_bits",
                "format has no normal binade".to_string(),
            ));
        }
        Ok(f)
    }

    /// One of the named formats (see [`FORMAT_NAMES`]).
    ///
    /// # Errors
    /// [`FpError::UnknownFormat`] for any other name.
    pub fn by_name(name: &str) -> Result<Self, FpError> {
        use Overflow::*;
        use ZeroPolicy::*;
        let (e, m, bias, z, o) = match name {
            "float64" => (11, 52, 1023, Signed, Inf),
            "float32" => (8, 23, 127, Signed, Inf),
            "float16" => (5, 10, 15, Signed, Inf),
            "bfloat16" => (8, 7, 127, Signed, Inf),
            "float8_e5m2" => (5, 2, 15, Signed, Inf),
            "float8_e4m3fn" => (4, 3, 7, Signed, Nan),
            "float8_e4m3fnuz" => (4, 3, 8, Single, Nan),
            "float8_e5m2fnuz" => (5, 2, 16, Single, Nan),
            "float6_e2m3fn" => (2, 3, 1, Signed, Saturate),
            "float6_e3m2fn" => (3, 2, 3, Signed, Saturate),
            "float4_e2m1fn" => (2, 1, 1, Signed, Saturate),
            "float8_e4m3" => (4, 3, 7, Signed, Inf),
            "float8_e3m4" => (3, 4, 3, Signed, Inf),
            "float8_e4m3b11fnuz" => (4, 3, 11, Single, Nan),
            _ => return Err(FpError::UnknownFormat(name.to_string())),
        };
        Self::new(name, e, m, bias, z, o)
    }

    /// Total width in bits: `1 + exponent_bits + mantissa_bits`.
    pub fn bits(&self) -> u32 {
        1 + self.exponent_bits + self.mantissa_bits
    }

    /// Precision `p` (significand bits including the implicit one).
    pub fn precision(&self) -> u32 {
        self.mantissa_bits + 1
    }

    /// Smallest normal exponent `emin = 1 − bias`.
    pub fn emin(&self) -> i32 {
        1 - self.bias
    }

    /// Largest exponent field that holds finite values.
    fn max_finite_field(&self) -> i32 {
        let all_ones = (1i32 << self.exponent_bits) - 1;
        match self.overflow {
            Overflow::Inf => all_ones - 1,
            Overflow::Nan if self.zero == ZeroPolicy::Signed && self.mantissa_bits == 0 => {
                all_ones - 1
            }
            _ => all_ones,
        }
    }

    /// Largest normal exponent (that of the binade holding `xmax`).
    pub fn emax(&self) -> i32 {
        self.max_finite_field() - self.bias
    }

    /// Largest fraction field used in the top binade.
    fn top_fraction(&self) -> u64 {
        let full = (1u64 << self.mantissa_bits) - 1;
        match (self.overflow, self.zero) {
            (Overflow::Nan, ZeroPolicy::Signed) if self.mantissa_bits > 0 => full - 1,
            _ => full,
        }
    }

    /// Largest finite value.
    pub fn xmax(&self) -> f64 {
        let m = self.mantissa_bits as i32;
        (1.0 + self.top_fraction() as f64 * pow2(-m)) * pow2(self.emax())
    }

    /// Smallest positive (subnormal) value `s = 2^(emin − m)`.
    pub fn min_subnormal(&self) -> f64 {
        pow2(self.emin() - self.mantissa_bits as i32)
    }

    /// Smallest positive normal value `2^emin`.
    pub fn min_normal(&self) -> f64 {
        pow2(self.emin())
    }

    /// Spacing of the values in binade `e`, `u_e = 2^(e − m)`.
    pub fn ulp_in_binade(&self, e: i32) -> f64 {
        pow2(e - self.mantissa_bits as i32)
    }

    /// Upper edge of the top finite cell: `xmax + u_emax / 2`. Values at or beyond it overflow
    /// (except exact ties that round down to `xmax`, which only matter for quantization).
    pub fn overflow_threshold(&self) -> f64 {
        self.xmax() + 0.5 * self.ulp_in_binade(self.emax())
    }

    /// Number of positive finite values (excluding zero).
    pub fn n_positive(&self) -> u64 {
        let m = self.mantissa_bits;
        let subnormals = (1u64 << m) - 1;
        let binades = (self.emax() - self.emin()) as u64;
        subnormals + binades * (1u64 << m) + self.top_fraction() + 1
    }

    /// Number of distinct output symbols of the quantizer: finite values (±0 counted twice when
    /// signed), ±inf or one NaN for overflow.
    pub fn n_symbols(&self) -> u64 {
        let zeros = if self.zero == ZeroPolicy::Signed {
            2
        } else {
            1
        };
        let over = match self.overflow {
            Overflow::Inf => 2,
            Overflow::Nan => 1,
            Overflow::Saturate => 0,
        };
        2 * self.n_positive() + zeros + over
    }

    /// All positive finite values in increasing order (at most 2^31 of them are allowed).
    ///
    /// # Errors
    /// [`FpError::TooLarge`] when the format has more than `limit` positive values.
    pub fn positive_values(&self, limit: u64) -> Result<Vec<f64>, FpError> {
        let n = self.n_positive();
        if n > limit {
            return Err(FpError::TooLarge {
                arg: "fmt",
                what: "positive values of the format",
                n,
                limit,
            });
        }
        let m = self.mantissa_bits as i32;
        let mut v = Vec::with_capacity(n as usize);
        let s = self.min_subnormal();
        for k in 1..(1u64 << m) {
            v.push(k as f64 * s);
        }
        for e in self.emin()..=self.emax() {
            let top = if e == self.emax() {
                self.top_fraction()
            } else {
                (1u64 << m) - 1
            };
            for j in 0..=top {
                v.push((1.0 + j as f64 * pow2(-m)) * pow2(e));
            }
        }
        Ok(v)
    }

    /// Rounds a real value to the format: round to nearest, ties to even, applied to the value
    /// itself (no double rounding), then the overflow policy. NaN inputs give NaN for formats
    /// that have one; for saturating formats (no NaN code) they give a zero whose sign is the
    /// opposite of the NaN's sign bit, exactly as ml_dtypes 0.6 casts do. NaN results carry the
    /// sign ml_dtypes gives them (that of the input; negative for the fnuz NaN code `0x80`).
    #[inline]
    pub fn quantize(&self, x: f64) -> f64 {
        if x.is_nan() {
            return match self.overflow {
                Overflow::Saturate => {
                    if x.is_sign_negative() {
                        0.0
                    } else {
                        -0.0
                    }
                }
                _ => self.nan_like(x),
            };
        }
        let a = x.abs();
        let r = if a.is_infinite() {
            f64::INFINITY
        } else {
            self.round_magnitude(a)
        };
        let r = if r > self.xmax() {
            match self.overflow {
                Overflow::Inf => f64::INFINITY,
                Overflow::Nan => return self.nan_like(x),
                Overflow::Saturate => self.xmax(),
            }
        } else {
            r
        };
        if self.zero == ZeroPolicy::Single && r == 0.0 {
            return 0.0;
        }
        r.copysign(x)
    }

    /// The NaN the format produces for input `x`: signed like `x`, or negative for fnuz formats.
    #[inline]
    fn nan_like(&self, x: f64) -> f64 {
        if self.zero == ZeroPolicy::Single {
            -f64::NAN.abs()
        } else {
            f64::NAN.copysign(x)
        }
    }

    /// Round-to-nearest-even of a finite magnitude `a ≥ 0` onto the format's grid, without
    /// the upper limit (the result may exceed `xmax`).
    #[inline]
    fn round_magnitude(&self, a: f64) -> f64 {
        let m = self.mantissa_bits;
        if a < self.min_normal() {
            // Fixed quantum s = 2^(emin − m); both scalings are exact powers of two.
            let k = self.mantissa_bits as i32 - self.emin();
            let q = scale2(a, k).round_ties_even();
            return scale2(q, -k);
        }
        let drop = 52 - m;
        if drop == 0 {
            return a;
        }
        // a is a normal float64 here (emin ≥ −1022); round its bit pattern.
        let bits = a.to_bits();
        let half = 1u64 << (drop - 1);
        let odd = (bits >> drop) & 1;
        let rounded = (bits + half - 1 + odd) & !((1u64 << drop) - 1);
        f64::from_bits(rounded)
    }

    /// The code (bit pattern, in the low `bits()` bits) of the quantized value of `x`,
    /// identical to the bytes ml_dtypes / numpy store for the cast of `x`.
    pub fn code_of(&self, x: f64) -> u64 {
        let q = self.quantize(x);
        self.encode(q, x.is_sign_negative())
    }

    /// Encodes a value of the format (a result of [`Format::quantize`]). `neg_nan` is the sign
    /// given to NaN codes of formats with signed NaNs.
    pub fn encode(&self, v: f64, neg_nan: bool) -> u64 {
        let m = self.mantissa_bits;
        let eb = self.exponent_bits;
        let sign_bit = 1u64 << (m + eb);
        let all_ones_exp = ((1u64 << eb) - 1) << m;
        if v.is_nan() {
            let s = if neg_nan { sign_bit } else { 0 };
            return match (self.overflow, self.zero) {
                (Overflow::Nan, ZeroPolicy::Single) => sign_bit,
                (Overflow::Nan, ZeroPolicy::Signed) => s | all_ones_exp | ((1u64 << m) - 1),
                (Overflow::Inf, _) => s | all_ones_exp | (1u64 << (m - 1)),
                // Saturating formats have no NaN; quantize never returns one for them.
                (Overflow::Saturate, _) => s,
            };
        }
        let s = if v.is_sign_negative() { sign_bit } else { 0 };
        let a = v.abs();
        if a.is_infinite() {
            return s | all_ones_exp;
        }
        if a == 0.0 {
            return if self.zero == ZeroPolicy::Single {
                0
            } else {
                s
            };
        }
        if a < self.min_normal() {
            let k = m as i32 - self.emin();
            return s | scale2(a, k) as u64;
        }
        let bits = a.to_bits();
        let e = ((bits >> 52) & 0x7ff) as i32 - 1023;
        let frac = (bits & ((1u64 << 52) - 1)) >> (52 - m);
        s | (((e + self.bias) as u64) << m) | frac
    }

    /// Decodes a code (low `bits()` bits) into its value; NaN codes give NaN.
    pub fn decode(&self, code: u64) -> f64 {
        let m = self.mantissa_bits;
        let eb = self.exponent_bits;
        let sign = if (code >> (m + eb)) & 1 == 1 {
            -1.0
        } else {
            1.0
        };
        let ef = ((code >> m) & ((1u64 << eb) - 1)) as i32;
        let frac = code & ((1u64 << m) - 1);
        let all_ones = (1i32 << eb) - 1;
        match (self.overflow, self.zero) {
            (Overflow::Nan, ZeroPolicy::Single) if code == 1u64 << (m + eb) => return f64::NAN,
            (Overflow::Nan, ZeroPolicy::Signed) if ef == all_ones && frac == (1u64 << m) - 1 => {
                return f64::NAN;
            }
            (Overflow::Inf, _) if ef == all_ones => {
                return if frac == 0 {
                    sign * f64::INFINITY
                } else {
                    f64::NAN
                };
            }
            _ => {}
        }
        let mi = m as i32;
        if ef == 0 {
            sign * scale2(frac as f64, self.emin() - mi)
        } else {
            sign * (1.0 + frac as f64 * pow2(-mi)) * pow2(ef - self.bias)
        }
    }
}

/// `2^k` for `-1074 ≤ k ≤ 1023`, exact.
#[inline]
pub fn pow2(k: i32) -> f64 {
    if k >= -1022 {
        f64::from_bits(((k + 1023) as u64) << 52)
    } else {
        f64::from_bits(1u64 << (k + 1074))
    }
}

/// `x · 2^k`, exact whenever the result is representable (applies the scaling in steps so that
/// no intermediate power of two over/underflows).
#[inline]
pub fn scale2(mut x: f64, mut k: i32) -> f64 {
    while k > 1000 {
        x *= pow2(1000);
        k -= 1000;
    }
    while k < -1000 {
        x *= pow2(-1000);
        k += 1000;
    }
    x * pow2(k)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(name: &str) -> Format {
        Format::by_name(name).unwrap()
    }

    #[test]
    fn table_of_the_spec() {
        let rows: [(&str, u32, i32, f64); 11] = [
            ("float64", 53, -1022, f64::MAX),
            ("float32", 24, -126, f32::MAX as f64),
            ("float16", 11, -14, 65504.0),
            ("bfloat16", 8, -126, (2.0 - pow2(-7)) * pow2(127)),
            ("float8_e5m2", 3, -14, 57344.0),
            ("float8_e4m3fn", 4, -6, 448.0),
            ("float8_e4m3fnuz", 4, -7, 240.0),
            ("float8_e5m2fnuz", 3, -15, 57344.0),
            ("float6_e2m3fn", 4, 0, 7.5),
            ("float6_e3m2fn", 3, -2, 28.0),
            ("float4_e2m1fn", 2, 0, 6.0),
        ];
        for (name, p, emin, xmax) in rows {
            let fm = f(name);
            assert_eq!(fm.precision(), p, "{name}");
            assert_eq!(fm.emin(), emin, "{name}");
            assert_eq!(fm.xmax(), xmax, "{name}");
        }
    }

    #[test]
    fn value_count_matches_code_count() {
        for name in FORMAT_NAMES {
            let fm = f(name);
            if fm.bits() > 16 {
                continue;
            }
            let mut finite_pos = 0u64;
            for c in 0..(1u64 << fm.bits()) {
                let v = fm.decode(c);
                if v.is_finite() && v > 0.0 {
                    finite_pos += 1;
                }
            }
            assert_eq!(finite_pos, fm.n_positive(), "{name}");
            let vals = fm.positive_values(1 << 20).unwrap();
            assert_eq!(vals.len() as u64, fm.n_positive());
            assert_eq!(*vals.last().unwrap(), fm.xmax());
            assert!(vals.windows(2).all(|w| w[0] < w[1]));
        }
    }

    #[test]
    fn encode_decode_round_trip() {
        for name in FORMAT_NAMES {
            let fm = f(name);
            if fm.bits() > 16 {
                continue;
            }
            for c in 0..(1u64 << fm.bits()) {
                let v = fm.decode(c);
                if v.is_nan() {
                    continue;
                }
                assert_eq!(fm.quantize(v).to_bits(), v.to_bits(), "{name} code {c:#x}");
                assert_eq!(fm.encode(v, false), c, "{name} code {c:#x}");
            }
        }
    }

    #[test]
    fn ties_and_overflow() {
        assert_eq!(f("float8_e4m3fn").quantize(464.0), 448.0);
        assert!(f("float8_e4m3fn").quantize(464.0001).is_nan());
        assert_eq!(f("float8_e5m2").quantize(61440.0), f64::INFINITY);
        assert_eq!(f("float8_e5m2").quantize(61439.0), 57344.0);
        assert!(f("float8_e4m3fnuz").quantize(248.0).is_nan());
        assert_eq!(f("float6_e2m3fn").quantize(100.0), 7.5);
        assert_eq!(f("float6_e2m3fn").quantize(f64::NEG_INFINITY), -7.5);
        assert_eq!(f("float16").quantize(1.0 + pow2(-11)), 1.0);
        assert_eq!(f("float16").quantize(1.0 + 3.0 * pow2(-11)), 1.0 + pow2(-9));
        // subnormal tie: s/2 rounds to zero, 3s/2 to 2s
        let h = f("float16");
        let s = h.min_subnormal();
        assert_eq!(h.quantize(0.5 * s), 0.0);
        assert_eq!(h.quantize(1.5 * s), 2.0 * s);
        assert_eq!(h.quantize(-0.25 * s).to_bits(), (-0.0f64).to_bits());
        assert_eq!(
            f("float8_e4m3fnuz").quantize(-1e-9).to_bits(),
            0.0f64.to_bits()
        );
        assert_eq!(f("float32").quantize(1.0 + pow2(-24)), 1.0);
        assert_eq!(f("float32").quantize(f64::MAX), f64::INFINITY);
        assert_eq!(f("float64").quantize(0.1), 0.1);
    }

    #[test]
    fn float32_quantize_matches_the_hardware_cast() {
        let mut g = crate::rng::SplitMix64::new(1, 0);
        for _ in 0..200_000 {
            let x = f64::from_bits(g.next_u64());
            let want = x as f32 as f64;
            let got = f("float32").quantize(x);
            assert!(
                want.to_bits() == got.to_bits() || (want.is_nan() && got.is_nan()),
                "{x:e}"
            );
        }
    }

    #[test]
    fn bad_formats_are_errors() {
        assert!(matches!(
            Format::by_name("float7"),
            Err(FpError::UnknownFormat(_))
        ));
        assert!(Format::new("x", 0, 3, 1, ZeroPolicy::Signed, Overflow::Inf).is_err());
        assert!(Format::new("x", 4, 53, 7, ZeroPolicy::Signed, Overflow::Inf).is_err());
        assert!(Format::new("x", 4, 3, 7, ZeroPolicy::Single, Overflow::Inf).is_err());
        assert!(Format::new("x", 4, 0, 7, ZeroPolicy::Signed, Overflow::Inf).is_err());
        assert!(Format::new("x", 11, 10, 2000, ZeroPolicy::Signed, Overflow::Inf).is_err());
    }
}
