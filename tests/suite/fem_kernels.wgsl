// Test harness: the tactile and FEM–MPM device functions next to their
// adjoints, one sample per invocation (tests/suite/fem_kernels.rs checks
// each adjoint alone against central differences, as kernel_adjoints.rs
// does for MPM's).
//
// | pair | function | adjoint | record (inputs) |
// |---|---|---|---|
// | camera | `project` (fem/camera) | `project_vjp` | model 0, X 1..4, f 4..6, c 6..8 |
// | rest | `to_rest` (fem/camera) | `to_rest_vjp` | p 0..3, a 3..6, b 6..9, c 9..12, a₀ 12..15, M₀ 15..24 |
// | axes | `vector_to_camera` (fem/camera) | `vector_to_camera_vjp` (its seed scaled by `mreals[5]`: 1, or a planted error) | f 0..3, a 3..6, b 6..9, c 9..12, M₀ 15..24, R from the rotation vector at 24..27 |
// | tri | `tri_force` (fem/matter_law) | `tri_vjp` | x_p 0, x_a 3, x_b 6, x_c 9, v_p 12, v_a 15, v_b 18, v_c 21, σ 24 (k, c, μ, ε, R, planted in `mreals`); outputs f 0..3 and the nodes' −β_i f 3..12; adjoint in the inputs' slots, (k, c, μ) at 25 |

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

// The rotation exp([ω]×) of the rotation vector ω at slots 24..27 (Rodrigues).
fn sample_rot(i: u32) -> mat3r {
    let w = in3(i, 24u);
    let th = length(w);
    let k = w / th;
    let kx = mat3r(0.0, k.z, -k.y, -k.z, 0.0, k.x, k.y, -k.x, 0.0);
    let id = mat3r(1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0);
    return id + sin(th) * kx + (1.0 - cos(th)) * (kx * kx);
}

@compute @workgroup_size(64)
fn axes_fwd(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    out3(i, 0u, vector_to_camera(in3(i, 0u), in3(i, 3u), in3(i, 6u), in3(i, 9u), sample_m0(i), sample_rot(i)));
}

@compute @workgroup_size(64)
fn axes_vjp(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    let r = vector_to_camera_vjp(in3(i, 0u), in3(i, 3u), in3(i, 6u), in3(i, 9u), sample_m0(i), sample_rot(i), m_planted() * seed3(i));
    out3(i, 0u, r.p);
    out3(i, 3u, r.a);
    out3(i, 6u, r.b);
    out3(i, 9u, r.c);
}

fn sample_tri(i: u32) -> TriPair {
    var q: TriPair;
    q.xp = in3(i, 0u);
    q.xa = in3(i, 3u);
    q.xb = in3(i, 6u);
    q.xc = in3(i, 9u);
    q.vp = in3(i, 12u);
    q.va = in3(i, 15u);
    q.vb = in3(i, 18u);
    q.vc = in3(i, 21u);
    q.sigma = inputs[RECORD * i + 24u];
    return q;
}

@compute @workgroup_size(64)
fn tri_fwd(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    let r = tri_force(sample_tri(i));
    out3(i, 0u, r.f);
    out3(i, 3u, -r.beta.x * r.f);
    out3(i, 6u, -r.beta.y * r.f);
    out3(i, 9u, -r.beta.z * r.f);
}

@compute @workgroup_size(64)
fn tri_vjp_entry(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    let b = RECORD * i;
    let g = vec3r(seeds[b], seeds[b + 1u], seeds[b + 2u]);
    let ga = vec3r(seeds[b + 3u], seeds[b + 4u], seeds[b + 5u]);
    let gb = vec3r(seeds[b + 6u], seeds[b + 7u], seeds[b + 8u]);
    let gc = vec3r(seeds[b + 9u], seeds[b + 10u], seeds[b + 11u]);
    let a = tri_vjp(sample_tri(i), g, ga, gb, gc);
    out3(i, 0u, a.xp);
    out3(i, 3u, a.xa);
    out3(i, 6u, a.xb);
    out3(i, 9u, a.xc);
    out3(i, 12u, a.vp);
    out3(i, 15u, a.va);
    out3(i, 18u, a.vb);
    out3(i, 21u, a.vc);
    out3(i, 25u, a.params);
}
