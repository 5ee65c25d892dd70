// Adjoint of the grid side of a substep, as two node kernels (4³ node blocks,
// dispatched indirectly over the reached blocks, as `mpm/p2g.wgsl`) and the
// tool reductions:
//   `g2p_grid_adj`: the grid side of G2P's adjoint. Gathers
//     ∂L/∂v_i = Σ_p w_ip (∂L/∂v_p + ∂L/∂B_p·dpos) from the payload written
//     by `mpm/g2p_adj.wgsl` into `grid_vbar`.
//   `grid_update_adj`: the adjoint of the grid update (`mpm/grid_update.wgsl`).
//     Pulls `grid_vbar` back through the update (tools in reverse, then walls,
//     gravity and v = (P + dt·f_ext)/m), recomputed from `grid_raw` (momentum,
//     mass) and `ext_force` (the couplings' force f_ext [N]), and writes
//     (∂L/∂P_i, ∂L/∂m_i) to `grid_bar` for `mpm/p2g_adj.wgsl` and
//     ∂L/∂f_ext = dt·∂L/∂P_i to `ext_force_bar` for the couplings' adjoints.
// `tool_grad_blocks` sums each tool's adjoints over each reached node block (16
// Reals per tool, laid out as a Control record: position 0..3, friction 3,
// quaternion 4..8, linear velocity 8..11, softness 11, angular velocity
// 12..15) into `tool_partial`, and `tool_grad_reduce` adds the block sums of substep `clock[0]` into
// `control_grad` (the layout of the Control buffer) and `tool_param_grad`
// (friction, softness per tool), in a fixed order.

#import common/index
#import mpm/params
#import mpm/gather
#import mpm/contact_adj
#import mpm/active_blocks

@group(0) @binding(0) var<storage, read> params: Params;
@group(0) @binding(1) var<storage, read> cell_start: array<u32>;
@group(0) @binding(3) var<storage, read> payload: array<Real>;
@group(0) @binding(4) var<storage, read> tools: array<Real>;
@group(0) @binding(5) var<storage, read> control: array<Real>;
@group(0) @binding(6) var<storage, read> sdf_values: array<f32>;
@group(0) @binding(7) var<storage, read> clock: array<u32>;
@group(0) @binding(8) var<storage, read> grid_raw: array<vec4r>;
@group(0) @binding(9) var<storage, read_write> grid_bar: array<vec4r>;
@group(0) @binding(10) var<storage, read_write> tool_partial: array<Real>;
@group(0) @binding(11) var<storage, read_write> control_grad: array<Real>;
@group(0) @binding(12) var<storage, read_write> tool_param_grad: array<Real>;
@group(0) @binding(13) var<storage, read_write> grid_vbar: array<vec4r>;
@group(0) @binding(14) var<storage, read> active_blocks: array<u32>;
@group(0) @binding(15) var<storage, read> ext_force: array<vec4r>;
@group(0) @binding(16) var<storage, read_write> ext_force_bar: array<vec4r>;

// Tools a differentiable scene may hold (the host refuses more).
const MAX_ADJ_TOOLS: u32 = 8u;
const TOOL_GRAD: u32 = 16u;

var<workgroup> red: array<Real, 64>;

// Node i's momentum after the couplings' impulse, and its mass: what the
// forward update turned into a velocity.
fn raw_with_ext(i: u32) -> vec4r {
    let raw = grid_raw[i];
    if (!p_has_external_force()) {
        return raw;
    }
    return vec4r(raw.xyz + p_dt() * ext_force[i].xyz, raw.w);
}

// Node velocity before operation k (walls 0..5, then tools) of the update.
fn velocity_before(node: vec3<u32>, xw: vec3r, v0: vec3r, k: u32, step: u32) -> vec3r {
    var v = v0;
    for (var j = 0u; j < k; j = j + 1u) {
        if (j < WALL_OPS) {
            v = wall_op(node, j, v);
        } else {
            v = tool_op(load_tool_frame(j - WALL_OPS, step), xw, v);
        }
    }
    return v;
}

// Adjoint of one node's update, from ∂L/∂v_out = vbar back to
// (∂L/∂P, ∂L/∂m). When `capture` < number of tools, also returns that tool's
// adjoints (16 Reals in `captured`, Control-record layout).
struct NodeAdj {
    out: vec4r,
    captured: array<Real, 16>,
}

