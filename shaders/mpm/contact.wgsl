// Boundary conditions of MPM's grid update as pure functions of a node's
// velocity: domain walls (separate with Coulomb friction, slip, sticky), and
// the shared kinematic tools of `common/tools.wgsl` at MPM's parameters.
// The importer binds `params`, `tools`, `control` and `sdf_values`.
// `mpm/grid_update.wgsl` applies them; `mpm/contact_adj.wgsl` differentiates them.

#import common/tools

// Number of wall operations per node (lower and upper wall of each axis).
const WALL_OPS: u32 = 6u;

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
    return tool_control_offset(step, t, p_num_tools(), p_control_steps());
}

// Tool t's frame at substep `step`; analytic shapes' normals by a step of dx/4.
fn load_tool_frame(t: u32, step: u32) -> ToolFrame {
    return tool_frame(t, step, p_num_tools(), p_control_steps(), 0.25 * p_dx());
}

// World position of a node [m].
fn node_position(node: vec3<u32>) -> vec3r {
    return p_origin() + vec3r(node) * p_dx();
}
