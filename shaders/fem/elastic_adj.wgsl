// Adjoint of `fem/elastic.wgsl`'s substep, in three kernels run after the
// forward elements of state_t are known (everything is recomputed from
// state_t, parity 0):
//   `fem_adj_nodes` (per node): from x' = x + dt v' and
//     v' = v(1 − c dt) + dt f/m: x̄ = x̄', v̄ = (1 − c dt)(v̄' + dt x̄'),
//     f̄ = dt/m (v̄' + dt x̄'), also ∂L/∂(couplings' force); pinned nodes
//     pass x̄' through and stop the rest.
//   `fem_adj_elements` (per element): with G = [f̄1 − f̄0, f̄2 − f̄0, f̄3 − f̄0]
//     and B = G Dm⁻¹, the forces' pull-back is S = −W P(F) : B, so
//     F̄ = −W dP[B] (dP the symmetric second derivative of Ψ), D̄s = F̄ Dm⁻ᵀ,
//     x̄1..3 = columns of D̄s, x̄0 = −their sum; and μ̄ += −W (F − cof F) : B,
//     λ̄ += −W (J − 1) cof F : B, per element.
//   `fem_adj_gather` (per node): adds the elements' x̄ in CSR order.
// Adjoint states are 6 Reals per node, entry-major (∂L/∂x at entries 0–2,
// ∂L/∂v at 3–5), the layout of every solver's point set.

#import fem/elastic

@group(0) @binding(15) var<storage, read> adj_in: array<Real>;
@group(0) @binding(16) var<storage, read_write> adj_out: array<Real>;
@group(0) @binding(17) var<storage, read_write> fbar: array<Real>;
@group(0) @binding(18) var<storage, read_write> elem_bar: array<Real>;
@group(0) @binding(19) var<storage, read_write> pgrad: array<Real>;
@group(0) @binding(20) var<storage, read_write> ext_bar: array<Real>;

// 1 normally; a test sets it to 1 + δ to plant an error in the adjoint.
fn planted() -> Real { return reals[7]; }

fn adj_index(p: u32, e: u32) -> u32 { return e * n_nodes() + p; }

fn fbar3(i: u32) -> vec3r { return vec3r(fbar[3u * i], fbar[3u * i + 1u], fbar[3u * i + 2u]); }

fn ddot(a: mat3r, b: mat3r) -> Real {
    return dot(a[0], b[0]) + dot(a[1], b[1]) + dot(a[2], b[2]);
}

// The derivative of the cofactor matrix along δ.
fn cofactor_diff(f: mat3r, d: mat3r) -> mat3r {
    return mat3r(
        cross(d[1], f[2]) + cross(f[1], d[2]),
        cross(d[2], f[0]) + cross(f[2], d[0]),
        cross(d[0], f[1]) + cross(f[0], d[1]),
    );
}

// dP/dF applied to δ.
fn piola_diff(f: mat3r, d: mat3r) -> mat3r {
    let c = cofactor(f);
    let j = determinant(f);
    return mu() * d + (lambda() * ddot(c, d)) * c + (lambda() * (j - alpha())) * cofactor_diff(f, d);
}

@compute @workgroup_size(64)
fn fem_adj_nodes(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 64u;
    if (i >= n_nodes()) {
        return;
    }
    let free = pinned[i] == 0u;
    for (var k = 0u; k < 3u; k = k + 1u) {
        let xb = adj_in[adj_index(i, k)];
        let vb = adj_in[adj_index(i, 3u + k)] + dt() * xb;
        var fb: Real = 0.0;
        var vout: Real = 0.0;
        if (free) {
            fb = dt() / mass[i] * vb;
            vout = (1.0 - damping() * dt()) * vb;
        }
        adj_out[adj_index(i, k)] = xb;
        adj_out[adj_index(i, 3u + k)] = vout;
        fbar[3u * i + k] = fb;
        ext_bar[3u * i + k] = fb;
    }
}

@compute @workgroup_size(64)
fn fem_adj_elements(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let e = gid.x + gid.y * nwg.x * 64u;
    if (e >= n_elements()) {
        return;
    }
    let c0 = fbar3(tets[4u * e]);
    let g = mat3r(fbar3(tets[4u * e + 1u]) - c0, fbar3(tets[4u * e + 2u]) - c0, fbar3(tets[4u * e + 3u]) - c0);
    let dmi = rest_inverse(e);
    let b = g * dmi;
    let f = deformation(e);
    let w = volume[e];
    let fbar_m = -w * planted() * piola_diff(f, b);
    let dsbar = fbar_m * transpose(dmi);
    let o = 12u * e;
    let x0b = -(dsbar[0] + dsbar[1] + dsbar[2]);
    for (var k = 0u; k < 3u; k = k + 1u) {
        elem_bar[o + k] = x0b[k];
        elem_bar[o + 3u + k] = dsbar[0][k];
        elem_bar[o + 6u + k] = dsbar[1][k];
        elem_bar[o + 9u + k] = dsbar[2][k];
    }
    let cof = cofactor(f);
    pgrad[2u * e] = pgrad[2u * e] - w * ddot(f - cof, b);
    pgrad[2u * e + 1u] = pgrad[2u * e + 1u] - w * (determinant(f) - 1.0) * ddot(cof, b);
}

@compute @workgroup_size(64)
fn fem_adj_gather(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 64u;
    if (i >= n_nodes()) {
        return;
    }
    var xb = vec3r(0.0);
    for (var a = adj_start[i]; a < adj_start[i + 1u]; a = a + 1u) {
        let o = 3u * adj_entry[a];
        xb = xb + vec3r(elem_bar[o], elem_bar[o + 1u], elem_bar[o + 2u]);
    }
    for (var k = 0u; k < 3u; k = k + 1u) {
        adj_out[adj_index(i, k)] = adj_out[adj_index(i, k)] + xb[k];
    }
}
