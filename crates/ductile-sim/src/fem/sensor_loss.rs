//! The losses on a tactile sensor's outputs ([`crate::loss::LossTerms`]),
//! evaluated on the GPU (`shaders/fem/sensor.wgsl`) and seeded into the
//! pad's adjoint (`fem/sensor_adj.wgsl`):
//! - [`MarkerTrack`]: at chosen substeps, w · mean over markers of
//!   |(u, v) − target|² [px²]; its gradient reaches the pad's nodes and,
//!   through the sensor frame's base nodes, the pose of the tool the pad is
//!   mounted on.
//! - [`ForceTarget`]: the scene's `ContactForce` term, w |S (F − target)|²
//!   [N²] on the net contact force in the camera's axes; its seed enters
//!   the adjoint of the substep the force came from (through the pad's
//!   `force_seed`), so its gradient reaches everything that force depends
//!   on: the pad's state, the tools' controls, the contact parameters and
//!   the MPM matter it touches.

use super::solver::FemSolver;
use crate::error::SimError;
use crate::loss::LossTerms;
use crate::Simulation;
use ductile_gpu::{
    bytes_to_reals, read_buffer, reals_to_bytes, storage_buffer, storage_buffer_zeroed, BufferUse,
    GpuContext, Kernel, Precision,
};

const NO_ROW: u32 = u32::MAX;

