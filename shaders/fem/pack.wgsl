// Drawing an FEM body: each node's position as f32 (x, y, z, c) [m], the
// vertices its boundary triangles index (`ductile_sim::fem::solver`), with
// c = |v| / scale clamped to [0, 1] when `pack_params` = (1, scale [m/s]),
// else 0.

@group(0) @binding(0) var<storage, read> ints: array<u32>;
@group(0) @binding(9) var<storage, read> x_in: array<Real>;
@group(0) @binding(10) var<storage, read> v_in: array<Real>;
@group(0) @binding(21) var<storage, read_write> packed: array<vec4<f32>>;
@group(0) @binding(22) var<storage, read> pack_params: array<f32>;

@compute @workgroup_size(64)
fn fem_pack(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 64u;
    if (i >= ints[0]) {
        return;
    }
    var c = 0.0;
    if (pack_params[0] == 1.0) {
        let v = vec3<f32>(f32(v_in[3u * i]), f32(v_in[3u * i + 1u]), f32(v_in[3u * i + 2u]));
        c = clamp(length(v) / max(pack_params[1], 1e-30), 0.0, 1.0);
    }
    packed[i] = vec4<f32>(f32(x_in[3u * i]), f32(x_in[3u * i + 1u]), f32(x_in[3u * i + 2u]), c);
}
