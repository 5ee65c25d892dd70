// Particles as camera-facing sphere impostors.
//
// Three vertices (one triangle) per particle, drawn without instancing:
// vertex v belongs to particle v / 3. (llvmpipe runs its vertex pipeline once
// per instance: one instance per particle made drawing 1.5-2x slower there.)
// The vertex shader reads the particle straight
// from the storage buffer (x, y, z, c per entry), so no particle data ever
// goes through the host.
// The billboard is perpendicular to the ray to the sphere's centre and just
// covers its silhouette (the triangle's inscribed circle is the silhouette's
// disc); the fragment shader intersects the view ray with the
// sphere, discards misses, shades the hit and writes its depth.

#import render/common

const MAX_PALETTE: u32 = 32u;

struct ParticleParams {
    radius: f32,
    // 0: categorical (palette[c]), 1: scalar (colormap of c in [0, 1]).
    mode: u32,
    palette_len: u32,
    // Level of detail: the i-th triangle draws one particle of the block
    // [i·stride, (i + 1)·stride), chosen by a hash of i (see `lod_particle`).
    stride: u32,
    palette: array<vec4<f32>, MAX_PALETTE>,
}

@group(1) @binding(0) var<storage, read> particles: array<vec4<f32>>;
@group(1) @binding(1) var<uniform> params: ParticleParams;

struct ParticleOut {
    @builtin(position) clip: vec4<f32>,
    // Point on the billboard, view space.
    @location(0) view_pos: vec3<f32>,
    // Sphere centre, view space.
    @location(1) @interpolate(flat) center: vec3<f32>,
    @location(2) @interpolate(flat) color: vec3<f32>,
}

struct ParticleFrag {
    @location(0) color: vec4<f32>,
    @builtin(frag_depth) depth: f32,
}

fn particle_color(c: f32) -> vec3<f32> {
    if (params.mode == 1u) {
        // Skip Turbo's near-black ends so both extremes read well on the background.
        return scalar_color(c);
    }
    let n = clamp(params.palette_len, 1u, MAX_PALETTE);
    let i = u32(max(round(c), 0.0)) % n;
    return params.palette[i].rgb;
}

// A 32-bit integer hash (Wellons' lowbias32).
fn hash_u32(v: u32) -> u32 {
    var x = v;
    x = x ^ (x >> 16u);
    x = x * 0x7feb352du;
    x = x ^ (x >> 15u);
    x = x * 0x846ca68bu;
    x = x ^ (x >> 16u);
    return x;
}

// The particle that triangle `ii` draws: one member of the block
// [ii·stride, (ii + 1)·stride) picked by a hash, so that a regular lattice
// (particles are stored in stencil-cell order) shows no stripes at stride > 1.
fn lod_particle(ii: u32) -> u32 {
    let s = params.stride;
    if (s <= 1u) {
        return ii;
    }
    return min(ii * s + hash_u32(ii) % s, arrayLength(&particles) - 1u);
}

@vertex
fn vs_main(@builtin(vertex_index) v: u32) -> ParticleOut {
    let ii = v / 3u;
    let vi = v % 3u;
    let p = particles[lod_particle(ii)];
    let r = params.radius;
    let c = (globals.view * vec4<f32>(p.xyz, 1.0)).xyz;
    let d2 = dot(c, c);
    var out: ParticleOut;
    out.center = c;
    out.color = particle_color(p.w);
    out.view_pos = c;
    out.clip = vec4<f32>(0.0, 0.0, 0.0, 1.0);
    if (d2 <= r * r * 1.0001) {
        // The camera is inside the sphere: degenerate quad, nothing drawn.
        return out;
    }
    let axis = c * inverseSqrt(d2);
    var side = cross(axis, vec3<f32>(0.0, 1.0, 0.0));
    if (dot(side, side) < 1e-6) {
        side = cross(axis, vec3<f32>(1.0, 0.0, 0.0));
    }
    let right = normalize(side);
    let up = cross(right, axis);
    // Radius of the tangent cone's cross-section through the centre.
    let extent = r * sqrt(d2 / (d2 - r * r));
    // One triangle whose inscribed circle is the silhouette's disc: the
    // equilateral triangle with inradius 1 has its corners at distance 2.
    var corner = vec2<f32>(0.0, 2.0);
    if (vi == 1u) {
        corner = vec2<f32>(-1.7320508, -1.0);
    } else if (vi == 2u) {
        corner = vec2<f32>(1.7320508, -1.0);
    }
    let pos = c + (right * corner.x + up * corner.y) * extent;
    out.view_pos = pos;
    out.clip = globals.proj * vec4<f32>(pos, 1.0);
    return out;
}

@fragment
fn fs_main(in: ParticleOut) -> ParticleFrag {
    let dir = normalize(in.view_pos);
    let c = in.center;
    let r = params.radius;
    let b = dot(dir, c);
    // Squared distance from the centre to the ray, computed without cancellation.
    let off = c - dir * b;
    let disc = r * r - dot(off, off);
    if (disc < 0.0) {
        discard;
    }
    let hit = dir * (b - sqrt(disc));
    let n = (hit - c) / r;
    let clip = globals.proj * vec4<f32>(hit, 1.0);
    var out: ParticleFrag;
    out.color = vec4<f32>(shade(in.color, n, globals.light_view.xyz), 1.0);
    out.depth = clamp(clip.z / clip.w, 0.0, 1.0);
    return out;
}
