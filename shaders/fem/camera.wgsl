// A tactile sensor's geometry as pure functions with their vector–Jacobian
// products (`ductile_sim::fem::sensor`): the sensor frame carried by three
// base nodes, and the camera models.
//
// Sensor frame: the base nodes a, b, c move rigidly with the pad's mount, so
// s = M⁻¹ (p − a) with M = [u, w, u × w], u = b − a, w = c − a, is the same
// at every pose; q = a₀ + M₀ s maps p back into the rest configuration,
// where the camera was placed. (With a fixed base, q = p.) A vector f (a
// force) turns with the frame's linear part only: into camera axes as
// R M₀⁻ᵀ Mᵀ f (`vector_to_camera`), as the host readout writes forces.
//
// Camera (OpenCV axes: x right, y down, z forward), X = R (q − c₀):
//   pinhole:               (u, v) = (fx X/Z + cx, fy Y/Z + cy)
//   equidistant fisheye:   r = √(X² + Y²), θ = atan2(r, Z),
//                          (u, v) = (fx θ X/r + cx, fy θ Y/r + cy)
// with (u, v) in pixels.

#import common/real

const CAMERA_PINHOLE: u32 = 0u;
const CAMERA_FISHEYE: u32 = 1u;

struct Camera {
    rot: mat3r,      // world → camera (rows: the camera axes)
    center: vec3r,   // [m]
    f: vec2r,        // fx, fy [px]
    c: vec2r,        // cx, cy [px]
    model: u32,
}

// The sensor frame matrix M of base nodes a, b, c.
fn frame_matrix(a: vec3r, b: vec3r, c: vec3r) -> mat3r {
    let u = b - a;
    let w = c - a;
    return mat3r(u, w, cross(u, w));
}

fn inverse3(m: mat3r) -> mat3r {
    let c0 = cross(m[1], m[2]);
    let c1 = cross(m[2], m[0]);
    let c2 = cross(m[0], m[1]);
    let det = dot(m[0], c0);
    let d = select(det, 1e-30, abs(det) < 1e-30);
    return transpose(mat3r(c0, c1, c2)) * (1.0 / d);
}

// q = a₀ + M₀ M⁻¹ (p − a).
fn to_rest(p: vec3r, a: vec3r, b: vec3r, c: vec3r, a0: vec3r, m0: mat3r) -> vec3r {
    return a0 + m0 * (inverse3(frame_matrix(a, b, c)) * (p - a));
}

struct RestAdj {
    p: vec3r,
    a: vec3r,
    b: vec3r,
    c: vec3r,
}

// Adjoint of `to_rest` for q̄: s̄ = M₀ᵀ q̄, y = M⁻ᵀ s̄, p̄ = y,
// M̄ = −y sᵀ, ū = M̄₀ + w × M̄₂, w̄ = M̄₁ + M̄₂ × u, b̄ = ū, c̄ = w̄,
// ā = −(y + ū + w̄).
fn to_rest_vjp(p: vec3r, a: vec3r, b: vec3r, c: vec3r, m0: mat3r, qbar: vec3r) -> RestAdj {
    let u = b - a;
    let w = c - a;
    let minv = inverse3(mat3r(u, w, cross(u, w)));
    let s = minv * (p - a);
    let y = transpose(minv) * (transpose(m0) * qbar);
    let mb0 = -y * s.x;
    let mb1 = -y * s.y;
    let mb2 = -y * s.z;
    let ub = mb0 + cross(w, mb2);
    let wb = mb1 + cross(mb2, u);
    var out: RestAdj;
    out.p = y;
    out.b = ub;
    out.c = wb;
    out.a = -(y + ub + wb);
    return out;
}

// A world vector f now in camera axes: R M₀⁻ᵀ Mᵀ f (R world → camera at
// rest, M = [u, w, u × w] of base nodes a, b, c, M₀ at rest).
fn vector_to_camera(f: vec3r, a: vec3r, b: vec3r, c: vec3r, m0: mat3r, rot: mat3r) -> vec3r {
    return rot * (transpose(inverse3(m0)) * (transpose(frame_matrix(a, b, c)) * f));
}

// Adjoint of `vector_to_camera` for ḡ: with h = M₀⁻¹ Rᵀ ḡ (so that
// ḡ·out = fᵀ M h), f̄ = M h, M̄ = f hᵀ, then ū = M̄₀ + w × M̄₂,
// w̄ = M̄₁ + M̄₂ × u, b̄ = ū, c̄ = w̄, ā = −(ū + w̄) (returned in p, a, b, c).
fn vector_to_camera_vjp(f: vec3r, a: vec3r, b: vec3r, c: vec3r, m0: mat3r, rot: mat3r, gbar: vec3r) -> RestAdj {
    let h = inverse3(m0) * (transpose(rot) * gbar);
    let u = b - a;
    let w = c - a;
    let ub = f * h.x + cross(w, f * h.z);
    let wb = f * h.y + cross(f * h.z, u);
    var out: RestAdj;
    out.p = mat3r(u, w, cross(u, w)) * h;
    out.a = -(ub + wb);
    out.b = ub;
    out.c = wb;
    return out;
}

// Pixel coordinates of a point X in camera coordinates [m].
fn project(cam: Camera, x: vec3r) -> vec2r {
    if (cam.model == CAMERA_FISHEYE) {
        let r = length(x.xy);
        var g = 1.0 / x.z;
        if (r > 1e-12 * abs(x.z)) {
            g = real_atan2(r, x.z) / r;
        }
        return cam.f * g * x.xy + cam.c;
    }
    return cam.f * x.xy / x.z + cam.c;
}

// Adjoint of `project` for (ū, v̄) = `pbar`.
fn project_vjp(cam: Camera, x: vec3r, pbar: vec2r) -> vec3r {
    let fb = cam.f * pbar;
    if (cam.model == CAMERA_FISHEYE) {
        let r = length(x.xy);
        let z = x.z;
        let big_a = dot(fb, x.xy);
        if (r > 1e-12 * abs(z)) {
            let th = real_atan2(r, z);
            let g = th / r;
            let rz = r * r + z * z;
            let dg = (z / rz * r - th) / (r * r);
            let xy = g * fb + big_a * dg * x.xy / r;
            return vec3r(xy, -big_a * r / rz / r);
        }
        return vec3r(fb / z, -big_a / (z * z));
    }
    return vec3r(fb / x.z, -dot(fb, x.xy) / (x.z * x.z));
}
