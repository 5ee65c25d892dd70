// Flat invocation index for 1-D kernels dispatched with `Kernel::dispatch_1d`
// (64-wide workgroups, folded into two dimensions for large counts).
fn flat_index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * 64u;
}

// Flat workgroup index for kernels whose workgroup count is folded into 2-D.
fn flat_workgroup(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}
