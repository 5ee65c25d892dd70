// Signed distance functions of tool shapes in the tool's local frame [m],
// negative inside, and quaternion helpers. Mesh tools sample a signed-distance
// grid `sdf_values: array<f32>` bound by the importer.

const SHAPE_BOX: u32 = 0u;
const SHAPE_SPHERE: u32 = 1u;
const SHAPE_CAPSULE: u32 = 2u;
const SHAPE_CYLINDER: u32 = 3u;
const SHAPE_PLANE: u32 = 4u;
const SHAPE_MESH: u32 = 5u;

// Rotates v by the unit quaternion q = (x, y, z, w).
fn quat_rotate(q: vec4r, v: vec3r) -> vec3r {
    let t = 2.0 * cross(q.xyz, v);
    return v + q.w * t + cross(q.xyz, t);
}

fn quat_conj(q: vec4r) -> vec4r {
    return vec4r(-q.xyz, q.w);
}

// Adjoint of `quat_rotate(q, v)` with respect to q (as computed, without
// assuming |q| = 1) for ∂L/∂out = rbar.
fn quat_rotate_vjp_q(q: vec4r, v: vec3r, rbar: vec3r) -> vec4r {
    let u = q.xyz;
    let t = 2.0 * cross(u, v);
    // out = v + w·t + u × t
    let wbar = dot(rbar, t);
    let tbar = q.w * rbar + cross(rbar, u);
    let ubar = cross(t, rbar) + 2.0 * cross(v, tbar);
    return vec4r(ubar, wbar);
}

struct ToolShape {
    kind: u32,
    dims: vec3r,
    sdf_offset: u32,
    sdf_dims: vec3<u32>,
    sdf_dx: Real,
    sdf_origin: vec3r,
}

fn sdf_box(p: vec3r, h: vec3r) -> Real {
    let q = abs(p) - h;
    return length(max(q, vec3r(0.0))) + min(max(q.x, max(q.y, q.z)), 0.0);
}

fn sdf_capsule(p: vec3r, r: Real, hh: Real) -> Real {
    let q = vec3r(p.x, p.y - clamp(p.y, -hh, hh), p.z);
    return length(q) - r;
}

fn sdf_cylinder(p: vec3r, r: Real, hh: Real) -> Real {
    let d = vec2r(length(p.xz) - r, abs(p.y) - hh);
    return min(max(d.x, d.y), 0.0) + length(max(d, vec2r(0.0)));
}

fn sdf_grid_at(s: ToolShape, i: vec3<u32>) -> Real {
    return Real(sdf_values[s.sdf_offset + i.x + s.sdf_dims.x * (i.y + s.sdf_dims.y * i.z)]);
}

// Trilinear sample of a mesh's signed-distance grid; outside the grid's box the
// distance to the box is added to the value at the nearest point inside.
fn sdf_mesh(p: vec3r, s: ToolShape) -> Real {
    let hi = vec3r(s.sdf_dims - vec3<u32>(1u));
    let g = (p - s.sdf_origin) / s.sdf_dx;
    let gc = clamp(g, vec3r(0.0), hi);
    let outside = length(g - gc) * s.sdf_dx;
    let i0 = vec3<u32>(min(floor(gc), max(hi - vec3r(1.0), vec3r(0.0))));
    let t = gc - vec3r(i0);
    let c000 = sdf_grid_at(s, i0);
    let c100 = sdf_grid_at(s, i0 + vec3<u32>(1u, 0u, 0u));
    let c010 = sdf_grid_at(s, i0 + vec3<u32>(0u, 1u, 0u));
    let c110 = sdf_grid_at(s, i0 + vec3<u32>(1u, 1u, 0u));
    let c001 = sdf_grid_at(s, i0 + vec3<u32>(0u, 0u, 1u));
    let c101 = sdf_grid_at(s, i0 + vec3<u32>(1u, 0u, 1u));
    let c011 = sdf_grid_at(s, i0 + vec3<u32>(0u, 1u, 1u));
    let c111 = sdf_grid_at(s, i0 + vec3<u32>(1u, 1u, 1u));
    let x00 = mix(c000, c100, t.x);
    let x10 = mix(c010, c110, t.x);
    let x01 = mix(c001, c101, t.x);
    let x11 = mix(c011, c111, t.x);
    return mix(mix(x00, x10, t.y), mix(x01, x11, t.y), t.z) + outside;
}

