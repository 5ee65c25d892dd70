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

// Polynomial approximation of Google's Turbo colormap (blue -> green -> red).
fn turbo(x_in: f32) -> vec3<f32> {
    let x = clamp(x_in, 0.0, 1.0);
    let v4 = vec4<f32>(1.0, x, x * x, x * x * x);
    let v2 = v4.zw * v4.z;
    return vec3<f32>(
        dot(v4, vec4<f32>(0.13572138, 4.61539260, -42.66032258, 132.13108234)) + dot(v2, vec2<f32>(-152.94239396, 59.28637943)),
        dot(v4, vec4<f32>(0.09140261, 2.19418839, 4.84296658, -14.18503333)) + dot(v2, vec2<f32>(4.27729857, 2.82956604)),
        dot(v4, vec4<f32>(0.10667330, 12.64194608, -60.58204836, 110.36276771)) + dot(v2, vec2<f32>(-89.90310912, 27.34824973)),
    );
}

// A scalar in [0, 1] as a colour: Turbo without its near-black ends, so
// both extremes read well on the background.
fn scalar_color(c: f32) -> vec3<f32> {
    return clamp(turbo(0.08 + 0.84 * c), vec3<f32>(0.0), vec3<f32>(1.0));
}