fn node_adjoint(node: vec3<u32>, raw: vec4r, vbar: vec3r, step: u32, nt: u32, capture: u32) -> NodeAdj {
    var r: NodeAdj;
    r.out = vec4r(0.0);
    for (var i = 0u; i < 16u; i = i + 1u) {
        r.captured[i] = 0.0;
    }
    let mass = raw.w;
    if (!(mass > 0.0)) {
        return r;
    }
    let v0 = raw.xyz / mass + p_dt() * p_gravity();
    let xw = node_position(node);
    var g = vbar;
    let nops = WALL_OPS + nt;
    for (var kk = 0u; kk < nops; kk = kk + 1u) {
        let k = nops - 1u - kk;
        let vin = velocity_before(node, xw, v0, k, step);
        if (k >= WALL_OPS) {
            let t = k - WALL_OPS;
            let ta = tool_op_vjp(load_tool_frame(t, step), xw, vin, g);
            g = ta.v;
            if (t == capture) {
                r.captured[0] = ta.pos.x;
                r.captured[1] = ta.pos.y;
                r.captured[2] = ta.pos.z;
                r.captured[3] = ta.mu;
                r.captured[4] = ta.q.x;
                r.captured[5] = ta.q.y;
                r.captured[6] = ta.q.z;
                r.captured[7] = ta.q.w;
                r.captured[8] = ta.lin.x;
                r.captured[9] = ta.lin.y;
                r.captured[10] = ta.lin.z;
                r.captured[11] = ta.soft;
                r.captured[12] = ta.ang.x;
                r.captured[13] = ta.ang.y;
                r.captured[14] = ta.ang.z;
            }
        } else {
            g = wall_op_vjp(node, k, vin, g);
        }
    }
    // v0 = P/m + dt·g: ∂L/∂P = g/m, ∂L/∂m = −g·P/m² (as −(g/m)·(P/m): m² underflows in f32
    // at the stencil's fringe, where m can be 1e-23 kg).
    let inv = 1.0 / mass;
    let pbar = g * inv;
    r.out = vec4r(pbar, -dot(pbar, raw.xyz * inv));
    return r;
}

@compute @workgroup_size(64)
fn g2p_grid_adj(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let blk = listed_block(wid, nwg);
    if (blk == NO_BLOCK) {
        return;
    }
    let node = block_node(blk, li);
    if (any(node >= p_nodes())) {
        return;
    }
    grid_vbar[node_index(node)] = vec4r(gather_node(node).xyz, 0.0);
}

@compute @workgroup_size(64)
fn grid_update_adj(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let blk = listed_block(wid, nwg);
    if (blk == NO_BLOCK) {
        return;
    }
    let node = block_node(blk, li);
    if (any(node >= p_nodes())) {
        return;
    }
    let i = node_index(node);
    let out = node_adjoint(node, raw_with_ext(i), grid_vbar[i].xyz, clock[0], min(p_num_tools(), MAX_ADJ_TOOLS), MAX_ADJ_TOOLS).out;
    grid_bar[i] = out;
    if (p_has_external_force()) {
        ext_force_bar[i] = vec4r(p_dt() * out.xyz, 0.0);
    }
}

// Per (reached node block, tool), the sum of the tool's adjoints over the
// block's nodes, from the ∂L/∂v_i that `g2p_grid_adj` stored. Dispatched
// indirectly, one workgroup per listed block and one invocation per tool,
// each adding its 64 nodes in a fixed order: no workgroup barriers (they turn
// every invocation into a coroutine on CPU drivers such as lavapipe, where a
// barrier-based tree reduction here cost twice the rest of the grid adjoint).
@compute @workgroup_size(8)
fn tool_grad_blocks(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let nt = min(p_num_tools(), MAX_ADJ_TOOLS);
    let blk = listed_block(wid, nwg);
    if (blk == NO_BLOCK || t >= nt) {
        return;
    }
    var sum: array<Real, 16>;
    for (var c = 0u; c < TOOL_GRAD; c = c + 1u) {
        sum[c] = 0.0;
    }
    for (var li = 0u; li < 64u; li = li + 1u) {
        let node = block_node(blk, li);
        if (all(node < p_nodes())) {
            let i = node_index(node);
            let cap = node_adjoint(node, raw_with_ext(i), grid_vbar[i].xyz, clock[0], nt, t).captured;
            for (var c = 0u; c < TOOL_GRAD; c = c + 1u) {
                sum[c] = sum[c] + cap[c];
            }
        }
    }
    let id = blk * nt + t;
    for (var c = 0u; c < TOOL_GRAD; c = c + 1u) {
        tool_partial[id * TOOL_GRAD + c] = sum[c];
    }
}

// One workgroup per (tool, component): sums the partials of the reached
// blocks in block order (fixed, whatever order the list was built in).
@compute @workgroup_size(64)
fn tool_grad_reduce(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let nt = min(p_num_tools(), MAX_ADJ_TOOLS);
    let c = wid.x;
    if (c >= nt * TOOL_GRAD) {
        return;
    }
    let nb = p_num_node_blocks();
    var sum: Real = 0.0;
    for (var b = li; b < nb; b = b + 64u) {
        if (block_listed(b)) {
            sum = sum + tool_partial[b * nt * TOOL_GRAD + c];
        }
    }
    red[li] = sum;
    workgroupBarrier();
    for (var w = 32u; w > 0u; w = w >> 1u) {
        if (li < w) {
            red[li] = red[li] + red[li + w];
        }
        workgroupBarrier();
    }
    if (li == 0u) {
        let t = c / TOOL_GRAD;
        let k = c % TOOL_GRAD;
        let co = control_offset(clock[0], t);
        if (k == 3u) {
            tool_param_grad[2u * t] = tool_param_grad[2u * t] + red[0];
        } else if (k == 11u) {
            tool_param_grad[2u * t + 1u] = tool_param_grad[2u * t + 1u] + red[0];
        } else if (k != 15u) {
            control_grad[co + k] = control_grad[co + k] + red[0];
        }
    }
}
