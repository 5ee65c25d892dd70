// Test harness: each differentiable device function of the substep next to
// its adjoint (vector–Jacobian product), one sample per invocation, so that
// a host test can check every adjoint alone on random inputs against central
// differences of the forward function (tests/suite/kernel_adjoints.rs).
//
// Every entry point reads sample i's input record `inputs[RECORD·i ..]`.
// A `*_fwd` entry writes the function's outputs to `outputs[RECORD·i ..]`;
// a `*_vjp` entry reads the output adjoint from `seeds[RECORD·i ..]` and
// writes the input adjoint to `outputs[RECORD·i ..]` in the slots of the
// input record (slots that carry no derivative, such as a material's kind,
// are written as 0).
//
// | pair | function | adjoint | record |
// |---|---|---|---|
// | stress | `kirchhoff_stress` (mpm/material) | `kirchhoff_stress_vjp` (mpm/material_adj) | `STRESS_*` |
// | plastic | `plastic_projection` | `plastic_projection_vjp` | `STRESS_*` + dt |
// | tool | `tool_op` (mpm/contact) | `tool_op_vjp` (mpm/contact_adj) | `TOOL_*` |
// | coulomb | `coulomb` | `coulomb_vjp` | rel 0..3, n 3..6, μ 6 |

#import mpm/params
#import mpm/material_adj
#import mpm/contact_adj

@group(0) @binding(0) var<storage, read> inputs: array<Real>;
@group(0) @binding(1) var<storage, read> seeds: array<Real>;
@group(0) @binding(2) var<storage, read_write> outputs: array<Real>;
// Bound because the imported modules name them; only `sdf_values` is read
// (by mesh tools).
@group(0) @binding(3) var<storage, read> params: Params;
@group(0) @binding(4) var<storage, read> materials: array<Real>;
@group(0) @binding(5) var<storage, read> tools: array<Real>;
@group(0) @binding(6) var<storage, read> control: array<Real>;
@group(0) @binding(7) var<storage, read> sdf_values: array<f32>;

// Reals per sample record, for every pair.
const RECORD: u32 = 40u;

// Material record: kind, F (column-major), C, aux, then the parameters.
const M_KIND: u32 = 0u;
const M_F: u32 = 1u;
const M_C: u32 = 10u;
const M_AUX: u32 = 19u;
const M_MU: u32 = 20u;
const M_LAMBDA: u32 = 21u;
const M_A: u32 = 22u;
const M_B: u32 = 23u;
const M_CC: u32 = 24u;
const M_D: u32 = 25u;
const M_E: u32 = 26u;
const M_DT: u32 = 27u;

// Tool record: shape, friction, softness, pose and velocity, node and its velocity.
const T_KIND: u32 = 0u;
const T_DIMS: u32 = 1u;
const T_MU: u32 = 4u;
const T_SOFT: u32 = 5u;
const T_POS: u32 = 6u;
const T_Q: u32 = 9u;
const T_LIN: u32 = 13u;
const T_ANG: u32 = 16u;
const T_XW: u32 = 19u;
const T_V: u32 = 22u;
const T_H: u32 = 25u;
const T_SDF_DIMS: u32 = 26u;
const T_SDF_DX: u32 = 29u;
const T_SDF_ORIGIN: u32 = 30u;

fn samples() -> u32 {
    return arrayLength(&inputs) / RECORD;
}

fn in3(o: u32) -> vec3r {
    return vec3r(inputs[o], inputs[o + 1u], inputs[o + 2u]);
}

fn in_mat(o: u32) -> mat3r {
    return mat3r(in3(o), in3(o + 3u), in3(o + 6u));
}

fn seed_mat(o: u32) -> mat3r {
    return mat3r(seeds[o], seeds[o + 1u], seeds[o + 2u],
                 seeds[o + 3u], seeds[o + 4u], seeds[o + 5u],
                 seeds[o + 6u], seeds[o + 7u], seeds[o + 8u]);
}

fn out_clear(o: u32) {
    for (var k = 0u; k < RECORD; k = k + 1u) {
        outputs[o + k] = 0.0;
    }
}

fn out3(o: u32, v: vec3r) {
    outputs[o] = v.x;
    outputs[o + 1u] = v.y;
    outputs[o + 2u] = v.z;
}

fn out_mat(o: u32, m: mat3r) {
    out3(o, m[0]);
    out3(o + 3u, m[1]);
    out3(o + 6u, m[2]);
}

fn record_material(o: u32) -> Material {
    var m: Material;
    m.kind = u32(inputs[o + M_KIND]);
    m.mass = 1.0;
    m.vol = 1.0;
    m.mu = inputs[o + M_MU];
    m.lambda = inputs[o + M_LAMBDA];
    m.a = inputs[o + M_A];
    m.b = inputs[o + M_B];
    m.c = inputs[o + M_CC];
    m.d = inputs[o + M_D];
    m.e = inputs[o + M_E];
    m.density = 1.0;
    return m;
}

