//! The test suite's second solver (`springs.wgsl`): damped mass-spring
//! points, symplectic Euler, with hand-written adjoints, implementing
//! [`Solver`] from outside the library. It owns its model (springs, rest
//! lengths, masses, stiffness, damping) and two states (x, v), and stores
//! 6 Reals per point in a checkpoint; it keeps no replay cache.

use ductile::gpu::{
    bytes_to_reals, read_buffer, reals_to_bytes, storage_buffer, storage_buffer_zeroed, BufferUse,
    GpuContext, GpuTimer, Kernel, Precision, ShaderConfig,
};
use ductile::sim::error::SimError;
use ductile::sim::world::{
    encode_restore_fields, encode_save_fields, PointBody, PointSet, Solver, SolverGradients,
    SurfaceView, WorldBuffers,
};
use ductile::sim::Simulation;
use std::any::Any;

const SRC: &str = include_str!("springs.wgsl");
const MODULE: &str = "test/springs";

/// What the spring solver is built from.
pub struct SpringDesc {
    /// Initial positions [m].
    pub x: Vec<[f64; 3]>,
    /// Initial velocities [m/s].
    pub v: Vec<[f64; 3]>,
    /// Point masses [kg].
    pub mass: Vec<f64>,
    /// Point pairs; rest lengths are the initial distances.
    pub springs: Vec<(u32, u32)>,
    /// Stiffness k [N/m] of every spring.
    pub stiffness: f64,
    /// Damping c [N·s/m] of every spring.
    pub damping: f64,
    /// Triangles of the surface to draw (point indices); may be empty.
    pub faces: Vec<[u32; 3]>,
}

struct AdjointParts {
    adj: [wgpu::Buffer; 2],
    fbar: wgpu::Buffer,
    pgrad: wgpu::Buffer,
    k_points: Kernel,
    k_springs: Kernel,
    k_params: Kernel,
    bg_points: [wgpu::BindGroup; 2],
    bg_springs: [wgpu::BindGroup; 2],
    bg_params: wgpu::BindGroup,
}

/// Damped mass-spring points.
pub struct SpringSolver {
    n: u32,
    s: u32,
    precision: Precision,
    config: ShaderConfig,
    ints: wgpu::Buffer,
    reals: wgpu::Buffer,
    reals_host: Vec<f64>,
    springs: wgpu::Buffer,
    rest: wgpu::Buffer,
    mass_buf: wgpu::Buffer,
    mass: Vec<f64>,
    /// Positions per parity, 3 Reals per point.
    pub x: [wgpu::Buffer; 2],
    /// Velocities per parity.
    pub v: [wgpu::Buffer; 2],
    /// The couplings' force on each point [N], 3 Reals per point.
    pub ext: wgpu::Buffer,
    /// ∂L/∂(couplings' force), 3 Reals per point (adjoint only).
    pub ext_bar: wgpu::Buffer,
    tags: wgpu::Buffer,
    params: wgpu::Buffer,
    step: Kernel,
    bg_step: [wgpu::BindGroup; 2],
    adjoint: Option<AdjointParts>,
    /// The drawn surface: packed f32 positions, triangle indices, and the
    /// packing kernel per parity.
    surface: Option<(
        wgpu::Buffer,
        wgpu::Buffer,
        u32,
        Kernel,
        [wgpu::BindGroup; 2],
    )>,
}

