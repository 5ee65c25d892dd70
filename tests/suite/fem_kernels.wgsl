// Test harness: the tactile and FEM–MPM device functions next to their
// adjoints, one sample per invocation (tests/suite/fem_kernels.rs checks
// each adjoint alone against central differences, as kernel_adjoints.rs
// does for MPM's).
//
// | pair | function | adjoint | record (inputs) |
// |---|---|---|---|
// | camera | `project` (fem/camera) | `project_vjp` | model 0, X 1..4, f 4..6, c 6..8 |
// | rest | `to_rest` (fem/camera) | `to_rest_vjp` | p 0..3, a 3..6, b 6..9, c 9..12, a₀ 12..15, M₀ 15..24 |
// | pair | `pair_force` (fem/matter_law) | `pair_vjp` | d 0..3, u 3..6, m 6..9, σ 12 (k, c, μ, ε, R, planted in `mreals`); output f 0..3; adjoint d̄ 0..3, ū 3..6, m̄ 6..9, (k, c, μ) 9..12 |

#import fem/camera
#import fem/matter_law

@group(0) @binding(40) var<storage, read> inputs: array<Real>;
@group(0) @binding(41) var<storage, read> seeds: array<Real>;
@group(0) @binding(42) var<storage, read_write> outputs: array<Real>;

const RECORD: u32 = 32u;

fn in3(i: u32, o: u32) -> vec3r {
    let b = RECORD * i + o;
    return vec3r(inputs[b], inputs[b + 1u], inputs[b + 2u]);
}
fn seed3(i: u32) -> vec3r {
    let b = RECORD * i;
    return vec3r(seeds[b], seeds[b + 1u], seeds[b + 2u]);
}
fn out3(i: u32, o: u32, v: vec3r) {
    let b = RECORD * i + o;
    outputs[b] = v.x;
    outputs[b + 1u] = v.y;
    outputs[b + 2u] = v.z;
}
fn sample_camera(i: u32) -> Camera {
    let b = RECORD * i;
    var cam: Camera;
    cam.rot = mat3r(1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0);
    cam.center = vec3r(0.0);
    cam.f = vec2r(inputs[b + 4u], inputs[b + 5u]);
    cam.c = vec2r(inputs[b + 6u], inputs[b + 7u]);
    cam.model = u32(inputs[b]);
    return cam;
}
fn sample_m0(i: u32) -> mat3r {
    return mat3r(in3(i, 15u), in3(i, 18u), in3(i, 21u));
}

@compute @workgroup_size(64)
fn camera_fwd(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    let uv = project(sample_camera(i), in3(i, 1u));
    outputs[RECORD * i] = uv.x;
    outputs[RECORD * i + 1u] = uv.y;
}

@compute @workgroup_size(64)
fn camera_vjp(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    let g = vec2r(seeds[RECORD * i], seeds[RECORD * i + 1u]);
    out3(i, 1u, project_vjp(sample_camera(i), in3(i, 1u), g));
}

@compute @workgroup_size(64)
fn rest_fwd(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    out3(i, 0u, to_rest(in3(i, 0u), in3(i, 3u), in3(i, 6u), in3(i, 9u), in3(i, 12u), sample_m0(i)));
}

@compute @workgroup_size(64)
fn rest_vjp(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    let r = to_rest_vjp(in3(i, 0u), in3(i, 3u), in3(i, 6u), in3(i, 9u), sample_m0(i), seed3(i));
    out3(i, 0u, r.p);
    out3(i, 3u, r.a);
    out3(i, 6u, r.b);
    out3(i, 9u, r.c);
}

@compute @workgroup_size(64)
fn pair_fwd(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    out3(i, 0u, pair_force(in3(i, 0u), in3(i, 3u), inputs[RECORD * i + 12u], in3(i, 6u)));
}

@compute @workgroup_size(64)
fn pair_vjp_entry(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    let a = pair_vjp(in3(i, 0u), in3(i, 3u), inputs[RECORD * i + 12u], in3(i, 6u), seed3(i));
    out3(i, 0u, a.d);
    out3(i, 3u, a.u);
    out3(i, 6u, a.m);
    out3(i, 9u, a.params);
}

// The matter contact's surface normals (fem/matter_law), one FEM node per
// invocation: positions in `fx` (binding 5), the boundary triangles and
// their CSR at 24–26. `normal_fwd` writes n̂_j = N_j/|N_j| to outputs
// (RECORD-strided); `normal_seed` writes N̄_j = (I − n̂n̂ᵀ) ḡ_j/|N_j| into
// `nbar` for the seeds ḡ_j; `normal_vjp` then writes x̄_j. (Interior
// nodes, N_j = 0, have no normal: 0.)

@compute @workgroup_size(64)
fn normal_fwd(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x;
    if (j >= n_fem()) {
        return;
    }
    let nsum = node_area_vector(j);
    if (length(nsum) > 0.0) {
        out3(j, 0u, nsum / length(nsum));
    }
}

@compute @workgroup_size(64)
fn normal_seed(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x;
    if (j >= n_fem()) {
        return;
    }
    let nsum = node_area_vector(j);
    let len = length(nsum);
    var nb = vec3r(0.0);
    if (len > 0.0) {
        let n = nsum / len;
        let g = seed3(j);
        nb = (g - dot(g, n) * n) / len;
    }
    nbar[3u * j] = nb.x;
    nbar[3u * j + 1u] = nb.y;
    nbar[3u * j + 2u] = nb.z;
}

@compute @workgroup_size(64)
fn normal_vjp(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x;
    if (j >= n_fem()) {
        return;
    }
    out3(j, 0u, normal_pullback(j));
}
