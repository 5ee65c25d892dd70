//! The kinematic tools every solver collides with: each tool's record
//! (16 Reals, the layout `load_tool_shape` in `shaders/common/tools.wgsl`
//! reads) and the mesh tools' signed-distance grids, packed on the host and
//! held in GPU buffers that the world owns and every solver binds. Their
//! per-substep poses and velocities are the world's [`crate::Control`].
//!
//! Record layout: 0 shape kind (0 box, 1 sphere, 2 capsule, 3 cylinder,
//! 4 plane, 5 mesh), 1–3 dimensions [m] (half extents; radius; radius and
//! half height), 4 friction coefficient, 5 contact softness [m], and for
//! meshes 6 first SDF value, 7–9 SDF nodes per axis, 10 SDF spacing [m],
//! 11–13 SDF origin in the tool frame [m].

use ductile_gpu::{reals_to_bytes, storage_buffer, BufferUse, GpuContext, GpuError, Precision};
use ductile_scene::mesh::SdfGrid;
use ductile_scene::{Tool, ToolShape};

/// Reals per tool record.
pub const TOOL_RECORD_REALS: usize = 16;
/// Index of the friction coefficient in a tool record.
pub const TOOL_FRICTION: usize = 4;
/// Index of the contact softness [m] in a tool record.
pub const TOOL_SOFTNESS: usize = 5;

/// The tools' GPU buffers.
pub struct ToolSet {
    /// [`TOOL_RECORD_REALS`] Reals per tool (one zero record when there is none).
    pub records: wgpu::Buffer,
    /// Every mesh tool's signed distances [m], f32.
    pub sdf_values: wgpu::Buffer,
    /// Number of tools.
    pub count: u32,
}

/// Packs `tools`' records and their SDF grids (`sdfs[i]` for mesh tool i)
/// as the GPU reads them.
pub fn pack_tools(tools: &[Tool], sdfs: &[Option<SdfGrid>]) -> (Vec<f64>, Vec<f32>) {
    let mut tool_recs = Vec::new();
    let mut sdf_values: Vec<f32> = Vec::new();
    for (i, t) in tools.iter().enumerate() {
        let mut r = [0.0f64; TOOL_RECORD_REALS];
        match &t.shape {
            ToolShape::Box { half_extents } => {
                r[0] = 0.0;
                r[1..4].copy_from_slice(half_extents);
            }
            ToolShape::Sphere { radius } => {
                r[0] = 1.0;
                r[1] = *radius;
            }
            ToolShape::Capsule {
                radius,
                half_height,
            } => {
                r[0] = 2.0;
                r[1] = *radius;
                r[2] = *half_height;
            }
            ToolShape::Cylinder {
                radius,
                half_height,
            } => {
                r[0] = 3.0;
                r[1] = *radius;
                r[2] = *half_height;
            }
            ToolShape::Plane => r[0] = 4.0,
            ToolShape::Mesh { .. } => {
                r[0] = 5.0;
                if let Some(Some(g)) = sdfs.get(i) {
                    r[6] = sdf_values.len() as f64;
                    r[7] = g.dims[0] as f64;
                    r[8] = g.dims[1] as f64;
                    r[9] = g.dims[2] as f64;
                    r[10] = g.dx;
                    r[11..14].copy_from_slice(&g.origin);
                    sdf_values.extend_from_slice(&g.values);
                }
            }
        }
        r[TOOL_FRICTION] = t.friction;
        r[TOOL_SOFTNESS] = t.softness;
        tool_recs.extend_from_slice(&r);
    }
    if tool_recs.is_empty() {
        tool_recs.resize(TOOL_RECORD_REALS, 0.0);
    }
    if sdf_values.is_empty() {
        sdf_values.resize(4, 0.0);
    }
    (tool_recs, sdf_values)
}

impl ToolSet {
    /// Packs and uploads the tools.
    pub fn new(
        ctx: &GpuContext,
        tools: &[Tool],
        sdfs: &[Option<SdfGrid>],
        precision: Precision,
    ) -> Result<Self, GpuError> {
        let (records, sdf_values) = pack_tools(tools, sdfs);
        Ok(ToolSet {
            records: storage_buffer(
                ctx,
                "tools",
                &reals_to_bytes(&records, precision),
                BufferUse::Storage,
            )?,
            sdf_values: storage_buffer(
                ctx,
                "tool SDF values",
                bytemuck::cast_slice(&sdf_values),
                BufferUse::Storage,
            )?,
            count: tools.len() as u32,
        })
    }
}