impl SpringSolver {
    /// Builds the solver's buffers and forward kernel in `sim`'s world
    /// (its dt, gravity and precision).
    pub fn new(ctx: &GpuContext, sim: &Simulation, d: &SpringDesc) -> Result<Self, SimError> {
        let config = sim.config();
        let p = config.precision;
        let n = d.x.len() as u32;
        let s = d.springs.len() as u32;
        let flat = |a: &[[f64; 3]]| a.iter().flatten().copied().collect::<Vec<f64>>();
        let real_buf = |label: &str, v: &[f64]| {
            let mut v = v.to_vec();
            v.resize(v.len().max(2), 0.0);
            storage_buffer(ctx, label, &reals_to_bytes(&v, p), BufferUse::Storage)
        };
        let dt = sim.info().dt;
        let gravity = scene_gravity(sim);
        let reals_host = vec![
            dt,
            gravity[0],
            gravity[1],
            gravity[2],
            d.stiffness,
            d.damping,
            1.0,
            0.0,
        ];
        let mut pairs: Vec<u32> = d.springs.iter().flat_map(|&(a, b)| [a, b]).collect();
        pairs.resize(pairs.len().max(2), 0);
        let rest: Vec<f64> = d
            .springs
            .iter()
            .map(|&(a, b)| {
                let (xa, xb) = (d.x[a as usize], d.x[b as usize]);
                ((xb[0] - xa[0]).powi(2) + (xb[1] - xa[1]).powi(2) + (xb[2] - xa[2]).powi(2)).sqrt()
            })
            .collect();
        let zeros = |label: &str, reals: u64| {
            storage_buffer_zeroed(ctx, label, reals.max(2) * p.bytes(), BufferUse::Storage)
        };
        let x = [
            real_buf("springs.x0", &flat(&d.x))?,
            zeros("springs.x1", 3 * n as u64)?,
        ];
        let v = [
            real_buf("springs.v0", &flat(&d.v))?,
            zeros("springs.v1", 3 * n as u64)?,
        ];
        let ints = storage_buffer(
            ctx,
            "springs.ints",
            bytemuck::cast_slice(&[n, s, 0, 0]),
            BufferUse::Storage,
        )?;
        let reals = real_buf("springs.reals", &reals_host)?;
        let springs = storage_buffer(
            ctx,
            "springs.pairs",
            bytemuck::cast_slice(&pairs),
            BufferUse::Storage,
        )?;
        let rest = real_buf("springs.rest", &rest)?;
        let mass_buf = real_buf("springs.mass", &d.mass)?;
        let ext = zeros("springs.ext", 3 * n as u64)?;
        let step = Kernel::from_source(ctx, MODULE, SRC, "spring_step", config)?;
        let bg_step = [0usize, 1].map(|par| {
            step.bind_used(
                ctx,
                &[
                    (0, &ints),
                    (1, &reals),
                    (2, &springs),
                    (3, &rest),
                    (4, &mass_buf),
                    (5, &x[par]),
                    (6, &v[par]),
                    (7, &x[1 - par]),
                    (8, &v[1 - par]),
                    (9, &ext),
                ],
            )
        });
        let surface = if d.faces.is_empty() {
            None
        } else {
            let packed =
                storage_buffer_zeroed(ctx, "springs.packed", 16 * n as u64, BufferUse::Storage)?;
            let corners: Vec<u32> = d.faces.iter().flatten().copied().collect();
            let indices = storage_buffer(
                ctx,
                "springs.faces",
                bytemuck::cast_slice(&corners),
                BufferUse::Storage,
            )?;
            let pack = Kernel::from_source(ctx, MODULE, SRC, "spring_pack", config)?;
            let bg = [0usize, 1]
                .map(|par| pack.bind_used(ctx, &[(0, &ints), (5, &x[par]), (15, &packed)]));
            Some((packed, indices, d.faces.len() as u32, pack, bg))
        };
        let solver = SpringSolver {
            n,
            s,
            precision: p,
            config,
            ints,
            reals,
            reals_host,
            springs,
            rest,
            mass_buf,
            mass: d.mass.clone(),
            x,
            v,
            ext,
            ext_bar: zeros("springs.ext_bar", 3 * n as u64)?,
            tags: storage_buffer_zeroed(
                ctx,
                "springs.tags",
                4 * n.max(1) as u64,
                BufferUse::Storage,
            )?,
            params: sim.mpm().point_params(ctx, n),
            step,
            bg_step,
            adjoint: None,
            surface,
        };
        Ok(solver)
    }

    /// Number of points.
    pub fn count(&self) -> u32 {
        self.n
    }

    /// (stiffness [N/m], damping [N·s/m]).
    pub fn stiffness_damping(&self) -> [f64; 2] {
        [self.reals_host[4], self.reals_host[5]]
    }

    /// Writes stiffness and damping (the caller marks its rollout stale).
    pub fn set_stiffness_damping(&mut self, ctx: &GpuContext, k: f64, c: f64) {
        self.reals_host[4] = k;
        self.reals_host[5] = c;
        self.write_reals(ctx);
    }