/// FEM solver `fem` of `sim` with its sensor and adjoint states, or an
/// error naming `what` (the loss) and the missing piece.
fn sensor_body<'a>(
    sim: &'a Simulation,
    fem: usize,
    what: &str,
) -> Result<
    (
        &'a FemSolver,
        &'a super::sensor::Sensor,
        [&'a wgpu::Buffer; 2],
    ),
    SimError,
> {
    let body = sim
        .world
        .solver::<FemSolver>(fem)
        .ok_or_else(|| SimError::Other(format!("{what}: solver {fem} is not an FEM body")))?;
    let sensor = body
        .sensor()
        .ok_or_else(|| SimError::Other(format!("{what}: FEM body {fem} has no sensor")))?;
    let adj = body
        .adjoint_states()
        .ok_or_else(|| SimError::Other(format!("{what}: FEM adjoint not enabled")))?;
    Ok((body, sensor, adj))
}

/// A loss's planted-error factor (1: exact) and its accumulated value.
fn planted_and_value(
    ctx: &GpuContext,
    what: &str,
    p: Precision,
) -> Result<(wgpu::Buffer, wgpu::Buffer), SimError> {
    let planted = storage_buffer(
        ctx,
        &format!("{what} planted"),
        &reals_to_bytes(&[1.0, 0.0], p),
        BufferUse::Storage,
    )?;
    let value = storage_buffer_zeroed(
        ctx,
        &format!("{what} value"),
        2 * p.bytes(),
        BufferUse::Storage,
    )?;
    Ok((planted, value))
}

/// Marker targets [px] per substep for an FEM pad's sensor.
pub struct MarkerTrack {
    nodes: u32,
    markers: u32,
    /// Substep of each target row.
    steps: Vec<usize>,
    total_steps: usize,
    step_row_host: Vec<u32>,
    step_row: wgpu::Buffer,
    planted: wgpu::Buffer,
    lvalue: wgpu::Buffer,
    k_eval: Kernel,
    k_partials: Kernel,
    k_gather: Kernel,
    bg_eval: [wgpu::BindGroup; 2],
    bg_partials: [wgpu::BindGroup; 2],
    bg_gather: [wgpu::BindGroup; 2],
    precision: Precision,
}

impl MarkerTrack {
    /// The loss on FEM solver `fem` (world index, with a sensor and its
    /// adjoint enabled) of a rollout of `total_steps` substeps: at substep
    /// `rows[r].0`, the markers' pixels against `rows[r].1` (one target per
    /// marker), weighted by `weight`.
    pub fn new(
        ctx: &GpuContext,
        sim: &Simulation,
        fem: usize,
        total_steps: usize,
        rows: &[(usize, Vec<[f64; 2]>)],
        weight: f64,
    ) -> Result<Self, SimError> {
        let (body, sensor, adj) = sensor_body(sim, fem, "marker loss")?;
        let config = sim.config();
        let p = config.precision;
        let markers = sensor.marker_count();
        let nodes = body.node_count();
        let mut step_row_host = vec![NO_ROW; total_steps + 1];
        let mut targets = Vec::with_capacity(rows.len() * 2 * markers as usize);
        for (r, (step, t)) in rows.iter().enumerate() {
            if *step > total_steps {
                return Err(SimError::Other(format!(
                    "marker target row {r} at substep {step}, after the rollout's {total_steps}"
                )));
            }
            if t.len() != markers as usize {
                return Err(SimError::Other(format!(
                    "marker target row {r} has {} markers; the sensor has {markers}",
                    t.len()
                )));
            }
            step_row_host[*step] = r as u32;
            targets.extend(t.iter().flatten());
        }
        let mut reals = sensor.reals_host.clone();
        reals[28] = weight;
        let reals = storage_buffer(
            ctx,
            "marker loss reals",
            &reals_to_bytes(&reals, p),
            BufferUse::Storage,
        )?;
        let targets = storage_buffer(
            ctx,
            "marker targets",
            &reals_to_bytes(&targets, p),
            BufferUse::Storage,
        )?;
        let step_row = storage_buffer(
            ctx,
            "marker target rows",
            bytemuck::cast_slice(&step_row_host),
            BufferUse::Storage,
        )?;
        let (planted, lvalue) = planted_and_value(ctx, "marker loss", p)?;
        let partial = storage_buffer_zeroed(
            ctx,
            "marker loss partials",
            18 * u64::from(markers) * p.bytes(),
            BufferUse::Storage,
        )?;
        let mut start = vec![0u32; nodes as usize + 1];
        for t in &sensor.markers.tri {
            for &i in t {
                start[i as usize + 1] += 1;
            }
        }
        for i in 0..nodes as usize {
            start[i + 1] += start[i];
        }
        let mut fill = start.clone();
        let mut entry = vec![0u32; 3 * markers as usize];
        for (m, t) in sensor.markers.tri.iter().enumerate() {
            for (k, &i) in t.iter().enumerate() {
                entry[fill[i as usize] as usize] = 3 * m as u32 + k as u32;
                fill[i as usize] += 1;
            }
        }
        let node_start = storage_buffer(
            ctx,
            "marker loss node start",
            bytemuck::cast_slice(&start),
            BufferUse::Storage,
        )?;
        let node_entry = storage_buffer(
            ctx,
            "marker loss node entries",
            bytemuck::cast_slice(&entry),
            BufferUse::Storage,
        )?;
        let k_eval = Kernel::new(ctx, "fem/sensor", "marker_loss_eval", config)?;
        let k_partials = Kernel::new(ctx, "fem/sensor_adj", "marker_loss_partials", config)?;
        let k_gather = Kernel::new(ctx, "fem/sensor_adj", "marker_loss_gather", config)?;
        let clock = sim.clock();
        let list = |parity: usize, cur: usize| -> Vec<(u32, &wgpu::Buffer)> {
            vec![
                (0, &sensor.ints),
                (1, &reals),
                (2, &body.x[parity]),
                (3, &sensor.tri),
                (4, &sensor.bary),
                (6, &targets),
                (7, &step_row),
                (8, clock),
                (9, &lvalue),
                (10, &partial),
                (11, &node_start),
                (12, &node_entry),
                (13, adj[cur]),
                (14, &planted),
            ]
        };
        let bg_eval = [0, 1].map(|par| k_eval.bind_used(ctx, &list(par, 0)));
        let bg_partials = [0, 1].map(|par| k_partials.bind_used(ctx, &list(par, 0)));
        let bg_gather = [0, 1].map(|cur| k_gather.bind_used(ctx, &list(0, cur)));
        Ok(MarkerTrack {
            nodes,
            markers,
            steps: rows.iter().map(|r| r.0).collect(),
            total_steps,
            step_row_host,
            step_row,
            planted,
            lvalue,
            k_eval,
            k_partials,
            k_gather,
            bg_eval,
            bg_partials,
            bg_gather,
            precision: p,
        })
    }

    /// Scales the loss's seed by `factor` (1: exact; anything else plants a
    /// wrong adjoint, for the tests that show a check fails on one).
    pub fn plant_adjoint_error(&self, ctx: &GpuContext, factor: f64) {
        ctx.queue.write_buffer(
            &self.planted,
            0,
            &reals_to_bytes(&[factor, 0.0], self.precision),
        );
    }

    fn pass<'e>(enc: &'e mut wgpu::CommandEncoder, label: &str) -> wgpu::ComputePass<'e> {
        enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some(label),
            timestamp_writes: None,
        })
    }
}

