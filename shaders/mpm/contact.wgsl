// Boundary conditions of the grid update as pure functions of a node's
// velocity: domain walls (separate with Coulomb friction, slip, sticky) and
// kinematic signed-distance tools with Coulomb friction and a soft falloff.
// The importer binds `params`, `tools` (16 Reals per tool, see
// `ductile_sim::mpm::model`), `control` (16 Reals per step and tool:
// position, quaternion, linear and angular velocity) and `sdf_values`.
// `mpm/grid_update.wgsl` applies them; `mpm/contact_adj.wgsl` differentiates them.

#import common/sdf

fn load_tool_shape(t: u32) -> ToolShape {
    let o = 16u * t;
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

// Number of wall operations per node (lower and upper wall of each axis).
const WALL_OPS: u32 = 6u;

// Wall operation k (axis k/2; lower wall for even k, upper for odd k) on a
// node's velocity; returns v unchanged where the node is not in that wall layer.
// Inward normal of wall operation k (axis k/2; lower wall for even k, upper
// for odd k) in w = 1, or w = 0 where the node is not in that wall layer.
fn wall_normal(node: vec3<u32>, k: u32) -> vec4r {
    let axis = k / 2u;
    let upper = (k & 1u) == 1u;
    let b = p_boundary_cells();
    let inside = select(node[axis] < b, node[axis] > p_cells()[axis] - b, upper);
    var n = vec4r(0.0);
    n[axis] = select(Real(1.0), Real(-1.0), upper);
    n.w = select(Real(0.0), Real(1.0), inside);
    return n;
}

// Wall operation k on a node's velocity; v unchanged outside the wall layer.
fn wall_op(node: vec3<u32>, k: u32, v: vec3r) -> vec3r {
    let wn = wall_normal(node, k);
    if (wn.w == 0.0) {
        return v;
    }
    let n = wn.xyz;
    let kind = p_boundary_kind();
    if (kind == 2u) {
        return vec3r(0.0);
    }
    if (kind == 1u) {
        return v - dot(v, n) * n;
    }
    return coulomb(v, n, p_wall_friction());
}

// Control slot of tool t at substep `step` (steps past the uploaded controls hold the last).
fn control_offset(step: u32, t: u32) -> u32 {
    let cstep = min(step, p_control_steps() - 1u);
    return 16u * (cstep * p_num_tools() + t);
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

fn load_tool_frame(t: u32, step: u32) -> ToolFrame {
    var f: ToolFrame;
    f.shape = load_tool_shape(t);
    f.mu = tools[16u * t + 4u];
    f.soft = tools[16u * t + 5u];
    let co = control_offset(step, t);
    f.pos = vec3r(control[co], control[co + 1u], control[co + 2u]);
    f.q = vec4r(control[co + 4u], control[co + 5u], control[co + 6u], control[co + 7u]);
    f.lin = vec3r(control[co + 8u], control[co + 9u], control[co + 10u]);
    f.ang = vec3r(control[co + 12u], control[co + 13u], control[co + 14u]);
    f.h = select(0.25 * p_dx(), 0.5 * f.shape.sdf_dx, f.shape.kind == SHAPE_MESH);
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

// World position of a node [m].
fn node_position(node: vec3<u32>) -> vec3r {
    return p_origin() + vec3r(node) * p_dx();
}
