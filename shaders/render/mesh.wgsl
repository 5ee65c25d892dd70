// Lit triangle meshes in world coordinates (tools, containers, floor).
// Two-sided ambient + diffuse lighting from a directional light; alpha is
// passed through so the transparent pipeline can blend.

#import render/common

struct MeshIn {
    @location(0) position: vec3<f32>,
    @location(1) normal: vec3<f32>,
    @location(2) color: vec4<f32>,
}

struct MeshOut {
    @builtin(position) clip: vec4<f32>,
    @location(0) world: vec3<f32>,
    @location(1) normal: vec3<f32>,
    @location(2) color: vec4<f32>,
}

@vertex
fn vs_main(v: MeshIn) -> MeshOut {
    var out: MeshOut;
    out.clip = globals.view_proj * vec4<f32>(v.position, 1.0);
    out.world = v.position;
    out.normal = v.normal;
    out.color = v.color;
    return out;
}

@fragment
fn fs_main(in: MeshOut) -> @location(0) vec4<f32> {
    var n = in.normal;
    let len = length(n);
    if (len > 0.0) {
        n = n / len;
    }
    // Two-sided: turn the normal towards the viewer (containers are seen from inside).
    if (dot(n, globals.eye.xyz - in.world) < 0.0) {
        n = -n;
    }
    return vec4<f32>(shade(in.color.rgb, n, globals.light_world.xyz), in.color.a);
}
