// Polylines drawn as lit tubes straight from a solver's GPU buffers (a
// rod's centreline): `vertices` holds (x, y, z, radius) f32 per vertex
// (world metres), `segments` 2 vertex indices per segment. Each segment is
// a camera-facing quad as wide as the tube, shaded as a cylinder (the
// normal turns from the quad's edge towards the eye across it).

#import render/common

struct TubeParams {
    color: vec4<f32>,
    mode: u32,
}

@group(1) @binding(0) var<storage, read> vertices: array<vec4<f32>>;
@group(1) @binding(1) var<storage, read> segments: array<u32>;
@group(1) @binding(2) var<uniform> tube: TubeParams;

struct TubeOut {
    @builtin(position) clip: vec4<f32>,
    // −1 on one edge of the quad, +1 on the other.
    @location(0) across: f32,
    @location(1) side: vec3<f32>,
    @location(2) to_eye: vec3<f32>,
}

@vertex
fn vs_main(@builtin(vertex_index) v: u32) -> TubeOut {
    let seg = v / 6u;
    let corner = v % 6u;
    let a = vertices[segments[2u * seg]];
    let b = vertices[segments[2u * seg + 1u]];
    // Two triangles: (0, −), (1, −), (1, +) and (0, −), (1, +), (0, +).
    let along = select(0.0, 1.0, corner == 1u || corner == 2u || corner == 4u);
    let across = select(-1.0, 1.0, corner == 2u || corner == 4u || corner == 5u);
    let p = mix(a.xyz, b.xyz, along);
    let r = mix(a.w, b.w, along);
    let to_eye = normalize(globals.eye.xyz - p);
    var side = cross(b.xyz - a.xyz, to_eye);
    if (length(side) < 1e-12) {
        // A segment pointing at the eye: any direction across it.
        side = cross(vec3<f32>(0.0, 1.0, 0.0), to_eye);
    }
    side = normalize(side);
    var out: TubeOut;
    out.clip = globals.view_proj * vec4<f32>(p + side * r * across, 1.0);
    out.across = across;
    out.side = side;
    out.to_eye = to_eye;
    return out;
}

@fragment
fn fs_main(in: TubeOut) -> @location(0) vec4<f32> {
    let t = clamp(in.across, -1.0, 1.0);
    let n = normalize(in.side * t + normalize(in.to_eye) * sqrt(max(1.0 - t * t, 0.0)));
    return vec4<f32>(shade(tube.color.rgb, n, globals.light_world.xyz), 1.0);
}
