// Kinematic tools shared by every solver: each tool's shape record, its
// pose and velocity at a substep (the Control), and contact as a pure
// function of a point's velocity: Coulomb friction against the tool's
// surface velocity, with a soft falloff of width `softness` outside it.
// Free of any solver's parameters: the importer binds `tools` (16 Reals per
// tool, packed by `ductile_sim::tools`), `control` (16 Reals per substep and
// tool: position, quaternion, linear and angular velocity) and `sdf_values`
// (mesh tools' signed distances, f32), and passes the tool count, control
// substeps and analytic normal step. Adjoints: `common/tools_adj.wgsl`.

#import common/sdf

// Reals per tool record; the record's friction and softness entries
// (`ductile_sim::tools`, whose constants a test compares with these).
const TOOL_RECORD: u32 = 16u;
const TOOL_FRICTION: u32 = 4u;
const TOOL_SOFTNESS: u32 = 5u;
// Reals per control record (per substep and tool: position 0–2,
// quaternion 4–7, linear velocity 8–10, angular velocity 12–14;
// `ductile_sim::control`).
const CONTROL_RECORD: u32 = 16u;

fn load_tool_shape(t: u32) -> ToolShape {
    let o = TOOL_RECORD * t;
    var s: ToolShape;
    s.kind = u32(tools[o]);
    s.dims = vec3r(tools[o + 1u], tools[o + 2u], tools[o + 3u]);
    s.sdf_offset = u32(tools[o + 6u]);
    s.sdf_dims = vec3<u32>(u32(tools[o + 7u]), u32(tools[o + 8u]), u32(tools[o + 9u]));
    s.sdf_dx = tools[o + 10u];
    s.sdf_origin = vec3r(tools[o + 11u], tools[o + 12u], tools[o + 13u]);
    return s;
}

// Coulomb projection of relative velocity `rel` against surface normal `n`
// with friction `mu`: removes the approaching normal part and reduces the
// tangential part by μ times it. Separating velocities are returned unchanged.
fn coulomb(rel: vec3r, n: vec3r, mu: Real) -> vec3r {
    let vn = dot(rel, n);
    if (vn >= 0.0) {
        return rel;
    }
    let vt = rel - vn * n;
    let lt = length(vt);
    let scale = max(0.0, 1.0 + mu * vn / max(lt, 1e-30));
    return select(vec3r(0.0), vt * scale, lt > 1e-30);
}

// Control slot of tool t at substep `step`, for `num_tools` tools whose
// controls cover `control_steps` substeps (later steps hold the last).
fn tool_control_offset(step: u32, t: u32, num_tools: u32, control_steps: u32) -> u32 {
    let cstep = min(step, control_steps - 1u);
    return CONTROL_RECORD * (cstep * num_tools + t);
}

// Everything tool t's contact at world point xw [m] depends on.
struct ToolFrame {
    shape: ToolShape,
    mu: Real,
    soft: Real,
    pos: vec3r,
    q: vec4r,
    lin: vec3r,
    ang: vec3r,
    // Finite-difference step of the normal [m].
    h: Real,
}

// Tool t's frame at substep `step`, for `num_tools` tools whose controls
// cover `control_steps` substeps; `h_analytic` [m] is the normal's
// finite-difference step for analytic shapes (meshes use half their SDF cell).
fn tool_frame(t: u32, step: u32, num_tools: u32, control_steps: u32, h_analytic: Real) -> ToolFrame {
    var f: ToolFrame;
    f.shape = load_tool_shape(t);
    f.mu = tools[TOOL_RECORD * t + TOOL_FRICTION];
    f.soft = tools[TOOL_RECORD * t + TOOL_SOFTNESS];
    let co = tool_control_offset(step, t, num_tools, control_steps);
    f.pos = vec3r(control[co], control[co + 1u], control[co + 2u]);
    f.q = vec4r(control[co + 4u], control[co + 5u], control[co + 6u], control[co + 7u]);
    f.lin = vec3r(control[co + 8u], control[co + 9u], control[co + 10u]);
    f.ang = vec3r(control[co + 12u], control[co + 13u], control[co + 14u]);
    f.h = select(h_analytic, 0.5 * f.shape.sdf_dx, f.shape.kind == SHAPE_MESH);
    return f;
}

fn tool_in_contact(phi: Real, soft: Real) -> bool {
    return phi < soft || phi <= 0.0;
}

// Velocity of a node at xw after tool contact (v unchanged out of contact).
fn tool_op(tf: ToolFrame, xw: vec3r, v: vec3r) -> vec3r {
    let pl = quat_rotate(quat_conj(tf.q), xw - tf.pos);
    let phi = tool_sdf(pl, tf.shape);
    if (!tool_in_contact(phi, tf.soft)) {
        return v;
    }
    // The normal's length s is 1 except near a medial surface inside the
    // tool, where it falls to 0: there the node moves with the tool (whose
    // inside it is deep in), and the unit direction's flip has no effect.
    // Weighting by s² rather than s keeps the update differentiable where
    // s = 0 (a node exactly on a plate's mid-plane or at a sphere's centre).
    let n = quat_rotate(tf.q, tool_normal(pl, tf.shape, tf.h));
    let s = length(n);
    let vt = tf.lin + cross(tf.ang, xw - tf.pos);
    let projected = vt + s * s * coulomb(v - vt, n / max(s, 1e-30), tf.mu);
    let ratio = select(Real(1.0), 1.0 - phi / max(tf.soft, 1e-30), phi > 0.0);
    let weight = select(ratio * ratio, 1.0, phi <= 0.0);
    return v + weight * (projected - v);
}
