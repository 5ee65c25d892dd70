//! Ductile's offscreen renderer: particles as lit sphere impostors,
//! deforming surfaces and tubes read straight from a solver's GPU buffers,
//! plus lit triangle meshes (tools, containers,
//! floor) over a gradient background, into an RGBA8 image or a caller's texture.
//!
//! The same [`Renderer`] serves PNG output ([`Renderer::render`]) and an
//! interactive viewer ([`Renderer::encode`] into the viewer's own texture);
//! [`scene`] turns a running simulation into what it draws, for both.

pub mod camera;
pub mod renderer;
pub mod scene;
pub mod shapes;

pub use camera::Camera;
pub use renderer::{view_texture, Frame, Renderer, COLOR_FORMAT, MAX_PALETTE};

use thiserror::Error;

/// Errors from rendering.
#[derive(Debug, Error)]
pub enum RenderError {
    /// A particle view asks for more entries than its buffer holds.
    #[error("particle view asks for {count} particles but its buffer holds only {capacity}")]
    ParticleBuffer {
        /// Particles asked for.
        count: u32,
        /// Entries of 16 bytes the buffer holds.
        capacity: u64,
    },
    /// The image size is zero or exceeds the device's texture limit.
    #[error("image size {width}x{height} is not allowed (each side must be 1..={max})")]
    Size {
        /// Requested width.
        width: u32,
        /// Requested height.
        height: u32,
        /// The device's largest 2-D texture side.
        max: u32,
    },
    /// A GPU mesh view asks for more triangles than its index buffer holds.
    #[error("GPU mesh asks for {triangles} triangles but its index buffer holds only {capacity}")]
    GpuMeshBuffer {
        /// Triangles asked for.
        triangles: u32,
        /// Triangles (12 bytes each) the index buffer holds.
        capacity: u64,
    },
    /// A tube view asks for more segments than its segment buffer holds.
    #[error("tube view asks for {count} segments but its segment buffer holds only {capacity}")]
    GpuTubeBuffer {
        /// Segments asked for.
        count: u32,
        /// Segments (8 bytes each) the buffer holds.
        capacity: u64,
    },
    /// Reading the image back from the GPU failed.
    #[error("reading the image back failed: {0}")]
    Readback(String),
}

/// How a particle's fourth component `c` becomes a colour.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ColorMode {
    /// `c` is a small non-negative integer (e.g. body index) selecting a palette colour
    /// (modulo the palette length).
    #[default]
    Categorical,
    /// `c` in `[0, 1]` maps to a Turbo-like colormap, blue (0) to red (1).
    Scalar,
}

/// Particles to draw: a GPU buffer of `count` entries of `[f32; 4]` = (x, y, z, c) in world metres.
///
/// The buffer needs `STORAGE` usage; it is read by the vertex shader directly.
pub struct ParticleView<'a> {
    /// Storage buffer holding at least `count` entries of 16 bytes.
    pub buffer: &'a wgpu::Buffer,
    /// Number of particles (entries from the buffer's start).
    pub count: u32,
    /// Sphere radius in world metres.
    pub radius: f32,
    /// Level of detail: draw one particle in each run of `stride` (1: all;
    /// the member picked by a hash of the run's index), each with
    /// its radius scaled by ∛stride so that the drawn matter keeps its
    /// volume. Software rasterisers draw 100k+ impostors slowly.
    pub stride: u32,
    /// How `c` becomes a colour.
    pub color_mode: ColorMode,
    /// Categorical colours (linear 0..1 RGB); empty uses [`DEFAULT_PALETTE`]; at most
    /// [`MAX_PALETTE`] entries are used.
    pub palette: Vec<[f32; 3]>,
}

/// A deforming triangle mesh drawn straight from GPU buffers (a solver's
/// surface: an FEM pad, a shell): nothing is read back or uploaded per frame.
/// Drawn opaque, flat-shaded, two-sided.
pub struct GpuMeshView<'a> {
    /// Storage buffer of vertex positions, `[f32; 4]` per vertex (x, y, z,
    /// unused) in world metres (a solver's render packing writes it).
    pub vertices: &'a wgpu::Buffer,
    /// Storage buffer of triangle corners, 3 `u32` vertex indices per triangle.
    pub indices: &'a wgpu::Buffer,
    /// Number of triangles to draw (from the start of `indices`).
    pub triangles: u32,
    /// Linear RGB colour (alpha ignored: opaque), used when `color_mode` is
    /// [`ColorMode::Categorical`].
    pub color: [f32; 4],
    /// [`ColorMode::Scalar`]: each vertex's fourth component in [0, 1]
    /// through the scalar colormap instead of `color`.
    pub color_mode: ColorMode,
}

/// Polylines drawn as lit tubes straight from GPU buffers (a rod's
/// centreline): nothing is read back or uploaded per frame.
pub struct GpuTubeView<'a> {
    /// Storage buffer of vertices, `[f32; 4]` each: x, y, z [m] and the
    /// tube's radius there [m].
    pub vertices: &'a wgpu::Buffer,
    /// Storage buffer of segments, 2 `u32` vertex indices each.
    pub segments: &'a wgpu::Buffer,
    /// Number of segments to draw (from the start of `segments`).
    pub count: u32,
    /// Linear RGB colour (opaque).
    pub color: [f32; 4],
}

/// A triangle mesh already in world coordinates, drawn lit; `color[3] < 1` draws it
/// semi-transparent (after everything opaque, without writing depth).
///
/// Normals are averaged per vertex over the triangles sharing it: share vertices
/// for smooth shading, duplicate them for hard edges (as [`shapes`] does).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MeshInstance {
    /// Vertex positions, world metres.
    pub positions: Vec<[f32; 3]>,
    /// Triangle list indices into `positions`, counter-clockwise seen from outside.
    pub indices: Vec<u32>,
    /// RGBA colour, 0..1.
    pub color: [f32; 4],
}

/// Palette used by [`ColorMode::Categorical`] when a view gives none.
pub const DEFAULT_PALETTE: [[f32; 3]; 10] = [
    [0.122, 0.467, 0.706],
    [1.000, 0.498, 0.055],
    [0.173, 0.627, 0.173],
    [0.839, 0.153, 0.157],
    [0.580, 0.404, 0.741],
    [0.549, 0.337, 0.294],
    [0.890, 0.467, 0.761],
    [0.498, 0.498, 0.498],
    [0.737, 0.741, 0.133],
    [0.090, 0.745, 0.812],
];
