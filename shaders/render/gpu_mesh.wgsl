// Deforming triangle meshes drawn straight from a solver's GPU buffers (an
// FEM pad's surface, a shell): the vertex shader pulls vertex v of the
// triangle list through `indices` from `vertices` ((x, y, z, c) f32 per
// vertex, world metres), so nothing is read back or re-uploaded per frame.
// Colour: the mesh's own (mode 0), or the vertex value c in [0, 1] through
// the scalar colormap (mode 1: speed and the like). Flat shading from the
// screen-space derivatives of the world position, two-sided, lit like
// `render/mesh.wgsl`.

#import render/common

struct GpuMeshParams {
    color: vec4<f32>,
    mode: u32,
}

@group(1) @binding(0) var<storage, read> vertices: array<vec4<f32>>;
@group(1) @binding(1) var<storage, read> indices: array<u32>;
@group(1) @binding(2) var<uniform> mesh: GpuMeshParams;

struct GpuMeshOut {
    @builtin(position) clip: vec4<f32>,
    @location(0) world: vec3<f32>,
    @location(1) value: f32,
}

@vertex
fn vs_main(@builtin(vertex_index) v: u32) -> GpuMeshOut {
    let q = vertices[indices[v]];
    let p = q.xyz;
    var out: GpuMeshOut;
    out.clip = globals.view_proj * vec4<f32>(p, 1.0);
    out.world = p;
    out.value = q.w;
    return out;
}

@fragment
fn fs_main(in: GpuMeshOut) -> @location(0) vec4<f32> {
    var n = cross(dpdx(in.world), dpdy(in.world));
    let len = length(n);
    n = select(vec3<f32>(0.0, 1.0, 0.0), n / len, len > 0.0);
    if (dot(n, globals.eye.xyz - in.world) < 0.0) {
        n = -n;
    }
    let base = select(mesh.color.rgb, scalar_color(in.value), mesh.mode == 1u);
    return vec4<f32>(shade(base, n, globals.light_world.xyz), mesh.color.a);
}