fn tool_sdf(p: vec3r, s: ToolShape) -> Real {
    switch s.kind {
        case 0u: { return sdf_box(p, s.dims); }
        case 1u: { return length(p) - s.dims.x; }
        case 2u: { return sdf_capsule(p, s.dims.x, s.dims.y); }
        case 3u: { return sdf_cylinder(p, s.dims.x, s.dims.y); }
        case 4u: { return p.y; }
        default: { return sdf_mesh(p, s); }
    }
}

// The divisor m(l) of `tool_normal` for a difference vector of length l.
fn normal_scale(l: Real, h: Real) -> Real {
    return select((l * l + h * h) / (2.0 * h), l, l >= h);
}

// Outward normal by central differences of the SDF (step h [m]): the
// difference vector g (length 2h where the SDF is a distance) divided by
// m(|g|), with m(l) = l for l >= h and (l² + h²) / (2h) below (C¹ at h).
// It is a unit vector wherever the differences see at least half the SDF's
// unit slope, and shrinks smoothly to zero on the medial surfaces inside a
// tool (the mid-plane of a plate, a sphere's centre), where a unit normal
// would flip sign: a node there would switch between being pushed out
// through one face and through the other, a jump in the node's velocity
// that the adjoint cannot see.
fn tool_normal(p: vec3r, s: ToolShape, h: Real) -> vec3r {
    let ex = vec3r(h, 0.0, 0.0);
    let ey = vec3r(0.0, h, 0.0);
    let ez = vec3r(0.0, 0.0, h);
    let g = vec3r(
        tool_sdf(p + ex, s) - tool_sdf(p - ex, s),
        tool_sdf(p + ey, s) - tool_sdf(p - ey, s),
        tool_sdf(p + ez, s) - tool_sdf(p - ez, s),
    );
    return g / normal_scale(length(g), h);
}

// ---- Gradients (for adjoints) ----

fn sign_nonzero(x: Real) -> Real {
    return select(Real(-1.0), Real(1.0), x >= 0.0);
}

fn sdf_box_grad(p: vec3r, h: vec3r) -> vec3r {
    let q = abs(p) - h;
    let sg = vec3r(sign_nonzero(p.x), sign_nonzero(p.y), sign_nonzero(p.z));
    let mq = max(q, vec3r(0.0));
    let l = length(mq);
    if (l > 0.0) {
        return mq / l * sg;
    }
    // Inside: the face of the largest q (same tie order as max(q.x, max(q.y, q.z))).
    if (q.x >= q.y && q.x >= q.z) {
        return vec3r(sg.x, 0.0, 0.0);
    }
    if (q.y >= q.z) {
        return vec3r(0.0, sg.y, 0.0);
    }
    return vec3r(0.0, 0.0, sg.z);
}

fn safe_unit(v: vec3r) -> vec3r {
    let l = length(v);
    return select(vec3r(0.0), v / max(l, 1e-300), l > 1e-30);
}

fn sdf_cylinder_grad(p: vec3r, r: Real, hh: Real) -> vec3r {
    let lxz = length(p.xz);
    let d = vec2r(lxz - r, abs(p.y) - hh);
    var gd = vec2r(0.0);
    let md = max(d, vec2r(0.0));
    let l = length(md);
    if (l > 0.0) {
        gd = md / l;
    } else if (d.x > d.y) {
        gd = vec2r(1.0, 0.0);
    } else {
        gd = vec2r(0.0, 1.0);
    }
    let radial = select(vec3r(0.0), vec3r(p.x, 0.0, p.z) / max(lxz, 1e-300), lxz > 1e-30);
    return gd.x * radial + gd.y * vec3r(0.0, sign_nonzero(p.y), 0.0);
}