    /// Scales the adjoint's spring-force pullback by `factor` (1: exact; else a planted error).
    pub fn plant_adjoint_error(&mut self, ctx: &GpuContext, factor: f64) {
        self.reals_host[6] = factor;
        self.write_reals(ctx);
    }

    fn write_reals(&self, ctx: &GpuContext) {
        ctx.queue.write_buffer(
            &self.reals,
            0,
            &reals_to_bytes(&self.reals_host, self.precision),
        );
    }

    fn parts(&self) -> Option<&AdjointParts> {
        self.adjoint.as_ref()
    }

    /// Both adjoint states (6 Reals per point, entry-major), once enabled.
    pub fn adjoint_states(&self) -> Option<[&wgpu::Buffer; 2]> {
        self.parts().map(|a| [&a.adj[0], &a.adj[1]])
    }

    fn pass<'e>(enc: &'e mut wgpu::CommandEncoder, label: &str) -> wgpu::ComputePass<'e> {
        enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some(label),
            timestamp_writes: None,
        })
    }
}

/// The scene's gravity [m/s²] as the simulation was built with it.
fn scene_gravity(sim: &Simulation) -> [f64; 3] {
    let p = sim.info().precision;
    let bytes = &sim.model().params_host[24 * 4..];
    let r = bytes_to_reals(bytes, p);
    [r[4], r[5], r[6]]
}

impl Solver for SpringSolver {
    fn name(&self) -> &str {
        "springs"
    }

    fn encode_substep(
        &mut self,
        enc: &mut wgpu::CommandEncoder,
        parity: usize,
        _timer: &mut GpuTimer,
    ) {
        let mut pass = Self::pass(enc, "spring_step");
        self.step
            .dispatch_1d(&mut pass, &[&self.bg_step[parity]], self.n);
    }

    fn encode_clear_coupling_inputs(&self, enc: &mut wgpu::CommandEncoder) {
        enc.clear_buffer(&self.ext, 0, None);
    }

    fn stored_bytes(&self) -> u64 {
        6 * self.n as u64 * self.precision.bytes()
    }

    fn encode_save(
        &self,
        enc: &mut wgpu::CommandEncoder,
        parity: usize,
        dst: &wgpu::Buffer,
        offset: u64,
    ) {
        let fields = [&self.x[parity], &self.v[parity]];
        encode_save_fields(
            enc,
            &fields,
            3 * self.n as u64 * self.precision.bytes(),
            dst,
            offset,
        );
    }

    fn encode_restore(
        &self,
        enc: &mut wgpu::CommandEncoder,
        src: &wgpu::Buffer,
        offset: u64,
        parity: usize,
    ) {
        let fields = [&self.x[parity], &self.v[parity]];
        encode_restore_fields(
            enc,
            src,
            offset,
            &fields,
            3 * self.n as u64 * self.precision.bytes(),
        );
    }

    fn adjoint_bytes(&self) -> u64 {
        (12 + 3) * self.n as u64 * self.precision.bytes()
            + 2 * self.s as u64 * self.precision.bytes()
    }

    fn enable_adjoint(&mut self, ctx: &GpuContext, _world: &WorldBuffers) -> Result<u64, SimError> {
        let r = self.precision.bytes();
        let z = |label: &str, reals: u64| {
            storage_buffer_zeroed(ctx, label, reals.max(2) * r, BufferUse::Storage)
        };
        let adj = [
            z("springs.adj0", 6 * self.n as u64)?,
            z("springs.adj1", 6 * self.n as u64)?,
        ];
        let fbar = z("springs.fbar", 3 * self.n as u64)?;
        let pgrad = z("springs.pgrad", 2 * self.s as u64)?;
        let k = |e: &str| Kernel::from_source(ctx, MODULE, SRC, e, self.config);
        let (k_points, k_springs, k_params) = (
            k("spring_adj_points")?,
            k("spring_adj_springs")?,
            k("spring_adj_params")?,
        );
        let all = |cur: usize| -> Vec<(u32, &wgpu::Buffer)> {
            vec![
                (0, &self.ints),
                (1, &self.reals),
                (2, &self.springs),
                (3, &self.rest),
                (4, &self.mass_buf),
                (5, &self.x[0]),
                (6, &self.v[0]),
                (10, &adj[cur]),
                (11, &adj[1 - cur]),
                (12, &fbar),
                (13, &self.ext_bar),
                (14, &pgrad),
            ]
        };
        let bg_points = [0, 1].map(|c| k_points.bind_used(ctx, &all(c)));
        let bg_springs = [0, 1].map(|c| k_springs.bind_used(ctx, &all(c)));
        let bg_params = k_params.bind_used(ctx, &all(0));
        let bytes = self.adjoint_bytes();
        self.adjoint = Some(AdjointParts {
            adj,
            fbar,
            pgrad,
            k_points,
            k_springs,
            k_params,
            bg_points,
            bg_springs,
            bg_params,
        });
        Ok(bytes)
    }

