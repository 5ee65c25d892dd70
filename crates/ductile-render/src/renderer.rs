//! The renderer: pipelines for the background, meshes and particle impostors,
//! the render targets, and readback into an [`image::RgbaImage`].
//!
//! Draw order: background, opaque meshes, GPU meshes and tubes (deforming
//! surfaces and rods pulled from a solver's buffers), particles, transparent meshes
//! (blended, depth-tested but not depth-writing). Depth is reversed
//! (near = 1, infinity = 0) in a `Depth32Float` buffer.

use crate::{
    Camera, ColorMode, GpuMeshView, GpuTubeView, MeshInstance, ParticleView, RenderError,
    DEFAULT_PALETTE,
};
use bytemuck::{Pod, Zeroable};
use ductile_gpu::{ShaderConfig, ShaderLibrary};
use glam::Vec3;
use std::num::NonZeroU64;

/// Most categorical colours one particle view can use.
pub const MAX_PALETTE: usize = 32;
/// Format of the colour targets the pipelines draw into.
pub const COLOR_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8Unorm;
const DEPTH_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Depth32Float;
/// Bytes of one particle entry, `[f32; 4]`.
const PARTICLE_BYTES: u64 = 16;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Globals {
    view_proj: [[f32; 4]; 4],
    view: [[f32; 4]; 4],
    proj: [[f32; 4]; 4],
    light_world: [f32; 4],
    light_view: [f32; 4],
    eye: [f32; 4],
    bg_top: [f32; 4],
    bg_bottom: [f32; 4],
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct ParticleParams {
    radius: f32,
    mode: u32,
    palette_len: u32,
    stride: u32,
    palette: [[f32; 4]; MAX_PALETTE],
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct MeshVertex {
    position: [f32; 3],
    normal: [f32; 3],
    color: [f32; 4],
}

/// Everything one picture draws.
#[derive(Default)]
pub struct Frame<'a> {
    /// Particle views.
    pub particles: &'a [ParticleView<'a>],
    /// Host meshes (tools, containers, floor).
    pub meshes: &'a [MeshInstance],
    /// Deforming meshes in GPU buffers.
    pub gpu_meshes: &'a [GpuMeshView<'a>],
    /// Tubes (polylines) in GPU buffers.
    pub tubes: &'a [GpuTubeView<'a>],
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct GpuMeshParams {
    color: [f32; 4],
    /// 0: `color`; 1: each vertex's value through the scalar colormap.
    mode: u32,
    _pad: [u32; 3],
}

/// Colour texture, depth and readback buffer of one size.
struct Targets {
    width: u32,
    height: u32,
    color: wgpu::Texture,
    color_view: wgpu::TextureView,
    depth_view: wgpu::TextureView,
    readback: wgpu::Buffer,
    padded_row: u32,
}

impl Targets {
    fn new(device: &wgpu::Device, width: u32, height: u32) -> Targets {
        let size = wgpu::Extent3d {
            width,
            height,
            depth_or_array_layers: 1,
        };
        let texture = |label, format, usage| {
            device.create_texture(&wgpu::TextureDescriptor {
                label: Some(label),
                size,
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D2,
                format,
                usage,
                view_formats: &[],
            })
        };
        let color = texture(
            "render color",
            COLOR_FORMAT,
            wgpu::TextureUsages::RENDER_ATTACHMENT
                | wgpu::TextureUsages::COPY_SRC
                | wgpu::TextureUsages::TEXTURE_BINDING,
        );
        let depth = texture(
            "render depth",
            DEPTH_FORMAT,
            wgpu::TextureUsages::RENDER_ATTACHMENT,
        );
        let padded_row = (width * 4).next_multiple_of(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT);
        let readback = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("render readback"),
            size: padded_row as u64 * height as u64,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Targets {
            width,
            height,
            color_view: color.create_view(&Default::default()),
            depth_view: depth.create_view(&Default::default()),
            color,
            readback,
            padded_row,
        }
    }
}

