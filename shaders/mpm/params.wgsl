// Run-wide MPM parameters (the static part of the Model), as laid out by
// `ductile_sim::mpm::params::ParamsHost`. The importing module binds
// `params: Params`.

struct Params {
    // [0] cells x, y, z, total cells   [1] node blocks x, y, z, total blocks
    // [2] particles, tools, boundary cells, boundary kind (0 separate, 1 slip, 2 sticky)
    // [3] bodies, control steps, external force (1: couplings push grid nodes), _
    // [4] cell blocks x, y, z, total   [5] unused
    i: array<vec4<u32>, 6>,
    // [0] origin xyz [m], dx [m]   [1] gravity xyz [m/s²], dt [s]
    // [2] wall friction, 1/dx [1/m], _, _
    // [3] planted adjoint error (0: exact; tests only), _, _, _
    r: array<vec4r, 4>,
}

fn p_cells() -> vec3<u32> { return params.i[0].xyz; }
fn p_num_cells() -> u32 { return params.i[0].w; }
fn p_node_blocks() -> vec3<u32> { return params.i[1].xyz; }
fn p_num_node_blocks() -> u32 { return params.i[1].w; }
fn p_num_particles() -> u32 { return params.i[2].x; }
// Index of entry k (3·column + row) of particle p's 3×3 matrix in a matrix
// field (C, F, τ). Matrix fields are stored as nine arrays of N Reals, entry
// by entry, so that neighbouring invocations read and write neighbouring
// words (`ductile_sim::mpm::state`, "Layout").
fn mat_index(p: u32, k: u32) -> u32 { return k * p_num_particles() + p; }
// Index of entry e of particle p in an adjoint state: ∂L/∂ of x (entries
// 0–2), v (3–5), C (6–14), F (15–23), aux (24) and τ (25–33), stored entry
// by entry like the matrix fields (`ductile_sim::mpm::adjoint`).
fn adj_index(p: u32, e: u32) -> u32 { return e * p_num_particles() + p; }
fn p_num_tools() -> u32 { return params.i[2].y; }
fn p_boundary_cells() -> u32 { return params.i[2].z; }
fn p_boundary_kind() -> u32 { return params.i[2].w; }
fn p_control_steps() -> u32 { return params.i[3].y; }
// True when couplings add a force per grid node (`ext_force`); without one
// the grid update reads no external force at all.
fn p_has_external_force() -> bool { return params.i[3].z != 0u; }
fn p_cell_blocks() -> vec3<u32> { return params.i[4].xyz; }
fn p_origin() -> vec3r { return params.r[0].xyz; }
fn p_dx() -> Real { return params.r[0].w; }
fn p_inv_dx() -> Real { return params.r[2].y; }
fn p_gravity() -> vec3r { return params.r[1].xyz; }
fn p_dt() -> Real { return params.r[1].w; }
fn p_wall_friction() -> Real { return params.r[2].x; }
// Relative error δ planted in the stress adjoint (∂L/∂τ scaled by 1 + δ);
// 0 except in the tests that show a gradient check fails on a wrong adjoint
// (`Simulation::plant_adjoint_error`).
fn p_adjoint_error() -> Real { return params.r[3].x; }

// Nodes per axis: one more than cells.
fn p_nodes() -> vec3<u32> { return p_cells() + vec3<u32>(1u); }

fn cell_index(c: vec3<u32>) -> u32 {
    let n = p_cells();
    return c.x + n.x * (c.y + n.y * c.z);
}

fn node_index(c: vec3<u32>) -> u32 {
    let n = p_nodes();
    return c.x + n.x * (c.y + n.y * c.z);
}

// Base cell of a particle's stencil, clamped into the grid (a particle outside
// the safe band is reported by g2p, never read out of bounds).
fn particle_cell(xg: vec3r) -> vec3<u32> {
    let b = vec3<i32>(floor(xg - vec3r(0.5)));
    let hi = vec3<i32>(p_cells()) - vec3<i32>(1);
    return vec3<u32>(clamp(b, vec3<i32>(0), hi));
}

fn cell_block_index(c: vec3<u32>) -> u32 {
    let b = c / 4u;
    let nb = p_cell_blocks();
    return b.x + nb.x * (b.y + nb.y * b.z);
}

// Integer coordinates of node block `blk` (4³ nodes, x fastest).
fn node_block_coords(blk: u32) -> vec3<u32> {
    let nb = p_node_blocks();
    let bz = blk / (nb.x * nb.y);
    let by = (blk - bz * nb.x * nb.y) / nb.x;
    return vec3<u32>(blk - bz * nb.x * nb.y - by * nb.x, by, bz);
}

// Node handled by invocation `li` (0..63) of node block `blk`.
fn block_node(blk: u32, li: u32) -> vec3<u32> {
    return 4u * node_block_coords(blk) + vec3<u32>(li & 3u, (li >> 2u) & 3u, li >> 4u);
}

// A particle's tag (`body_of[p]`): its body index in the low 8 bits, the
// substep at which an emitter releases it in the high 24 bits (0 for
// particles present from the start).
fn tag_body(tag: u32) -> u32 {
    return tag & 0xFFu;
}

// True while particle tag `tag` is still waiting in its emitter at substep
// `step`: it is frozen (its state carried unchanged) and has no mass on the grid.
fn tag_waiting(tag: u32, step: u32) -> bool {
    return step < (tag >> 8u);
}