impl LossTerms for MarkerTrack {
    fn len(&self) -> usize {
        1
    }

    fn active_at(&self, step: usize) -> bool {
        self.step_row_host.get(step).is_some_and(|&r| r != NO_ROW)
    }

    fn set_window(&mut self, ctx: &GpuContext, end: Option<usize>) {
        let end = end.unwrap_or(self.total_steps);
        self.step_row_host = vec![NO_ROW; self.total_steps + 1];
        for (r, &s) in self.steps.iter().enumerate() {
            if s <= end {
                self.step_row_host[s] = r as u32;
            }
        }
        ctx.queue
            .write_buffer(&self.step_row, 0, bytemuck::cast_slice(&self.step_row_host));
    }

    fn clear(&self, enc: &mut wgpu::CommandEncoder) {
        enc.clear_buffer(&self.lvalue, 0, None);
    }

    fn encode_eval(&self, enc: &mut wgpu::CommandEncoder, parity: usize) {
        let mut pass = Self::pass(enc, "marker loss");
        self.k_eval
            .dispatch(&mut pass, &[&self.bg_eval[parity]], [1, 1, 1]);
    }

    fn encode_seed(&self, enc: &mut wgpu::CommandEncoder, parity: usize, adj: usize) {
        let mut pass = Self::pass(enc, "marker loss seed");
        self.k_partials.dispatch(
            &mut pass,
            &[&self.bg_partials[parity]],
            [self.markers.div_ceil(64), 1, 1],
        );
        self.k_gather
            .dispatch_1d(&mut pass, &[&self.bg_gather[adj]], self.nodes);
    }

    fn values(&self, ctx: &GpuContext, precision: Precision) -> Result<Vec<f64>, SimError> {
        let v = bytes_to_reals(
            &read_buffer(ctx, &self.lvalue, precision.bytes())?,
            precision,
        );
        Ok(vec![v[0]])
    }
}

/// The scene's `ContactForce` loss term on an FEM pad's sensor.
pub struct ForceTarget {
    nodes: u32,
    steps: Vec<f64>,
    full: Vec<f64>,
    factors: wgpu::Buffer,
    planted: wgpu::Buffer,
    lvalue: wgpu::Buffer,
    k_eval: Kernel,
    k_seed: Kernel,
    bg_eval: [wgpu::BindGroup; 2],
    bg_seed: [[wgpu::BindGroup; 2]; 2],
    precision: Precision,
}

