// Grid update of one node after P2G (`momentum` includes the impulse dt·f of
// the couplings' external force): momentum to velocity, gravity, then the
// boundary conditions of `mpm/contact.wgsl` (walls, then each tool), summing
// each tool's contact force. The importer binds `params`, `tools`,
// `control`, `sdf_values` and `accum_buf` (per-tool contact force, 4 f32 each).

#import mpm/contact
#import common/atomics

fn grid_update_node(node: vec3<u32>, mass: Real, momentum: vec3r, step: u32) -> vec3r {
    if (mass <= 0.0) {
        return vec3r(0.0);
    }
    let dt = p_dt();
    var v = momentum / mass + dt * p_gravity();
    for (var k = 0u; k < WALL_OPS; k = k + 1u) {
        v = wall_op(node, k, v);
    }
    let xw = node_position(node);
    for (var t = 0u; t < p_num_tools(); t = t + 1u) {
        let vnew = tool_op(load_tool_frame(t, step), xw, v);
        if (any(vnew != v)) {
            // Force on the tool [N] = −(impulse on the matter) / dt.
            let f = -mass * (vnew - v) / dt;
            accum_add(4u * t, f32(f.x));
            accum_add(4u * t + 1u, f32(f.y));
            accum_add(4u * t + 2u, f32(f.z));
        }
        v = vnew;
    }
    return v;
}
