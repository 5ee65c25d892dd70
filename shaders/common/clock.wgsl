// Advances the substep counter that kernels read to index per-step controls
// and to report the step of a failure. One invocation, once per substep.

@group(0) @binding(0) var<storage, read_write> clock: array<u32>;

@compute @workgroup_size(1)
fn advance_clock() {
    clock[0] = clock[0] + 1u;
}