impl ForceTarget {
    /// The term on FEM solver `fem` (world index, with a sensor and its
    /// adjoint enabled) for a rollout of `total_steps` substeps: weight
    /// factor `factors[s]` at substep s (0 where inactive; s = 0 has no
    /// force and must be 0), target [N] and axis mask in the camera's axes.
    pub fn new(
        ctx: &GpuContext,
        sim: &Simulation,
        fem: usize,
        factors: Vec<f64>,
        target: [f64; 3],
        axes: [bool; 3],
        weight: f64,
    ) -> Result<Self, SimError> {
        let (body, sensor, adj) = sensor_body(sim, fem, "ContactForce")?;
        let seed = body
            .force_seed()
            .ok_or_else(|| SimError::Other("force loss: FEM adjoint not enabled".into()))?;
        if factors.first().is_some_and(|&f| f != 0.0) {
            return Err(SimError::Other(
                "ContactForce: the initial state has no contact force (substep 0)".into(),
            ));
        }
        let config = sim.config();
        let p = config.precision;
        let total = factors.len();
        let mask = axes.map(|a| f64::from(u8::from(a)));
        let params = [
            target[0], target[1], target[2], mask[0], mask[1], mask[2], weight,
        ];
        let params = storage_buffer(
            ctx,
            "force loss params",
            &reals_to_bytes(&params, p),
            BufferUse::Storage,
        )?;
        let factors_buf = storage_buffer(
            ctx,
            "force loss factors",
            &reals_to_bytes(&factors, p),
            BufferUse::Storage,
        )?;
        let fhist = storage_buffer_zeroed(
            ctx,
            "force loss history",
            3 * total as u64 * p.bytes(),
            BufferUse::Storage,
        )?;
        let (planted, lvalue) = planted_and_value(ctx, "force loss", p)?;
        let k_eval = Kernel::new(ctx, "fem/sensor", "force_loss_eval", config)?;
        let k_seed = Kernel::new(ctx, "fem/sensor_adj", "force_loss_seed", config)?;
        let clock = sim.clock();
        let list = |parity: usize, cur: usize| -> Vec<(u32, &wgpu::Buffer)> {
            vec![
                (0, &sensor.ints),
                (1, &sensor.reals),
                (2, &body.x[parity]),
                (8, clock),
                (9, &lvalue),
                (13, adj[cur]),
                (14, &planted),
                (15, body.contact_force()),
                (16, &params),
                (17, &factors_buf),
                (18, &fhist),
                (19, seed),
            ]
        };
        let bg_eval = [0, 1].map(|par| k_eval.bind_used(ctx, &list(par, 0)));
        let bg_seed = [0, 1].map(|par| [0, 1].map(|cur| k_seed.bind_used(ctx, &list(par, cur))));
        Ok(ForceTarget {
            nodes: body.node_count(),
            steps: factors.clone(),
            full: factors,
            factors: factors_buf,
            planted,
            lvalue,
            k_eval,
            k_seed,
            bg_eval,
            bg_seed,
            precision: p,
        })
    }

    /// Scales the loss's seed by `factor` (1: exact; anything else plants a
    /// wrong adjoint, for the tests that show a check fails on one).
    pub fn plant_adjoint_error(&self, ctx: &GpuContext, factor: f64) {
        ctx.queue.write_buffer(
            &self.planted,
            0,
            &reals_to_bytes(&[factor, 0.0], self.precision),
        );
    }
}

impl LossTerms for ForceTarget {
    fn len(&self) -> usize {
        1
    }

    fn active_at(&self, step: usize) -> bool {
        self.steps.get(step).is_some_and(|&f| f != 0.0)
    }

    fn set_window(&mut self, ctx: &GpuContext, end: Option<usize>) {
        self.steps = crate::loss::window_factors(&self.full, 1, end);
        ctx.queue.write_buffer(
            &self.factors,
            0,
            &reals_to_bytes(&self.steps, self.precision),
        );
    }

    fn clear(&self, enc: &mut wgpu::CommandEncoder) {
        enc.clear_buffer(&self.lvalue, 0, None);
    }

    fn encode_eval(&self, enc: &mut wgpu::CommandEncoder, parity: usize) {
        let mut pass = MarkerTrack::pass(enc, "force loss");
        self.k_eval
            .dispatch(&mut pass, &[&self.bg_eval[parity]], [1, 1, 1]);
    }

    fn encode_seed(&self, enc: &mut wgpu::CommandEncoder, parity: usize, adj: usize) {
        let mut pass = MarkerTrack::pass(enc, "force loss seed");
        self.k_seed
            .dispatch_1d(&mut pass, &[&self.bg_seed[parity][adj]], self.nodes);
    }

    fn values(&self, ctx: &GpuContext, precision: Precision) -> Result<Vec<f64>, SimError> {
        let v = bytes_to_reals(
            &read_buffer(ctx, &self.lvalue, precision.bytes())?,
            precision,
        );
        Ok(vec![v[0]])
    }
}
