// A tactile sensor on an FEM pad (`ductile_sim::fem::sensor`), forward:
// marker pixels through the camera (`fem/camera.wgsl`) and the marker-track
// loss. A marker is a point of a boundary triangle (barycentric weights
// fixed at rest), seen in the sensor frame of three base nodes.
//   `sensor_markers` (per marker): (u, v) [px] into `uv`;
//   `marker_loss_eval` (one workgroup): at a substep with a target row,
//     adds w Σ_m |(u, v)_m − target_m|² / markers [px²] to the loss value;
//   `force_loss_eval` (one workgroup): at a substep with a weight factor
//     f_s, the net contact force of the substep that ended there,
//     F = Σ_i f_c,i over the nodes, in the camera's axes
//     F_cam = R M₀⁻ᵀ Mᵀ F (M, M₀ the frame of the base nodes now and at
//     rest, R the camera's rotation: as the host readout writes it), adds
//     w f_s |S (F_cam − target)|² [N²] (S the axis mask) to the loss value
//     and keeps F [N] per substep for the seed.

#import fem/camera

@group(0) @binding(0) var<storage, read> sints: array<u32>;   // markers, a, b, c, model, nodes
@group(0) @binding(1) var<storage, read> sreals: array<Real>; // R rows (9), c₀, f, c, a₀, M₀ (columns), weight
@group(0) @binding(2) var<storage, read> x: array<Real>;
@group(0) @binding(3) var<storage, read> mtri: array<u32>;
@group(0) @binding(4) var<storage, read> mbary: array<Real>;
@group(0) @binding(5) var<storage, read_write> uv: array<Real>;
@group(0) @binding(6) var<storage, read> targets: array<Real>;
@group(0) @binding(7) var<storage, read> step_row: array<u32>;
@group(0) @binding(8) var<storage, read> clock: array<u32>;
@group(0) @binding(9) var<storage, read_write> lvalue: array<Real>;

// The force loss: each node's contact force in the last substep, its
// (target (3), axis mask (3), weight), the weight factor per substep, and
// F per substep.
@group(0) @binding(15) var<storage, read> contact_force: array<Real>;
@group(0) @binding(16) var<storage, read> fparams: array<Real>;
@group(0) @binding(17) var<storage, read> factors: array<Real>;
@group(0) @binding(18) var<storage, read_write> fhist: array<Real>;

const NO_ROW: u32 = 0xffffffffu;

fn n_markers() -> u32 { return sints[0]; }
fn node_x(i: u32) -> vec3r { return vec3r(x[3u * i], x[3u * i + 1u], x[3u * i + 2u]); }
fn sv3(o: u32) -> vec3r { return vec3r(sreals[o], sreals[o + 1u], sreals[o + 2u]); }
fn loss_weight() -> Real { return sreals[28]; }

fn camera() -> Camera {
    var cam: Camera;
    cam.rot = transpose(mat3r(sv3(0u), sv3(3u), sv3(6u)));
    cam.center = sv3(9u);
    cam.f = vec2r(sreals[12], sreals[13]);
    cam.c = vec2r(sreals[14], sreals[15]);
    cam.model = sints[4];
    return cam;
}
fn rest_a0() -> vec3r { return sv3(16u); }
fn rest_m0() -> mat3r { return mat3r(sv3(19u), sv3(22u), sv3(25u)); }

// Marker m's position [m] in the world now.
fn marker_world(m: u32) -> vec3r {
    var p = vec3r(0.0);
    for (var k = 0u; k < 3u; k = k + 1u) {
        p = p + mbary[3u * m + k] * node_x(mtri[3u * m + k]);
    }
    return p;
}

// Marker m's position in camera coordinates [m].
fn marker_camera(m: u32) -> vec3r {
    let q = to_rest(marker_world(m), node_x(sints[1]), node_x(sints[2]), node_x(sints[3]), rest_a0(), rest_m0());
    let cam = camera();
    return cam.rot * (q - cam.center);
}

fn marker_uv(m: u32) -> vec2r {
    return project(camera(), marker_camera(m));
}

@compute @workgroup_size(64)
fn sensor_markers(@builtin(global_invocation_id) gid: vec3<u32>) {
    let m = gid.x;
    if (m >= n_markers()) {
        return;
    }
    let p = marker_uv(m);
    uv[2u * m] = p.x;
    uv[2u * m + 1u] = p.y;
}

var<workgroup> red: array<Real, 64>;

// Σ over the workgroup's 64 invocations of `v` (every invocation gets it).
fn workgroup_sum(li: u32, v: Real) -> Real {
    red[li] = v;
    workgroupBarrier();
    for (var w = 32u; w > 0u; w = w >> 1u) {
        if (li < w) {
            red[li] = red[li] + red[li + w];
        }
        workgroupBarrier();
    }
    let total = red[0];
    workgroupBarrier();
    return total;
}

@compute @workgroup_size(64)
fn marker_loss_eval(@builtin(local_invocation_index) li: u32) {
    let row = step_row[clock[0]];
    if (row == NO_ROW) {
        return;
    }
    let nm = n_markers();
    var s: Real = 0.0;
    for (var m = li; m < nm; m = m + 64u) {
        let d = marker_uv(m) - vec2r(targets[2u * (row * nm + m)], targets[2u * (row * nm + m) + 1u]);
        s = s + dot(d, d);
    }
    let total = workgroup_sum(li, s);
    if (li == 0u) {
        lvalue[0] = lvalue[0] + loss_weight() * total / Real(nm);
    }
}

// A world vector now (a force) in camera axes (`vector_to_camera`).
fn force_camera(f: vec3r) -> vec3r {
    return vector_to_camera(f, node_x(sints[1]), node_x(sints[2]), node_x(sints[3]), rest_m0(), camera().rot);
}

fn force_target() -> vec3r { return sv3_of_f(0u); }
fn force_mask() -> vec3r { return sv3_of_f(3u); }
fn sv3_of_f(o: u32) -> vec3r { return vec3r(fparams[o], fparams[o + 1u], fparams[o + 2u]); }

@compute @workgroup_size(64)
fn force_loss_eval(@builtin(local_invocation_index) li: u32) {
    let step = clock[0];
    let fs = factors[step];
    if (fs == 0.0) {
        return;
    }
    let n = sints[5];
    var f = vec3r(0.0);
    for (var k = 0u; k < 3u; k = k + 1u) {
        var s: Real = 0.0;
        for (var i = li; i < n; i = i + 64u) {
            s = s + contact_force[3u * i + k];
        }
        f[k] = workgroup_sum(li, s);
    }
    if (li == 0u) {
        let r = force_mask() * (force_camera(f) - force_target());
        lvalue[0] = lvalue[0] + fparams[6] * fs * dot(r, r);
        for (var k = 0u; k < 3u; k = k + 1u) {
            fhist[3u * step + k] = f[k];
        }
    }
}