fn out_mat_grad(o: u32, g: MatGrad) {
    outputs[o + M_MU] = g.mu;
    outputs[o + M_LAMBDA] = g.lambda;
    outputs[o + M_A] = g.a;
    outputs[o + M_B] = g.b;
    outputs[o + M_CC] = g.c;
}

@compute @workgroup_size(64)
fn stress_fwd(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i >= samples()) {
        return;
    }
    let o = RECORD * i;
    out_clear(o);
    let tau = kirchhoff_stress(record_material(o), in_mat(o + M_F), in_mat(o + M_C), inputs[o + M_AUX]);
    out_mat(o, tau);
}

@compute @workgroup_size(64)
fn stress_vjp(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i >= samples()) {
        return;
    }
    let o = RECORD * i;
    out_clear(o);
    let a = kirchhoff_stress_vjp(record_material(o), in_mat(o + M_F), in_mat(o + M_C), inputs[o + M_AUX], seed_mat(o));
    out_mat(o + M_F, a.f);
    out_mat(o + M_C, a.c);
    outputs[o + M_AUX] = a.aux;
    out_mat_grad(o, a.g);
}

@compute @workgroup_size(64)
fn plastic_fwd(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i >= samples()) {
        return;
    }
    let o = RECORD * i;
    out_clear(o);
    let p = plastic_projection(record_material(o), in_mat(o + M_F), inputs[o + M_AUX], inputs[o + M_DT]);
    out_mat(o, p.f);
    outputs[o + 9u] = p.aux;
}

@compute @workgroup_size(64)
fn plastic_vjp(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i >= samples()) {
        return;
    }
    let o = RECORD * i;
    out_clear(o);
    let a = plastic_projection_vjp(record_material(o), in_mat(o + M_F), inputs[o + M_AUX], inputs[o + M_DT],
                                   seed_mat(o), seeds[o + 9u]);
    out_mat(o + M_F, a.f);
    outputs[o + M_AUX] = a.aux;
    out_mat_grad(o, a.g);
}

fn record_tool(o: u32) -> ToolFrame {
    var f: ToolFrame;
    f.shape.kind = u32(inputs[o + T_KIND]);
    f.shape.dims = in3(o + T_DIMS);
    f.shape.sdf_offset = 0u;
    let sd = in3(o + T_SDF_DIMS);
    f.shape.sdf_dims = vec3<u32>(u32(sd.x), u32(sd.y), u32(sd.z));
    f.shape.sdf_dx = inputs[o + T_SDF_DX];
    f.shape.sdf_origin = in3(o + T_SDF_ORIGIN);
    f.mu = inputs[o + T_MU];
    f.soft = inputs[o + T_SOFT];
    f.pos = in3(o + T_POS);
    f.q = vec4r(in3(o + T_Q), inputs[o + T_Q + 3u]);
    f.lin = in3(o + T_LIN);
    f.ang = in3(o + T_ANG);
    f.h = inputs[o + T_H];
    return f;
}

@compute @workgroup_size(64)
fn tool_fwd(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i >= samples()) {
        return;
    }
    let o = RECORD * i;
    out_clear(o);
    out3(o, tool_op(record_tool(o), in3(o + T_XW), in3(o + T_V)));
}

@compute @workgroup_size(64)
fn tool_vjp(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i >= samples()) {
        return;
    }
    let o = RECORD * i;
    out_clear(o);
    let gbar = vec3r(seeds[o], seeds[o + 1u], seeds[o + 2u]);
    let a = tool_op_vjp(record_tool(o), in3(o + T_XW), in3(o + T_V), gbar);
    outputs[o + T_MU] = a.mu;
    outputs[o + T_SOFT] = a.soft;
    out3(o + T_POS, a.pos);
    out3(o + T_Q, a.q.xyz);
    outputs[o + T_Q + 3u] = a.q.w;
    out3(o + T_LIN, a.lin);
    out3(o + T_ANG, a.ang);
    out3(o + T_V, a.v);
}

@compute @workgroup_size(64)
fn coulomb_fwd(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i >= samples()) {
        return;
    }
    let o = RECORD * i;
    out_clear(o);
    out3(o, coulomb(in3(o), in3(o + 3u), inputs[o + 6u]));
}

@compute @workgroup_size(64)
fn coulomb_vjp_check(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i >= samples()) {
        return;
    }
    let o = RECORD * i;
    out_clear(o);
    let a = coulomb_vjp(in3(o), in3(o + 3u), inputs[o + 6u], vec3r(seeds[o], seeds[o + 1u], seeds[o + 2u]));
    out3(o, a.rel);
    out3(o + 3u, a.n);
    outputs[o + 6u] = a.mu;
}
