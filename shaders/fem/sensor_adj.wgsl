// Adjoint of the marker-track loss (`fem/sensor.wgsl`) at a substep with a
// target row, on the FEM pad's state: ∂L/∂x of every node, added into the
// pad's adjoint state.
//   `marker_loss_partials` (per marker): ∂ℓ_m/∂ of its three corners and of
//     the frame's base nodes a, b, c (18 Reals per marker, in `partial`);
//   `marker_loss_gather` (per node, after it): its corners' partials through
//     the node → (marker, corner) list, and for a, b, c the sum over
//     markers, in a fixed order (deterministic).
// Adjoint of the force loss (`force_loss_eval`), per node: with
// ḡ = 2 w f_s S (F_cam − target) pulled back through `vector_to_camera`,
// every node's contact force gets ∂L/∂f_c = ∂L/∂F, into the pad's
// `force_seed` (the next adjoint substep, that of the substep the force
// came from, takes it); the base nodes a, b, c get ∂L/∂x of the frame.

#import fem/sensor

@group(0) @binding(10) var<storage, read_write> partial: array<Real>;
@group(0) @binding(11) var<storage, read> node_start: array<u32>;
@group(0) @binding(12) var<storage, read> node_entry: array<u32>;
@group(0) @binding(13) var<storage, read_write> adj: array<Real>;
@group(0) @binding(14) var<storage, read> planted: array<Real>;
@group(0) @binding(19) var<storage, read_write> force_seed: array<Real>;

@compute @workgroup_size(64)
fn marker_loss_partials(@builtin(global_invocation_id) gid: vec3<u32>) {
    let m = gid.x;
    let nm = n_markers();
    if (m >= nm || step_row[clock[0]] == NO_ROW) {
        return;
    }
    let row = step_row[clock[0]];
    let cam = camera();
    let xc = marker_camera(m);
    let d = project(cam, xc) - vec2r(targets[2u * (row * nm + m)], targets[2u * (row * nm + m) + 1u]);
    let uvbar = planted[0] * 2.0 * loss_weight() / Real(nm) * d;
    let qbar = transpose(cam.rot) * project_vjp(cam, xc, uvbar);
    let a = node_x(sints[1]);
    let b = node_x(sints[2]);
    let c = node_x(sints[3]);
    let r = to_rest_vjp(marker_world(m), a, b, c, rest_m0(), qbar);
    for (var k = 0u; k < 3u; k = k + 1u) {
        for (var e = 0u; e < 3u; e = e + 1u) {
            partial[18u * m + 3u * k + e] = mbary[3u * m + k] * r.p[e];
        }
    }
    for (var e = 0u; e < 3u; e = e + 1u) {
        partial[18u * m + 9u + e] = r.a[e];
        partial[18u * m + 12u + e] = r.b[e];
        partial[18u * m + 15u + e] = r.c[e];
    }
}

@compute @workgroup_size(64)
fn marker_loss_gather(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 64u;
    let n = sints[5];
    if (i >= n || step_row[clock[0]] == NO_ROW) {
        return;
    }
    var g = vec3r(0.0);
    for (var s = node_start[i]; s < node_start[i + 1u]; s = s + 1u) {
        let m = node_entry[s] / 3u;
        let k = node_entry[s] % 3u;
        g = g + vec3r(partial[18u * m + 3u * k], partial[18u * m + 3u * k + 1u], partial[18u * m + 3u * k + 2u]);
    }
    for (var f = 0u; f < 3u; f = f + 1u) {
        if (i == sints[1u + f]) {
            for (var m = 0u; m < n_markers(); m = m + 1u) {
                let o = 18u * m + 9u + 3u * f;
                g = g + vec3r(partial[o], partial[o + 1u], partial[o + 2u]);
            }
        }
    }
    for (var e = 0u; e < 3u; e = e + 1u) {
        adj[e * n + i] = adj[e * n + i] + g[e];
    }
}

@compute @workgroup_size(64)
fn force_loss_seed(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 64u;
    let n = sints[5];
    let step = clock[0];
    let fs = factors[step];
    if (i >= n || fs == 0.0) {
        return;
    }
    let f = vec3r(fhist[3u * step], fhist[3u * step + 1u], fhist[3u * step + 2u]);
    let gbar = planted[0] * 2.0 * fparams[6] * fs * force_mask() * (force_camera(f) - force_target());
    let r = vector_to_camera_vjp(f, node_x(sints[1]), node_x(sints[2]), node_x(sints[3]), rest_m0(), camera().rot, gbar);
    for (var k = 0u; k < 3u; k = k + 1u) {
        force_seed[3u * i + k] = force_seed[3u * i + k] + r.p[k];
    }
    var g = vec3r(0.0);
    if (i == sints[1]) {
        g = g + r.a;
    }
    if (i == sints[2]) {
        g = g + r.b;
    }
    if (i == sints[3]) {
        g = g + r.c;
    }
    for (var e = 0u; e < 3u; e = e + 1u) {
        adj[e * n + i] = adj[e * n + i] + g[e];
    }
}
