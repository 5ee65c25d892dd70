// FEM on linear tetrahedra, forward: per-element elastic forces, then a
// per-node gather and symplectic Euler step (`ductile_sim::fem`).
//
// Element e has corners tets[4e..4e+4], rest shape matrix inverse Dm⁻¹
// (9 Reals, column-major) and rest volume W. With Ds = [x1−x0, x2−x0, x3−x0]
// and F = Ds Dm⁻¹, the stable neo-Hookean energy density (Smith et al. 2018,
// without its logarithmic term)
//   Ψ = μ/2 (tr FᵀF − 3) + λ/2 (J − α)²,  J = det F,  α = 1 + μ/λ,
// is at rest for F = I and linearises to Lamé parameters (μ, λ − μ). Its
// first Piola–Kirchhoff stress is P = μF + λ(J − α) cof F, and the nodal
// forces are [f1 f2 f3] = −W P Dm⁻ᵀ, f0 = −(f1 + f2 + f3).
//
// A node's force is the sum over the elements it belongs to (a fixed-order
// gather through a CSR list built on the host, so no atomics), plus gravity,
// the tools' normal contact forces (`fem/contact.wgsl`) and the couplings'
// force; then the predicted v_p = v + dt (f/m − c v) (mass-proportional
// damping c [1/s]) passes through each tool's friction (`friction_all`),
// giving v', and x' = x + dt v'. The contact force a sensor reads
// (couplings, normal forces, friction) is kept in `contact_out` for free
// nodes; pinned ones keep 0. Pinned nodes keep their position, or,
// mounted on tool m (`ints[4]` = m + 1), follow it: with a = R(q) r for the
// node's offset r in the tool frame, x' = p + a + dt (lin + ang × a) and
// v' = lin + ang × a at the substep's pose (p, q) and velocity (lin, ang).

@group(0) @binding(0) var<storage, read> ints: array<u32>;        // nodes, elements, tools, control steps
@group(0) @binding(1) var<storage, read> reals: array<Real>;      // dt, g (3), μ, λ, c, planted, contact (5)
@group(0) @binding(2) var<storage, read> tets: array<u32>;
@group(0) @binding(3) var<storage, read> dm_inv: array<Real>;
@group(0) @binding(4) var<storage, read> volume: array<Real>;
@group(0) @binding(5) var<storage, read> mass: array<Real>;
@group(0) @binding(6) var<storage, read> pinned: array<u32>;
@group(0) @binding(7) var<storage, read> adj_start: array<u32>;
@group(0) @binding(8) var<storage, read> adj_entry: array<u32>;
@group(0) @binding(9) var<storage, read> x_in: array<Real>;
@group(0) @binding(10) var<storage, read> v_in: array<Real>;
@group(0) @binding(11) var<storage, read_write> x_out: array<Real>;
@group(0) @binding(12) var<storage, read_write> v_out: array<Real>;
@group(0) @binding(13) var<storage, read_write> elem_force: array<Real>;
@group(0) @binding(14) var<storage, read> ext: array<Real>;
@group(0) @binding(30) var<storage, read> mount_offset: array<Real>;
@group(0) @binding(31) var<storage, read_write> contact_out: array<Real>;
@group(0) @binding(32) var<storage, read_write> status: array<atomic<u32>>;
@group(0) @binding(33) var<storage, read_write> depth_out: array<Real>;

// Records node i's failure (non-finite state) in the world's status word:
// the first failing substep, its lowest node, the kind bit and, in word 3,
// this solver's index in the world (`ints[5]`).
fn report_nonfinite(i: u32) {
    let step = clock[0];
    atomicMin(&status[0], step);
    if (atomicLoad(&status[0]) == step) {
        atomicMin(&status[1], i);
        atomicOr(&status[2], 1u);
        atomicMax(&status[3], ints[5]);
    }
}

#import common/real
#import common/svd
#import fem/contact

fn n_nodes() -> u32 { return ints[0]; }
fn n_elements() -> u32 { return ints[1]; }
fn dt() -> Real { return reals[0]; }
fn gravity() -> vec3r { return vec3r(reals[1], reals[2], reals[3]); }
fn mu() -> Real { return reals[4]; }
fn lambda() -> Real { return reals[5]; }
fn damping() -> Real { return reals[6]; }

fn xin(i: u32) -> vec3r { return vec3r(x_in[3u * i], x_in[3u * i + 1u], x_in[3u * i + 2u]); }
fn vin(i: u32) -> vec3r { return vec3r(v_in[3u * i], v_in[3u * i + 1u], v_in[3u * i + 2u]); }