    fn encode_clear_adjoint(&self, enc: &mut wgpu::CommandEncoder) {
        if let Some(a) = self.parts() {
            for b in [&a.adj[0], &a.adj[1], &a.fbar, &a.pgrad, &self.ext_bar] {
                enc.clear_buffer(b, 0, None);
            }
        }
    }

    fn encode_adjoint_substep(&self, enc: &mut wgpu::CommandEncoder, cur: usize) {
        let Some(a) = self.parts() else { return };
        let mut pass = Self::pass(enc, "spring adjoint");
        a.k_points
            .dispatch_1d(&mut pass, &[&a.bg_points[cur]], self.n);
        a.k_springs
            .dispatch_1d(&mut pass, &[&a.bg_springs[cur]], self.n);
        if self.s > 0 {
            a.k_params.dispatch_1d(&mut pass, &[&a.bg_params], self.s);
        }
    }

    fn read_gradients(&self, ctx: &GpuContext, cur: usize) -> Result<SolverGradients, SimError> {
        let a = self
            .parts()
            .ok_or_else(|| SimError::Other("spring gradients not enabled".into()))?;
        let p = self.precision;
        let n = self.n as usize;
        let adj = bytes_to_reals(&read_buffer(ctx, &a.adj[cur], 6 * n as u64 * p.bytes())?, p);
        let point_major = |e0: usize| -> Vec<f64> {
            (0..n)
                .flat_map(|i| (0..3).map(move |k| (i, k)))
                .map(|(i, k)| adj[(e0 + k) * n + i])
                .collect()
        };
        let pg = bytes_to_reals(
            &read_buffer(ctx, &a.pgrad, 2 * (self.s.max(1)) as u64 * p.bytes())?,
            p,
        );
        let (mut dk, mut dc) = (0.0, 0.0);
        for s in 0..self.s as usize {
            dk += pg[2 * s];
            dc += pg[2 * s + 1];
        }
        Ok(SolverGradients {
            solver: "springs".into(),
            groups: vec![
                ("x0".into(), point_major(0)),
                ("v0".into(), point_major(3)),
                ("stiffness_damping".into(), vec![dk, dc]),
            ],
        })
    }

    fn points(&self, solver: usize) -> PointSet<'_> {
        PointSet {
            solver,
            count: self.n,
            x: [&self.x[0], &self.x[1]],
            v: [&self.v[0], &self.v[1]],
            adj: self.adjoint_states(),
            tags: &self.tags,
            params: &self.params,
            bodies: vec![PointBody {
                name: "springs".into(),
                range: 0..self.n,
                point_mass: self.mass.first().copied().unwrap_or(0.0),
            }],
            bins: None,
        }
    }

    fn encode_render_pack(
        &self,
        _ctx: &GpuContext,
        enc: &mut wgpu::CommandEncoder,
        parity: usize,
        _color: ductile::sim::PackColor,
    ) {
        if let Some((_, _, _, pack, bg)) = &self.surface {
            let mut pass = Self::pass(enc, "spring pack");
            pack.dispatch_1d(&mut pass, &[&bg[parity]], self.n);
        }
    }

    fn surface(&self) -> Option<SurfaceView<'_>> {
        self.surface
            .as_ref()
            .map(|(vertices, indices, triangles, _, _)| SurfaceView {
                vertices,
                indices,
                vertex_count: self.n,
                triangles: *triangles,
            })
    }

    fn describe_item(&self, index: u32) -> String {
        format!("spring point {index}")
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}