fn sdf_mesh_grad(p: vec3r, s: ToolShape) -> vec3r {
    let hi = vec3r(s.sdf_dims - vec3<u32>(1u));
    let g = (p - s.sdf_origin) / s.sdf_dx;
    let gc = clamp(g, vec3r(0.0), hi);
    let i0 = vec3<u32>(min(floor(gc), max(hi - vec3r(1.0), vec3r(0.0))));
    let t = gc - vec3r(i0);
    let c000 = sdf_grid_at(s, i0);
    let c100 = sdf_grid_at(s, i0 + vec3<u32>(1u, 0u, 0u));
    let c010 = sdf_grid_at(s, i0 + vec3<u32>(0u, 1u, 0u));
    let c110 = sdf_grid_at(s, i0 + vec3<u32>(1u, 1u, 0u));
    let c001 = sdf_grid_at(s, i0 + vec3<u32>(0u, 0u, 1u));
    let c101 = sdf_grid_at(s, i0 + vec3<u32>(1u, 0u, 1u));
    let c011 = sdf_grid_at(s, i0 + vec3<u32>(0u, 1u, 1u));
    let c111 = sdf_grid_at(s, i0 + vec3<u32>(1u, 1u, 1u));
    let x00 = mix(c000, c100, t.x);
    let x10 = mix(c010, c110, t.x);
    let x01 = mix(c001, c101, t.x);
    let x11 = mix(c011, c111, t.x);
    let dtx = mix(mix(c100 - c000, c110 - c010, t.y), mix(c101 - c001, c111 - c011, t.y), t.z);
    let dty = mix(x10 - x00, x11 - x01, t.z);
    let dtz = mix(x01, x11, t.y) - mix(x00, x10, t.y);
    // Clamped axes do not move the sample; there the distance to the box grows instead.
    let free = vec3r(select(Real(0.0), Real(1.0), g.x == gc.x), select(Real(0.0), Real(1.0), g.y == gc.y), select(Real(0.0), Real(1.0), g.z == gc.z));
    return free * vec3r(dtx, dty, dtz) / s.sdf_dx + safe_unit(g - gc);
}

// Gradient of `tool_sdf` with respect to the local point p.
fn tool_sdf_grad(p: vec3r, s: ToolShape) -> vec3r {
    switch s.kind {
        case 0u: { return sdf_box_grad(p, s.dims); }
        case 1u: { return safe_unit(p); }
        case 2u: { return safe_unit(vec3r(p.x, p.y - clamp(p.y, -s.dims.y, s.dims.y), p.z)); }
        case 3u: { return sdf_cylinder_grad(p, s.dims.x, s.dims.y); }
        case 4u: { return vec3r(0.0, 1.0, 0.0); }
        default: { return sdf_mesh_grad(p, s); }
    }
}

// Adjoint of `tool_normal(p, s, h)` for ∂L/∂n = nbar: returns ∂L/∂p.
fn tool_normal_vjp(p: vec3r, s: ToolShape, h: Real, nbar: vec3r) -> vec3r {
    let ex = vec3r(h, 0.0, 0.0);
    let ey = vec3r(0.0, h, 0.0);
    let ez = vec3r(0.0, 0.0, h);
    let g = vec3r(
        tool_sdf(p + ex, s) - tool_sdf(p - ex, s),
        tool_sdf(p + ey, s) - tool_sdf(p - ey, s),
        tool_sdf(p + ez, s) - tool_sdf(p - ez, s),
    );
    // n = g / m(|g|): ḡ = n̄/m − g (g·n̄) m′(l) / (l m²), m′ = 1 above h, l/h below.
    let l = length(g);
    let m = normal_scale(l, h);
    var gbar = nbar / m - g * (dot(g, nbar) / (h * m * m));
    if (l >= h) {
        let n = g / l;
        gbar = (nbar - n * dot(n, nbar)) / l;
    }
    return gbar.x * (tool_sdf_grad(p + ex, s) - tool_sdf_grad(p - ex, s))
         + gbar.y * (tool_sdf_grad(p + ey, s) - tool_sdf_grad(p - ey, s))
         + gbar.z * (tool_sdf_grad(p + ez, s) - tool_sdf_grad(p - ez, s));
}
