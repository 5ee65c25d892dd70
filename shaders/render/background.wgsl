// Background: one full-screen triangle with a vertical gradient from
// `globals.bg_bottom` (bottom edge) to `globals.bg_top` (top edge).

#import render/common

struct BgOut {
    @builtin(position) clip: vec4<f32>,
    @location(0) v: f32,
}

@vertex
fn vs_main(@builtin(vertex_index) vi: u32) -> BgOut {
    // (-1,-1), (3,-1), (-1,3): covers the whole viewport.
    let x = f32((vi << 1u) & 2u) * 2.0 - 1.0;
    let y = f32(vi & 2u) * 2.0 - 1.0;
    var out: BgOut;
    out.clip = vec4<f32>(x, y, 0.0, 1.0);
    out.v = y * 0.5 + 0.5;
    return out;
}

@fragment
fn fs_main(in: BgOut) -> @location(0) vec4<f32> {
    return mix(globals.bg_bottom, globals.bg_top, clamp(in.v, 0.0, 1.0));
}