fn rest_inverse(e: u32) -> mat3r {
    let o = 9u * e;
    return mat3r(
        vec3r(dm_inv[o], dm_inv[o + 1u], dm_inv[o + 2u]),
        vec3r(dm_inv[o + 3u], dm_inv[o + 4u], dm_inv[o + 5u]),
        vec3r(dm_inv[o + 6u], dm_inv[o + 7u], dm_inv[o + 8u]),
    );
}

fn deformation(e: u32) -> mat3r {
    let x0 = xin(tets[4u * e]);
    let ds = mat3r(xin(tets[4u * e + 1u]) - x0, xin(tets[4u * e + 2u]) - x0, xin(tets[4u * e + 3u]) - x0);
    return ds * rest_inverse(e);
}

// cof F = [f2 × f3, f3 × f1, f1 × f2] for the columns f1, f2, f3 of F.
fn cofactor(f: mat3r) -> mat3r {
    return mat3r(cross(f[1], f[2]), cross(f[2], f[0]), cross(f[0], f[1]));
}

fn alpha() -> Real {
    return 1.0 + mu() / lambda();
}

// The element model, `ints[6]`: 0 stable neo-Hookean, 1 corotated linear.
fn corotated() -> bool { return ints[6] == 1u; }

// Corotated linear elasticity (Müller and Gross 2004; the form of Sifakis
// and Barbič 2012): with the polar decomposition F = R S,
//   Ψ = μ |F − R|² + λ/2 tr(S − I)²,  P = 2μ (F − R) + λ tr(S − I) R,
// with μ, λ the Lamé parameters themselves (linear about any rotation).
fn piola_corotated(f: mat3r) -> mat3r {
    let r = polar_r(svd3(f));
    let s = transpose(r) * f;
    return 2.0 * mu() * (f - r) + (lambda() * (s[0][0] + s[1][1] + s[2][2] - 3.0)) * r;
}

fn piola(f: mat3r) -> mat3r {
    if (corotated()) {
        return piola_corotated(f);
    }
    let j = determinant(f);
    return mu() * f + (lambda() * (j - alpha())) * cofactor(f);
}

@compute @workgroup_size(64)
fn fem_forces(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = gid.x + gid.y * nwg.x * 64u;
    if (e >= n_elements()) {
        return;
    }
    let h = -volume[e] * piola(deformation(e)) * transpose(rest_inverse(e));
    let f0 = -(h[0] + h[1] + h[2]);
    let o = 12u * e;
    for (var k = 0u; k < 3u; k = k + 1u) {
        elem_force[o + k] = f0[k];
        elem_force[o + 3u + k] = h[0][k];
        elem_force[o + 6u + k] = h[1][k];
        elem_force[o + 9u + k] = h[2][k];
    }
}

// Sum of the elastic forces on node i, gathered in CSR order.
fn gathered_force(i: u32) -> vec3r {
    var f = vec3r(0.0);
    for (var a = adj_start[i]; a < adj_start[i + 1u]; a = a + 1u) {
        let o = 3u * adj_entry[a];
        f = f + vec3r(elem_force[o], elem_force[o + 1u], elem_force[o + 2u]);
    }
    return f;
}

@compute @workgroup_size(64)
fn fem_integrate(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 64u;
    if (i >= n_nodes()) {
        return;
    }
    var x = xin(i);
    var v = vec3r(0.0);
    if (pinned[i] != 0u && ints[4] != 0u) {
        let tf = contact_frame(ints[4] - 1u);
        let a = quat_rotate(tf.q, vec3r(mount_offset[3u * i], mount_offset[3u * i + 1u], mount_offset[3u * i + 2u]));
        v = tf.lin + cross(tf.ang, a);
        x = tf.pos + a + dt() * v;
    }
    if (pinned[i] == 0u) {
        let m = mass[i];
        let ext_i = vec3r(ext[3u * i], ext[3u * i + 1u], ext[3u * i + 2u]);
        let fc = ext_i + contact_total(x, vin(i));
        let f = gathered_force(i) + m * gravity() + fc;
        let vp = vin(i) + dt() * (f / m - damping() * vin(i));
        v = friction_all(x, vin(i), vp, m, contact_tools());
        x = x + dt() * v;
        // The contact force: couplings, normal forces and friction's share.
        for (var k = 0u; k < 3u; k = k + 1u) {
            contact_out[3u * i + k] = fc[k] + m * (v[k] - vp[k]) / dt();
        }
        // The deepest penetration since the body was built (a diagnostic).
        depth_out[i] = max(depth_out[i], contact_depth(xin(i)));
    }
    if (!(is_finite_r(x.x) && is_finite_r(x.y) && is_finite_r(x.z) && is_finite_r(v.x) && is_finite_r(v.y) && is_finite_r(v.z))) {
        report_nonfinite(i);
    }
    for (var k = 0u; k < 3u; k = k + 1u) {
        x_out[3u * i + k] = x[k];
        v_out[3u * i + k] = v[k];
    }
}
