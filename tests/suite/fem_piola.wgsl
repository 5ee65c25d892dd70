// Test harness: the FEM elements' first Piola–Kirchhoff stress P(F)
// (`piola`, fem/elastic) next to its directional derivative dP[δ]
// (`piola_diff`, fem/elastic_adj), which the element adjoint applies as
// its own transpose (the Hessian of the energy is symmetric). One sample
// per invocation, RECORD Reals: F (9, column-major) at 0, δ (9) at 9.
// The model, μ, λ and the planted factor come from `ints[6]`, `reals[4]`,
// `reals[5]` and `reals[7]` (tests/suite/fem_kernels.rs).

#import fem/elastic_adj

@group(0) @binding(40) var<storage, read> inputs: array<Real>;
@group(0) @binding(42) var<storage, read_write> outputs: array<Real>;

const RECORD: u32 = 32u;

fn in_mat(i: u32, o: u32) -> mat3r {
    let b = RECORD * i + o;
    return mat3r(
        inputs[b], inputs[b + 1u], inputs[b + 2u],
        inputs[b + 3u], inputs[b + 4u], inputs[b + 5u],
        inputs[b + 6u], inputs[b + 7u], inputs[b + 8u],
    );
}

fn out_mat(i: u32, m: mat3r) {
    let b = RECORD * i;
    for (var c = 0u; c < 3u; c = c + 1u) {
        for (var r = 0u; r < 3u; r = r + 1u) {
            outputs[b + 3u * c + r] = m[c][r];
        }
    }
}

@compute @workgroup_size(64)
fn piola_fwd(@builtin(global_invocation_id) gid: vec3<u32>) {
    out_mat(gid.x, piola(in_mat(gid.x, 0u)));
}

@compute @workgroup_size(64)
fn piola_jvp(@builtin(global_invocation_id) gid: vec3<u32>) {
    out_mat(gid.x, planted() * piola_diff(in_mat(gid.x, 0u), in_mat(gid.x, 9u)));
}