/// A `width` x `height` [`COLOR_FORMAT`] texture that [`Renderer::encode`]
/// can draw into and a UI can sample (the viewer's view, the drawing benchmark).
pub fn view_texture(device: &wgpu::Device, width: u32, height: u32, label: &str) -> wgpu::Texture {
    device.create_texture(&wgpu::TextureDescriptor {
        label: Some(label),
        size: wgpu::Extent3d {
            width,
            height,
            depth_or_array_layers: 1,
        },
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format: COLOR_FORMAT,
        usage: wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::TEXTURE_BINDING,
        view_formats: &[],
    })
}

/// Offscreen renderer of particles and meshes; keeps its pipelines, targets and
/// GPU buffers between frames (targets are recreated only when the size changes).
pub struct Renderer {
    globals: wgpu::Buffer,
    globals_bind: wgpu::BindGroup,
    particle_layout: wgpu::BindGroupLayout,
    gpu_mesh_layout: wgpu::BindGroupLayout,
    background: wgpu::RenderPipeline,
    gpu_mesh: wgpu::RenderPipeline,
    tubes: wgpu::RenderPipeline,
    /// One colour uniform per tube view, grown on demand.
    tube_params: Vec<wgpu::Buffer>,
    /// This frame's tube bind groups with the vertices each draws.
    tube_draws: Vec<(wgpu::BindGroup, u32)>,
    /// One colour uniform per GPU mesh view, grown on demand.
    gpu_mesh_params: Vec<wgpu::Buffer>,
    /// This frame's GPU mesh bind groups with the vertices each draws.
    gpu_mesh_draws: Vec<(wgpu::BindGroup, u32)>,
    mesh_opaque: wgpu::RenderPipeline,
    mesh_transparent: wgpu::RenderPipeline,
    particles: wgpu::RenderPipeline,
    /// One parameter uniform per particle view, grown on demand.
    particle_params: Vec<wgpu::Buffer>,
    /// This frame's particle bind groups with the particles each draws.
    particle_draws: Vec<(wgpu::BindGroup, u32)>,
    mesh_vertices: wgpu::Buffer,
    mesh_indices: wgpu::Buffer,
    /// Index counts of the opaque and transparent meshes (opaque first).
    mesh_counts: (u32, u32),
    scratch_vertices: Vec<MeshVertex>,
    scratch_indices: Vec<u32>,
    targets: Targets,
}

fn mesh_buffer(device: &wgpu::Device, bytes: u64, usage: wgpu::BufferUsages) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("render mesh"),
        size: bytes.next_power_of_two().max(4096),
        usage: usage | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}

fn uniform_entry(binding: u32, visibility: wgpu::ShaderStages) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Uniform,
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    }
}

