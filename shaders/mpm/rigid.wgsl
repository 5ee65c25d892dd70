// Rigid bodies: after G2P, each rigid body's particles are projected onto
// one rigid motion. One workgroup per rigid body (its particles are the
// contiguous range `rigid_table[b].xy` = (first, count)) takes the
// velocities v_j that G2P gathered from the grid and, with r_j = x_j − x_c
// about the centre of mass x_c of the positions x_j at the start of the
// substep (state_t; all particles of a body have the same mass):
//   V = mean v_j,   I = Σ (|r_j|² 1 − r_j r_jᵀ),   L = Σ r_j × v_j,   ω = I⁻¹ L,
//   v'_j = V + ω × r_j,   x'_j = x_j + dt v'_j,   C'_j = [ω]×,   F'_j = 1,   τ'_j = 0.
// This is the mass-weighted orthogonal projection onto rigid motions: it
// keeps the body's linear and angular momentum, so the grid exchanges
// momentum with rigid bodies as with any other matter (two-way coupling).
// Adjoint: `mpm/rigid_adj.wgsl`.

#import mpm/params
#import mpm/rigid_common

@group(0) @binding(0) var<storage, read> params: Params;
@group(0) @binding(1) var<storage, read> rigid_table: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> x_in: array<Real>;
@group(0) @binding(3) var<storage, read_write> x_out: array<Real>;
@group(0) @binding(4) var<storage, read_write> v_out: array<Real>;
@group(0) @binding(5) var<storage, read_write> c_out: array<Real>;
@group(0) @binding(6) var<storage, read_write> f_out: array<Real>;
@group(0) @binding(7) var<storage, read_write> tau_out: array<Real>;

fn x_at(p: u32) -> vec3r {
    return vec3r(x_in[3u * p], x_in[3u * p + 1u], x_in[3u * p + 2u]);
}

fn v_at(p: u32) -> vec3r {
    return vec3r(v_out[3u * p], v_out[3u * p + 1u], v_out[3u * p + 2u]);
}

@compute @workgroup_size(64)
fn rigid_project(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let body = rigid_table[wid.x];
    let first = body.x;
    let count = body.y;
    let n = Real(count);

    // Centre of mass and mean velocity.
    var sx = vec3r(0.0);
    var sv = vec3r(0.0);
    for (var i = li; i < count; i = i + 64u) {
        sx = sx + x_at(first + i);
        sv = sv + v_at(first + i);
    }
    let s1 = reduce3(li, sx, sv, vec3r(0.0));
    let xc = s1[0] / n;
    let vc = s1[1] / n;

    // Inertia (as Σ r rᵀ: diagonal, off-diagonal) and angular momentum.
    var sd = vec3r(0.0);
    var so = vec3r(0.0);
    var sl = vec3r(0.0);
    for (var i = li; i < count; i = i + 64u) {
        let r = x_at(first + i) - xc;
        sd = sd + r * r;
        so = so + vec3r(r.x * r.y, r.x * r.z, r.y * r.z);
        sl = sl + cross(r, v_at(first + i));
    }
    let s2 = reduce3(li, sd, so, sl);
    let inertia = inertia_of(s2[0], s2[1]);
    let omega = solve_sym3(inertia, s2[2]);

    let dt = p_dt();
    let cmat = skew(omega);
    for (var i = li; i < count; i = i + 64u) {
        let p = first + i;
        let xp = x_at(p);
        let v = vc + cross(omega, xp - xc);
        let xn = xp + dt * v;
        for (var k = 0u; k < 3u; k = k + 1u) {
            x_out[3u * p + k] = xn[k];
            v_out[3u * p + k] = v[k];
        }
        for (var j = 0u; j < 3u; j = j + 1u) {
            for (var k = 0u; k < 3u; k = k + 1u) {
                c_out[mat_index(p, 3u * j + k)] = cmat[j][k];
                f_out[mat_index(p, 3u * j + k)] = select(Real(0.0), Real(1.0), j == k);
                tau_out[mat_index(p, 3u * j + k)] = 0.0;
            }
        }
    }
}
