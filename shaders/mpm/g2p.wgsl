// G2P: each particle gathers the updated grid velocities of its 3×3×3 stencil
// into its new velocity v [m/s] and APIC velocity gradient C [1/s], moves
// (x += dt·v), updates its deformation (F ← (I + dt·C)·F, or J for fluids),
// applies its material's plastic return mapping, and stores its Kirchhoff
// stress τ [Pa] for the next P2G. Reads state_t, writes state_{t+1}.
//
// A non-finite value or a particle leaving the safe band of the domain is
// recorded in `status` (first step, lowest particle index, kind bits).
// A particle still waiting in its emitter is carried over unchanged (τ = 0).

#import common/index
#import common/bspline
#import mpm/params
#import mpm/material

@group(0) @binding(0) var<storage, read> params: Params;
@group(0) @binding(1) var<storage, read> materials: array<Real>;
@group(0) @binding(2) var<storage, read> body_of: array<u32>;
@group(0) @binding(3) var<storage, read> grid: array<vec4r>;
@group(0) @binding(4) var<storage, read> clock: array<u32>;
@group(0) @binding(5) var<storage, read> x_in: array<Real>;
@group(0) @binding(6) var<storage, read> f_in: array<Real>;
@group(0) @binding(7) var<storage, read> aux_in: array<Real>;
@group(0) @binding(8) var<storage, read_write> x_out: array<Real>;
@group(0) @binding(9) var<storage, read_write> v_out: array<Real>;
@group(0) @binding(10) var<storage, read_write> c_out: array<Real>;
@group(0) @binding(11) var<storage, read_write> f_out: array<Real>;
@group(0) @binding(12) var<storage, read_write> aux_out: array<Real>;
@group(0) @binding(13) var<storage, read_write> tau_out: array<Real>;
@group(0) @binding(14) var<storage, read_write> status: array<atomic<u32>>;
@group(0) @binding(15) var<storage, read> v_in: array<Real>;
@group(0) @binding(16) var<storage, read> c_in: array<Real>;

const STATUS_NONFINITE: u32 = 1u;
const STATUS_LEFT_DOMAIN: u32 = 2u;

fn report(p: u32, kind: u32) {
    let step = clock[0];
    atomicMin(&status[0], step);
    if (atomicLoad(&status[0]) == step) {
        atomicMin(&status[1], p);
        atomicOr(&status[2], kind);
    }
}

@compute @workgroup_size(64)
fn g2p(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let p = flat_index(gid, nwg);
    if (p >= p_num_particles()) {
        return;
    }
    let tag = body_of[p];
    if (tag_waiting(tag, clock[0])) {
        for (var i = 0u; i < 3u; i = i + 1u) {
            x_out[3u * p + i] = x_in[3u * p + i];
            v_out[3u * p + i] = v_in[3u * p + i];
        }
        for (var i = 0u; i < 9u; i = i + 1u) {
            c_out[mat_index(p, i)] = c_in[mat_index(p, i)];
            f_out[mat_index(p, i)] = f_in[mat_index(p, i)];
            tau_out[mat_index(p, i)] = 0.0;
        }
        aux_out[p] = aux_in[p];
        return;
    }
    let dt = p_dt();
    let dx = p_dx();
    let inv_dx = p_inv_dx();
    let xp = vec3r(x_in[3u * p], x_in[3u * p + 1u], x_in[3u * p + 2u]);
    let xg = (xp - p_origin()) * inv_dx;
    let base = particle_cell(xg);
    let fx = xg - vec3r(base);
    let w = stencil_weights(fx);
    var vel = vec3r(0.0);
    var bmat = mat3r();
    let nodes = p_nodes();
    let base_index = node_index(base);
    for (var k = 0u; k < 3u; k = k + 1u) {
        let wz = stencil_axis(w, k, 2u);
        for (var j = 0u; j < 3u; j = j + 1u) {
            let wy = stencil_axis(w, j, 1u);
            let row = base_index + nodes.x * (j + nodes.y * k);
            for (var i = 0u; i < 3u; i = i + 1u) {
                let wx = stencil_axis(w, i, 0u);
                let weight = wx * wy * wz;
                let gv = grid[row + i].xyz;
                let dpos = (vec3r(Real(i), Real(j), Real(k)) - fx) * dx;
                vel = vel + weight * gv;
                bmat = bmat + weight * mat3r(gv * dpos.x, gv * dpos.y, gv * dpos.z);
            }
        }
    }
    let cmat = 4.0 * inv_dx * inv_dx * bmat;
    let xnew = xp + dt * vel;
    let m = load_material(tag_body(tag));
    var f = mat3r(f_in[mat_index(p, 0u)], f_in[mat_index(p, 1u)], f_in[mat_index(p, 2u)],
                  f_in[mat_index(p, 3u)], f_in[mat_index(p, 4u)], f_in[mat_index(p, 5u)],
                  f_in[mat_index(p, 6u)], f_in[mat_index(p, 7u)], f_in[mat_index(p, 8u)]);
    var aux = aux_in[p];
    if (is_fluid(m.kind)) {
        aux = aux * (1.0 + dt * (cmat[0][0] + cmat[1][1] + cmat[2][2]));
    } else {
        f = (identity3() + dt * cmat) * f;
        let pl = plastic_projection(m, f, aux, dt);
        f = pl.f;
        aux = pl.aux;
    }
    let tau = kirchhoff_stress(m, f, cmat, aux);

    // Health checks: finite state, and the stencil stays inside the grid.
    var ok = is_finite_r(aux);
    for (var i = 0u; i < 3u; i = i + 1u) {
        ok = ok && is_finite_r(xnew[i]) && is_finite_r(vel[i]);
        ok = ok && is_finite_r(f[i][0]) && is_finite_r(f[i][1]) && is_finite_r(f[i][2]);
    }
    if (!ok) {
        report(p, STATUS_NONFINITE);
    } else {
        let xgn = (xnew - p_origin()) * inv_dx;
        let hi = vec3r(p_cells()) - vec3r(0.5);
        if (any(xgn < vec3r(0.5)) || any(xgn >= hi)) {
            report(p, STATUS_LEFT_DOMAIN);
        }
    }

    for (var i = 0u; i < 3u; i = i + 1u) {
        x_out[3u * p + i] = xnew[i];
        v_out[3u * p + i] = vel[i];
    }
    for (var j = 0u; j < 3u; j = j + 1u) {
        for (var i = 0u; i < 3u; i = i + 1u) {
            c_out[mat_index(p, 3u * j + i)] = cmat[j][i];
            f_out[mat_index(p, 3u * j + i)] = f[j][i];
            tau_out[mat_index(p, 3u * j + i)] = tau[j][i];
        }
    }
    aux_out[p] = aux;
}