impl Renderer {
    /// Creates the pipelines and `width` x `height` targets (sizes below 1 become 1).
    pub fn new(device: &wgpu::Device, width: u32, height: u32) -> Renderer {
        let stages = wgpu::ShaderStages::VERTEX | wgpu::ShaderStages::FRAGMENT;
        let globals_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("render globals"),
            entries: &[uniform_entry(0, stages)],
        });
        let particle_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("render particles"),
            entries: &[
                wgpu::BindGroupLayoutEntry {
                    binding: 0,
                    visibility: wgpu::ShaderStages::VERTEX,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Storage { read_only: true },
                        has_dynamic_offset: false,
                        min_binding_size: NonZeroU64::new(PARTICLE_BYTES),
                    },
                    count: None,
                },
                uniform_entry(1, stages),
            ],
        });
        let storage_entry = |binding| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::VERTEX,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Storage { read_only: true },
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        };
        let gpu_mesh_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("render GPU meshes"),
            entries: &[storage_entry(0), storage_entry(1), uniform_entry(2, stages)],
        });
        let globals = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("render globals"),
            size: std::mem::size_of::<Globals>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let globals_bind = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("render globals"),
            layout: &globals_layout,
            entries: &[wgpu::BindGroupEntry {
                binding: 0,
                resource: globals.as_entire_binding(),
            }],
        });
        let layout = |groups: &[Option<&wgpu::BindGroupLayout>]| {
            device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: None,
                bind_group_layouts: groups,
                immediate_size: 0,
            })
        };
        let scene_layout = layout(&[Some(&globals_layout)]);
        let particle_pipeline_layout = layout(&[Some(&globals_layout), Some(&particle_layout)]);
        let gpu_mesh_pipeline_layout = layout(&[Some(&globals_layout), Some(&gpu_mesh_layout)]);
        let module = |name| {
            ShaderLibrary::create_module(device, name, ShaderConfig::default())
                .expect("renderer shaders are embedded")
        };
        let (bg_module, mesh_module, particle_module, gpu_mesh_module, tube_module) = (
            module("render/background"),
            module("render/mesh"),
            module("render/particles"),
            module("render/gpu_mesh"),
            module("render/tubes"),
        );
        let mesh_attributes =
            wgpu::vertex_attr_array![0 => Float32x3, 1 => Float32x3, 2 => Float32x4];
        let mesh_buffers = [Some(wgpu::VertexBufferLayout {
            array_stride: std::mem::size_of::<MeshVertex>() as u64,
            step_mode: wgpu::VertexStepMode::Vertex,
            attributes: &mesh_attributes,
        })];
        let pipeline = |label,
                        layout: &wgpu::PipelineLayout,
                        module: &wgpu::ShaderModule,
                        buffers: &[Option<wgpu::VertexBufferLayout>],
                        topology,
                        depth_write,
                        depth_compare,
                        blend| {
            device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
                label: Some(label),
                layout: Some(layout),
                vertex: wgpu::VertexState {
                    module,
                    entry_point: Some("vs_main"),
                    compilation_options: Default::default(),
                    buffers,
                },
                primitive: wgpu::PrimitiveState {
                    topology,
                    ..Default::default()
                },
                depth_stencil: Some(wgpu::DepthStencilState {
                    format: DEPTH_FORMAT,
                    depth_write_enabled: Some(depth_write),
                    depth_compare: Some(depth_compare),
                    stencil: Default::default(),
                    bias: Default::default(),
                }),
                multisample: Default::default(),
                fragment: Some(wgpu::FragmentState {
                    module,
                    entry_point: Some("fs_main"),
                    compilation_options: Default::default(),
                    targets: &[Some(wgpu::ColorTargetState {
                        format: COLOR_FORMAT,
                        blend,
                        write_mask: wgpu::ColorWrites::ALL,
                    })],
                }),
                multiview_mask: None,
                cache: None,
            })
        };
        use wgpu::{CompareFunction as Cmp, PrimitiveTopology as Topo};
        let background = pipeline(
            "render background",
            &scene_layout,
            &bg_module,
            &[],
            Topo::TriangleList,
            false,
            Cmp::Always,
            None,
        );
        let mesh_opaque = pipeline(
            "render mesh",
            &scene_layout,
            &mesh_module,
            &mesh_buffers,
            Topo::TriangleList,
            true,
            Cmp::Greater,
            None,
        );
        let mesh_transparent = pipeline(
            "render transparent mesh",
            &scene_layout,
            &mesh_module,
            &mesh_buffers,
            Topo::TriangleList,
            false,
            Cmp::Greater,
            Some(wgpu::BlendState::ALPHA_BLENDING),
        );
        let particles = pipeline(
            "render particles",
            &particle_pipeline_layout,
            &particle_module,
            &[],
            Topo::TriangleList,
            true,
            Cmp::Greater,
            None,
        );
        let gpu_mesh = pipeline(
            "render GPU mesh",
            &gpu_mesh_pipeline_layout,
            &gpu_mesh_module,
            &[],
            Topo::TriangleList,
            true,
            Cmp::Greater,
            None,
        );
        let tubes = pipeline(
            "render tubes",
            &gpu_mesh_pipeline_layout,
            &tube_module,
            &[],
            Topo::TriangleList,
            true,
            Cmp::Greater,
            None,
        );
        Renderer {
            globals,
            globals_bind,
            particle_layout,
            gpu_mesh_layout,
            background,
            gpu_mesh,
            gpu_mesh_params: Vec::new(),
            gpu_mesh_draws: Vec::new(),
            tubes,
            tube_params: Vec::new(),
            tube_draws: Vec::new(),
            mesh_opaque,
            mesh_transparent,
            particles,
            particle_params: Vec::new(),
            particle_draws: Vec::new(),
            mesh_vertices: mesh_buffer(device, 0, wgpu::BufferUsages::VERTEX),
            mesh_indices: mesh_buffer(device, 0, wgpu::BufferUsages::INDEX),
            mesh_counts: (0, 0),
            scratch_vertices: Vec::new(),
            scratch_indices: Vec::new(),
            targets: Targets::new(device, width.max(1), height.max(1)),
        }
    }

    /// Current target size in pixels.
    pub fn size(&self) -> (u32, u32) {
        (self.targets.width, self.targets.height)
    }

    /// Recreates the targets if `width` x `height` differs from the current size.
    pub fn resize(
        &mut self,
        device: &wgpu::Device,
        width: u32,
        height: u32,
    ) -> Result<(), RenderError> {
        let max = device.limits().max_texture_dimension_2d;
        if width == 0 || height == 0 || width > max || height > max {
            return Err(RenderError::Size { width, height, max });
        }
        if (width, height) != self.size() {
            self.targets = Targets::new(device, width, height);
        }
        Ok(())
    }

    /// Renders the scene and reads it back as an image of the camera's size.
    pub fn render(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        particles: &[ParticleView],
        meshes: &[MeshInstance],
        camera: &Camera,
    ) -> Result<image::RgbaImage, RenderError> {
        let frame = Frame {
            particles,
            meshes,
            ..Default::default()
        };
        self.render_frame(device, queue, &frame, camera)
    }

    /// Renders `frame` (particles, host meshes and GPU meshes) and reads it
    /// back as an image of the camera's size.
    pub fn render_frame(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        frame: &Frame,
        camera: &Camera,
    ) -> Result<image::RgbaImage, RenderError> {
        self.resize(device, camera.width, camera.height)?;
        self.prepare(device, queue, frame, camera)?;
        let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("render"),
        });
        self.draw(&mut encoder, &self.targets.color_view);
        let t = &self.targets;
        encoder.copy_texture_to_buffer(
            t.color.as_image_copy(),
            wgpu::TexelCopyBufferInfo {
                buffer: &t.readback,
                layout: wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(t.padded_row),
                    rows_per_image: None,
                },
            },
            wgpu::Extent3d {
                width: t.width,
                height: t.height,
                depth_or_array_layers: 1,
            },
        );
        queue.submit([encoder.finish()]);
        let slice = t.readback.slice(..);
        let (tx, rx) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        let failed = |e: &dyn std::fmt::Display| RenderError::Readback(e.to_string());
        device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| failed(&e))?;
        rx.recv().map_err(|e| failed(&e))?.map_err(|e| failed(&e))?;
        let row = t.width as usize * 4;
        let mut pixels = Vec::with_capacity(row * t.height as usize);
        {
            let data = slice.get_mapped_range().map_err(|e| failed(&e))?;
            for padded in data.chunks(t.padded_row as usize) {
                pixels.extend_from_slice(&padded[..row]);
            }
        }
        t.readback.unmap();
        image::RgbaImage::from_raw(t.width, t.height, pixels)
            .ok_or_else(|| RenderError::Readback("short readback".into()))
    }

    /// Records the scene into `encoder`, drawing into `target`: a [`COLOR_FORMAT`]
    /// view of the camera's size (e.g. a viewer's own texture). Uniforms and mesh
    /// data are uploaded through `queue`, so submit before encoding the next frame.
    #[allow(clippy::too_many_arguments)]
    pub fn encode(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        encoder: &mut wgpu::CommandEncoder,
        target: &wgpu::TextureView,
        particles: &[ParticleView],
        meshes: &[MeshInstance],
        camera: &Camera,
    ) -> Result<(), RenderError> {
        let frame = Frame {
            particles,
            meshes,
            ..Default::default()
        };
        self.encode_frame(device, queue, encoder, target, &frame, camera)
    }

    /// [`Renderer::encode`] for a whole [`Frame`] (GPU meshes included).
    pub fn encode_frame(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        encoder: &mut wgpu::CommandEncoder,
        target: &wgpu::TextureView,
        frame: &Frame,
        camera: &Camera,
    ) -> Result<(), RenderError> {
        self.resize(device, camera.width, camera.height)?;
        self.prepare(device, queue, frame, camera)?;
        self.draw(encoder, target);
        Ok(())
    }

    /// Uploads uniforms and meshes and builds the particle and GPU-mesh bind groups.
    fn prepare(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        frame: &Frame,
        camera: &Camera,
    ) -> Result<(), RenderError> {
        let view = camera.view();
        let light = Vec3::new(-0.3, 1.0, 0.5).normalize();
        let globals = Globals {
            view_proj: camera.view_proj().to_cols_array_2d(),
            view: view.to_cols_array_2d(),
            proj: camera.proj().to_cols_array_2d(),
            light_world: light.extend(0.0).to_array(),
            light_view: view.transform_vector3(light).extend(0.0).to_array(),
            eye: camera.eye.extend(1.0).to_array(),
            bg_top: [0.70, 0.77, 0.86, 1.0],
            bg_bottom: [0.93, 0.94, 0.96, 1.0],
        };
        queue.write_buffer(&self.globals, 0, bytemuck::bytes_of(&globals));
        self.prepare_particles(device, queue, frame.particles)?;
        self.prepare_meshes(device, queue, frame.meshes);
        self.prepare_gpu_meshes(device, queue, frame.gpu_meshes)?;
        self.prepare_tubes(device, queue, frame.tubes)
    }

    fn prepare_particles(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        views: &[ParticleView],
    ) -> Result<(), RenderError> {
        self.particle_draws.clear();
        // Largest binding, in whole particles and a multiple of 16 (256-byte offsets).
        let max_binding = device.limits().max_storage_buffer_binding_size;
        let chunk = (max_binding / PARTICLE_BYTES / 16 * 16).clamp(16, u32::MAX as u64 / 16 * 16);
        for (i, v) in views.iter().enumerate() {
            let capacity = v.buffer.size() / PARTICLE_BYTES;
            if v.count as u64 > capacity {
                return Err(RenderError::ParticleBuffer {
                    count: v.count,
                    capacity,
                });
            }
            if v.count == 0 {
                continue;
            }
            let palette = if v.palette.is_empty() {
                &DEFAULT_PALETTE[..]
            } else {
                &v.palette[..]
            };
            let stride = v.stride.max(1);
            let mut params = ParticleParams {
                radius: v.radius * (stride as f32).cbrt(),
                mode: match v.color_mode {
                    ColorMode::Categorical => 0,
                    ColorMode::Scalar => 1,
                },
                palette_len: palette.len().min(MAX_PALETTE) as u32,
                stride,
                palette: [[0.0; 4]; MAX_PALETTE],
            };
            for (dst, src) in params.palette.iter_mut().zip(palette) {
                *dst = [src[0], src[1], src[2], 1.0];
            }
            if self.particle_params.len() <= i {
                self.particle_params
                    .push(device.create_buffer(&wgpu::BufferDescriptor {
                        label: Some("render particle params"),
                        size: std::mem::size_of::<ParticleParams>() as u64,
                        usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                        mapped_at_creation: false,
                    }));
            }
            queue.write_buffer(&self.particle_params[i], 0, bytemuck::bytes_of(&params));
            let mut start = 0u64;
            while start < v.count as u64 {
                let n = chunk.min(v.count as u64 - start);
                let bind = device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some("render particles"),
                    layout: &self.particle_layout,
                    entries: &[
                        wgpu::BindGroupEntry {
                            binding: 0,
                            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                                buffer: v.buffer,
                                offset: start * PARTICLE_BYTES,
                                size: NonZeroU64::new(n * PARTICLE_BYTES),
                            }),
                        },
                        wgpu::BindGroupEntry {
                            binding: 1,
                            resource: self.particle_params[i].as_entire_binding(),
                        },
                    ],
                });
                self.particle_draws
                    .push((bind, n.div_ceil(u64::from(stride)) as u32));
                start += n;
            }
        }
        Ok(())
    }

    fn prepare_gpu_meshes(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        views: &[GpuMeshView],
    ) -> Result<(), RenderError> {
        let mut draws = Vec::new();
        for (i, v) in views.iter().enumerate() {
            let capacity = v.indices.size() / 12;
            if v.triangles as u64 > capacity {
                return Err(RenderError::GpuMeshBuffer {
                    triangles: v.triangles,
                    capacity,
                });
            }
            if v.triangles > 0 {
                let scalar = v.color_mode == ColorMode::Scalar;
                let bind = Self::pulled_bind_group(
                    device,
                    queue,
                    &self.gpu_mesh_layout,
                    &mut self.gpu_mesh_params,
                    i,
                    [v.vertices, v.indices],
                    v.color,
                    scalar,
                );
                draws.push((bind, 3 * v.triangles));
            }
        }
        self.gpu_mesh_draws = draws;
        Ok(())
    }

    fn prepare_tubes(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        views: &[GpuTubeView],
    ) -> Result<(), RenderError> {
        let mut draws = Vec::new();
        for (i, v) in views.iter().enumerate() {
            let capacity = v.segments.size() / 8;
            if v.count as u64 > capacity {
                return Err(RenderError::GpuTubeBuffer {
                    count: v.count,
                    capacity,
                });
            }
            if v.count > 0 {
                let bind = Self::pulled_bind_group(
                    device,
                    queue,
                    &self.gpu_mesh_layout,
                    &mut self.tube_params,
                    i,
                    [v.vertices, v.segments],
                    v.color,
                    false,
                );
                draws.push((bind, 6 * v.count));
            }
        }
        self.tube_draws = draws;
        Ok(())
    }

    /// The bind group of a view whose vertices the shader pulls from two
    /// storage buffers, with its colour uniform (slot `i` of `params`, grown
    /// on demand).
    #[allow(clippy::too_many_arguments)]
    fn pulled_bind_group(
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        layout: &wgpu::BindGroupLayout,
        params: &mut Vec<wgpu::Buffer>,
        i: usize,
        buffers: [&wgpu::Buffer; 2],
        color: [f32; 4],
        scalar: bool,
    ) -> wgpu::BindGroup {
        while params.len() <= i {
            params.push(device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("render pulled-vertex params"),
                size: std::mem::size_of::<GpuMeshParams>() as u64,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }));
        }
        let p = GpuMeshParams {
            color,
            mode: u32::from(scalar),
            _pad: [0; 3],
        };
        queue.write_buffer(&params[i], 0, bytemuck::bytes_of(&p));
        device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("render pulled vertices"),
            layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: buffers[0].as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: buffers[1].as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 2,
                    resource: params[i].as_entire_binding(),
                },
            ],
        })
    }

    /// Concatenates the meshes (opaque first) with area-weighted vertex normals and uploads them.
    fn prepare_meshes(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        meshes: &[MeshInstance],
    ) {
        let (vertices, indices) = (&mut self.scratch_vertices, &mut self.scratch_indices);
        vertices.clear();
        indices.clear();
        let mut opaque = 0;
        for transparent in [false, true] {
            for m in meshes.iter().filter(|m| (m.color[3] < 1.0) == transparent) {
                let base = vertices.len();
                vertices.extend(m.positions.iter().map(|&position| MeshVertex {
                    position,
                    normal: [0.0; 3],
                    color: m.color.map(|c| c.clamp(0.0, 1.0)),
                }));
                for t in m.indices.chunks_exact(3) {
                    // Triangles referring to missing vertices are skipped.
                    if t.iter().any(|&k| k as usize >= m.positions.len()) {
                        continue;
                    }
                    let [a, b, c] = [t[0], t[1], t[2]].map(|k| Vec3::from(m.positions[k as usize]));
                    let n = (b - a).cross(c - a);
                    for &k in t {
                        let v = &mut vertices[base + k as usize];
                        v.normal = (Vec3::from(v.normal) + n).to_array();
                        indices.push(base as u32 + k);
                    }
                }
            }
            if !transparent {
                opaque = indices.len() as u32;
            }
        }
        self.mesh_counts = (opaque, indices.len() as u32 - opaque);
        let (vbytes, ibytes): (&[u8], &[u8]) = (
            bytemuck::cast_slice(vertices),
            bytemuck::cast_slice(indices),
        );
        if vbytes.len() as u64 > self.mesh_vertices.size() {
            self.mesh_vertices =
                mesh_buffer(device, vbytes.len() as u64, wgpu::BufferUsages::VERTEX);
        }
        if ibytes.len() as u64 > self.mesh_indices.size() {
            self.mesh_indices = mesh_buffer(device, ibytes.len() as u64, wgpu::BufferUsages::INDEX);
        }
        if !ibytes.is_empty() {
            queue.write_buffer(&self.mesh_vertices, 0, vbytes);
            queue.write_buffer(&self.mesh_indices, 0, ibytes);
        }
    }

    /// Records the render pass of the prepared frame.
    fn draw(&self, encoder: &mut wgpu::CommandEncoder, target: &wgpu::TextureView) {
        let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
            label: Some("render"),
            color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                view: target,
                depth_slice: None,
                resolve_target: None,
                ops: wgpu::Operations {
                    load: wgpu::LoadOp::Clear(wgpu::Color::BLACK),
                    store: wgpu::StoreOp::Store,
                },
            })],
            depth_stencil_attachment: Some(wgpu::RenderPassDepthStencilAttachment {
                view: &self.targets.depth_view,
                depth_ops: Some(wgpu::Operations {
                    load: wgpu::LoadOp::Clear(0.0),
                    store: wgpu::StoreOp::Discard,
                }),
                stencil_ops: None,
            }),
            timestamp_writes: None,
            occlusion_query_set: None,
            multiview_mask: None,
        });
        pass.set_bind_group(0, &self.globals_bind, &[]);
        pass.set_pipeline(&self.background);
        pass.draw(0..3, 0..1);
        let (opaque, transparent) = self.mesh_counts;
        if opaque + transparent > 0 {
            pass.set_vertex_buffer(0, self.mesh_vertices.slice(..));
            pass.set_index_buffer(self.mesh_indices.slice(..), wgpu::IndexFormat::Uint32);
        }
        if opaque > 0 {
            pass.set_pipeline(&self.mesh_opaque);
            pass.draw_indexed(0..opaque, 0, 0..1);
        }
        for (pipeline, draws) in [
            (&self.gpu_mesh, &self.gpu_mesh_draws),
            (&self.tubes, &self.tube_draws),
        ] {
            if draws.is_empty() {
                continue;
            }
            pass.set_pipeline(pipeline);
            for (bind, vertices) in draws {
                pass.set_bind_group(1, bind, &[]);
                pass.draw(0..*vertices, 0..1);
            }
        }
        pass.set_pipeline(&self.particles);
        for (bind, count) in &self.particle_draws {
            pass.set_bind_group(1, bind, &[]);
            pass.draw(0..3 * *count, 0..1);
        }
        if transparent > 0 {
            pass.set_pipeline(&self.mesh_transparent);
            pass.draw_indexed(opaque..opaque + transparent, 0, 0..1);
        }
    }
}

#[cfg(test)]
mod tests {
    use ductile_gpu::{ShaderConfig, ShaderLibrary};

    /// The renderer's shaders pass naga in every configuration the library checks.
    #[test]
    fn shaders_validate() {
        for name in [
            "render/background",
            "render/mesh",
            "render/particles",
            "render/gpu_mesh",
            "render/tubes",
        ] {
            for config in ShaderConfig::all() {
                if let Err(e) = ShaderLibrary::validate(name, config) {
                    panic!("{e}");
                }
            }
        }
    }

    #[test]
    fn uniform_layouts_match_wgsl() {
        assert_eq!(std::mem::size_of::<super::Globals>(), 3 * 64 + 5 * 16);
        assert_eq!(
            std::mem::size_of::<super::ParticleParams>(),
            16 + 16 * super::MAX_PALETTE
        );
        assert_eq!(std::mem::size_of::<super::MeshVertex>(), 40);
    }
}
