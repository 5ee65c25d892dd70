// The list of node blocks that particles reach, written each substep by
// `mpm/mark_blocks.wgsl`: word 0 is the number of listed blocks, then one
// word per node block for the list (in no fixed order) and one flag per node
// block (1 when listed). The importer binds it as `active_blocks: array<u32>` (read only)
// and `params`.

const NO_BLOCK: u32 = 0xffffffffu;

// The node block that workgroup `wid` of an indirect dispatch over the list
// handles, or NO_BLOCK for the padding of the last row.
fn listed_block(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    let slot = wid.x + wid.y * nwg.x;
    if (slot >= active_blocks[0]) {
        return NO_BLOCK;
    }
    return active_blocks[1u + slot];
}

// True when node block `blk` is in the list.
fn block_listed(blk: u32) -> bool {
    return active_blocks[1u + p_num_node_blocks() + blk] != 0u;
}
