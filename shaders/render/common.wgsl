// Per-frame uniforms shared by every renderer pipeline (bind group 0).
// Imported by render/particles, render/mesh and render/background.

struct Globals {
    view_proj: mat4x4<f32>,
    view: mat4x4<f32>,
    proj: mat4x4<f32>,
    // Direction towards the light, world space (xyz).
    light_world: vec4<f32>,
    // The same direction in view space (xyz).
    light_view: vec4<f32>,
    // Camera position, world space (xyz).
    eye: vec4<f32>,
    // Background gradient colours.
    bg_top: vec4<f32>,
    bg_bottom: vec4<f32>,
}

@group(0) @binding(0) var<uniform> globals: Globals;

// Ambient + diffuse shading of a base colour for a unit normal and light direction.
fn shade(base: vec3<f32>, n: vec3<f32>, l: vec3<f32>) -> vec3<f32> {
    let diffuse = max(dot(n, l), 0.0);
    return base * (0.35 + 0.65 * diffuse);
}
