// Transcendental functions over `Real`. In f32 they are the built-ins; in f64
// (where Vulkan's GLSL.std.450 offers no exp/log/pow) they are computed with
// range reduction and series to about 1e-15 relative error.

#if REAL_F64
const LN2: f64 = 0.6931471805599453094;

fn real_exp(x_in: Real) -> Real {
    let x = clamp(x_in, -700.0, 700.0);
    let k = round(x / LN2);
    let r = x - k * LN2; // |r| <= ln2/2
    // Taylor series to order 13: |r|^14/14! < 1e-17.
    var s: Real = 1.0;
    var term: Real = 1.0;
    for (var i = 1; i <= 13; i = i + 1) {
        term = term * r / Real(i);
        s = s + term;
    }
    return ldexp(s, i32(k));
}

fn real_log(x: Real) -> Real {
    // f32 first guess, then one Halley step on e^y = x (cubic convergence:
    // relative error 1e-7 becomes below 1e-16). Valid for x in [1e-37, 1e37].
    let xc = clamp(x, 1e-37, 1e37);
    let y0 = Real(log(f32(xc)));
    let e = real_exp(y0);
    return y0 + 2.0 * (xc - e) / (xc + e);
}

// atan(t) for |t| <= 1: two half-angle reductions, atan(t) =
// 2 atan(t / (1 + √(1 + t²))), bring |t| below tan(π/16) ≈ 0.2, then the
// odd Taylor series to t³³ (remainder below 1e-24).
fn real_atan_unit(t0: Real) -> Real {
    var t = t0;
    for (var i = 0; i < 2; i = i + 1) {
        t = t / (1.0 + sqrt(1.0 + t * t));
    }
    let t2 = t * t;
    var s: Real = 0.0;
    for (var k = 16; k >= 0; k = k - 1) {
        let sign = select(Real(1.0), Real(-1.0), (k & 1) == 1);
        s = s * t2 + sign / Real(2 * k + 1);
    }
    return 4.0 * t * s;
}

// atan2(y, x) in (−π, π], to about 1e-16.
fn real_atan2(y: Real, x: Real) -> Real {
    let pi: Real = 3.14159265358979323846;
    if (x == 0.0 && y == 0.0) {
        return 0.0;
    }
    var a: Real;
    if (abs(y) <= abs(x)) {
        a = real_atan_unit(y / x);
        if (x < 0.0) {
            a = a + select(-pi, pi, y >= 0.0);
        }
    } else {
        a = select(-0.5 * pi, 0.5 * pi, y > 0.0) - real_atan_unit(x / y);
    }
    return a;
}
#else
fn real_atan2(y: Real, x: Real) -> Real {
    return atan2(y, x);
}

fn real_exp(x: Real) -> Real {
    return exp(x);
}

fn real_log(x: Real) -> Real {
    return log(x);
}
#endif

// x^y for x > 0.
fn real_pow(x: Real, y: Real) -> Real {
    return real_exp(y * real_log(x));
}

// (a¹⁶ + b¹⁶ + c¹⁶)^(1/16) for a, b, c ≥ 0 (not all 0): a smooth max, scaled
// by the largest term so that no power under- or overflows. The friction
// projections use it as a smooth min(|w|, c) = c |w| / norm16(|w|, c, ε).
fn norm16(a: Real, b: Real, c: Real) -> Real {
    let big = max(max(a, b), c);
    let a2 = (a / big) * (a / big);
    let b2 = (b / big) * (b / big);
    let c2 = (c / big) * (c / big);
    let a8 = (a2 * a2) * (a2 * a2);
    let b8 = (b2 * b2) * (b2 * b2);
    let c8 = (c2 * c2) * (c2 * c2);
    return big * sqrt(sqrt(sqrt(sqrt(a8 * a8 + b8 * b8 + c8 * c8))));
}

// sqrt that is 0 (not NaN) for tiny negative round-off.
fn safe_sqrt(x: Real) -> Real {
    return sqrt(max(x, 0.0));
}

// True unless x is NaN or infinite.
#if REAL_F64
fn is_finite_r(x: Real) -> bool {
    return abs(x) <= 1.0e300;
}
#else
fn is_finite_r(x: Real) -> bool {
    // Exponent bits all ones means inf or NaN; immune to fast-math NaN folding.
    return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}
#endif
