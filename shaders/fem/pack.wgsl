// Drawing an FEM body: each node's position as f32 (x, y, z, 0) [m], the
// vertices its boundary triangles index (`ductile_sim::fem::solver`).

@group(0) @binding(0) var<storage, read> ints: array<u32>;
@group(0) @binding(9) var<storage, read> x_in: array<Real>;
@group(0) @binding(21) var<storage, read_write> packed: array<vec4<f32>>;

@compute @workgroup_size(64)
fn fem_pack(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 64u;
    if (i >= ints[0]) {
        return;
    }
    packed[i] = vec4<f32>(f32(x_in[3u * i]), f32(x_in[3u * i + 1u]), f32(x_in[3u * i + 2u]), 0.0);
}
