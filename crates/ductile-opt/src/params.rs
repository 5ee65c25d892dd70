//! The map between a task's controls and a rollout: the control vector θ
//! with its bounds, scaled coordinates u ∈ [0, 1] (logarithmic for material
//! parameters), which entries are free (masks, frozen segments), writing θ
//! into a rollout, pulling dL/dθ out of its gradients, and the coarse
//! key-frame map of the hybrid optimiser. What each kind of control lays
//! out, writes and pulls back is in [`crate::kinds`], the registry; this
//! file assembles them, and composes each gripper's controls into its fingers.

use crate::kinds::{kind, Check, Geometry, ParamKind, Written};
use crate::task::{Interpolation, LoadedTask, MaterialParam};
use crate::OptError;
use ductile_gpu::GpuContext;
use ductile_scene::Material;
use ductile_sim::control::{control_offset, CONTROL_RECORD_REALS};
use ductile_sim::{Gradients, Rollout};
use glam::{DQuat, DVec3};
use std::ops::Range;

/// Sets `param` of material `m` to `value`, or says why it has none.
pub fn set_material_param(
    m: &Material,
    param: MaterialParam,
    value: f64,
) -> Result<Material, String> {
    let mut m = m.clone();
    let slot: Option<&mut f64> = match (&mut m, param) {
        (Material::Fluid { density, .. }, MaterialParam::Density)
        | (Material::FixedCorotated { density, .. }, MaterialParam::Density)
        | (Material::NeoHookean { density, .. }, MaterialParam::Density)
        | (Material::VonMises { density, .. }, MaterialParam::Density)
        | (Material::Snow { density, .. }, MaterialParam::Density)
        | (Material::DruckerPrager { density, .. }, MaterialParam::Density)
        | (Material::HerschelBulkley { density, .. }, MaterialParam::Density)
        | (Material::Rigid { density }, MaterialParam::Density) => Some(density),
        (Material::Fluid { viscosity, .. }, MaterialParam::Viscosity) => Some(viscosity),
        (Material::FixedCorotated { youngs_modulus, .. }, MaterialParam::YoungsModulus)
        | (Material::NeoHookean { youngs_modulus, .. }, MaterialParam::YoungsModulus)
        | (Material::VonMises { youngs_modulus, .. }, MaterialParam::YoungsModulus)
        | (Material::Snow { youngs_modulus, .. }, MaterialParam::YoungsModulus)
        | (Material::DruckerPrager { youngs_modulus, .. }, MaterialParam::YoungsModulus) => {
            Some(youngs_modulus)
        }
        (Material::FixedCorotated { poisson_ratio, .. }, MaterialParam::PoissonRatio)
        | (Material::NeoHookean { poisson_ratio, .. }, MaterialParam::PoissonRatio)
        | (Material::VonMises { poisson_ratio, .. }, MaterialParam::PoissonRatio)
        | (Material::Snow { poisson_ratio, .. }, MaterialParam::PoissonRatio)
        | (Material::DruckerPrager { poisson_ratio, .. }, MaterialParam::PoissonRatio) => {
            Some(poisson_ratio)
        }
        (Material::VonMises { yield_stress, .. }, MaterialParam::YieldStress)
        | (Material::HerschelBulkley { yield_stress, .. }, MaterialParam::YieldStress) => {
            Some(yield_stress)
        }
        (Material::HerschelBulkley { consistency, .. }, MaterialParam::Consistency) => {
            Some(consistency)
        }
        (Material::HerschelBulkley { flow_index, .. }, MaterialParam::FlowIndex) => {
            Some(flow_index)
        }
        (Material::DruckerPrager { cohesion, .. }, MaterialParam::Cohesion) => Some(cohesion),
        (
            Material::DruckerPrager {
                friction_angle_deg, ..
            },
            MaterialParam::FrictionAngle,
        ) => Some(friction_angle_deg),
        _ => None,
    };
    match slot {
        Some(s) => {
            *s = value;
            Ok(m)
        }
        None => Err(format!(
            "{} has no {param:?} with a gradient",
            ductile_sim::material::model_name(&m)
        )),
    }
}

/// The current value of `param` in `m`, if the model has it.
pub(crate) fn material_param(m: &Material, param: MaterialParam) -> Option<f64> {
    match (m, param) {
        (_, MaterialParam::Density) => Some(ductile_sim::material::density(m)),
        (Material::Fluid { viscosity, .. }, MaterialParam::Viscosity) => Some(*viscosity),
        (Material::VonMises { yield_stress, .. }, MaterialParam::YieldStress)
        | (Material::HerschelBulkley { yield_stress, .. }, MaterialParam::YieldStress) => {
            Some(*yield_stress)
        }
        (Material::HerschelBulkley { consistency, .. }, MaterialParam::Consistency) => {
            Some(*consistency)
        }
        (Material::HerschelBulkley { flow_index, .. }, MaterialParam::FlowIndex) => {
            Some(*flow_index)
        }
        (Material::DruckerPrager { cohesion, .. }, MaterialParam::Cohesion) => Some(*cohesion),
        (
            Material::DruckerPrager {
                friction_angle_deg, ..
            },
            MaterialParam::FrictionAngle,
        ) => Some(*friction_angle_deg),
        (_, MaterialParam::YoungsModulus) => ductile_sim::tape::elastic_constants(m).map(|e| e.0),
        (_, MaterialParam::PoissonRatio) => ductile_sim::tape::elastic_constants(m).map(|e| e.1),
        _ => None,
    }
}

/// Weights of keys `0..keys` in the interpolated position at substep
/// boundaries `0..=steps` (key j at substep j·steps/(keys − 1)).
pub fn key_weights(keys: usize, interp: Interpolation, steps: usize) -> Vec<Vec<(usize, f64)>> {
    (0..=steps)
        .map(|n| {
            if keys == 1 {
                return vec![(0, 1.0)];
            }
            let s = n as f64 / steps.max(1) as f64 * (keys - 1) as f64;
            let i = (s.floor() as usize).min(keys - 2);
            let t = s - i as f64;
            match interp {
                Interpolation::Linear => vec![(i, 1.0 - t), (i + 1, t)],
                Interpolation::CatmullRom => {
                    let (t2, t3) = (t * t, t * t * t);
                    let w = [
                        0.5 * (-t3 + 2.0 * t2 - t),
                        0.5 * (3.0 * t3 - 5.0 * t2 + 2.0),
                        0.5 * (-3.0 * t3 + 4.0 * t2 + t),
                        0.5 * (t3 - t2),
                    ];
                    let idx = |d: isize| (i as isize + d).clamp(0, keys as isize - 1) as usize;
                    (0..4).map(|k| (idx(k as isize - 1), w[k])).collect()
                }
            }
        })
        .collect()
}

/// For a particle released at substep `n`, the weights of each nozzle key j
/// in its start position, d(n) = Σ_j k_nj D_j, and in the nozzle velocity it
/// leaves with, (d(n + 1) − d(n)) / dt [1/s]; `kw` = `key_weights(.., steps)`.
/// A particle still waiting at the end (n = steps) gets no velocity.
pub(crate) fn nozzle_weights(
    kw: &[Vec<(usize, f64)>],
    n: usize,
    dt: f64,
) -> Vec<(usize, f64, f64)> {
    let mut out: Vec<(usize, f64, f64)> = kw[n].iter().map(|&(j, w)| (j, w, -w / dt)).collect();
    match kw.get(n + 1) {
        Some(next) => {
            for &(j, w) in next {
                match out.iter_mut().find(|e| e.0 == j) {
                    Some(e) => e.2 += w / dt,
                    None => out.push((j, 0.0, w / dt)),
                }
            }
        }
        None => out.iter_mut().for_each(|e| e.2 = 0.0),
    }
    out
}

/// A linear map from a coarse vector c to the scaled coordinates u: free
/// entries are weighted sums of c, the others stay at their initial value.
#[derive(Clone, Debug)]
pub struct CoarseMap {
    /// Per entry of u: weights on c (empty for entries held fixed).
    pub rows: Vec<Vec<(usize, f64)>>,
    /// u at the start (the value of fixed entries).
    pub u0: Vec<f64>,
    /// c matching u0 as closely as the map allows.
    pub c0: Vec<f64>,
}

impl CoarseMap {
    /// u of c.
    pub fn apply(&self, c: &[f64]) -> Vec<f64> {
        self.rows
            .iter()
            .zip(&self.u0)
            .map(|(r, &u0)| {
                if r.is_empty() {
                    u0
                } else {
                    r.iter().map(|&(j, w)| w * c[j]).sum()
                }
            })
            .collect()
    }
}

/// The task's controls as one vector θ, with bounds, and the maps between
/// θ, the scaled coordinates u ∈ [0, 1] and the rollout.
pub struct Params {
    /// Each control's kind ([`crate::kinds`]), in the task's order.
    kinds: Vec<Box<dyn ParamKind>>,
    /// Lower bounds of θ.
    pub lo: Vec<f64>,
    /// Upper bounds of θ.
    pub hi: Vec<f64>,
    /// Logarithmic scaling per entry.
    pub log: Vec<bool>,
    /// Whether the optimiser may change the entry (mask and freeze).
    pub free: Vec<bool>,
    /// The initial θ (fixed entries keep these values exactly).
    pub theta0: Vec<f64>,
    /// A name per entry, for logs.
    pub names: Vec<String>,
    /// One (name, entries) per control of the task.
    pub groups: Vec<(String, Range<usize>)>,
    /// Per control: Some(segments or keys) when its entries are laid out
    /// as [segment][axis] (for the coarse map).
    segmented: Vec<Option<usize>>,
    base_state: ductile_sim::StateHost,
    base_control: Vec<f64>,
    base_materials: Vec<Material>,
}

impl Params {
    /// Lays out the controls of `task` for rollout `r` (whose current values
    /// are the base) and returns the initial θ.
    pub fn new(task: &LoadedTask, r: &Rollout) -> Result<(Self, Vec<f64>), OptError> {
        let mut p = Params {
            kinds: task.task.controls.iter().map(kind).collect(),
            lo: vec![],
            hi: vec![],
            log: vec![],
            free: vec![],
            theta0: vec![],
            names: vec![],
            groups: vec![],
            segmented: vec![],
            base_state: r.initial_state().clone(),
            base_control: r.control_values().to_vec(),
            base_materials: r.materials().to_vec(),
        };
        let mut init = vec![];
        const AXES: [&str; 3] = ["x", "y", "z"];
        for (index, k) in p.kinds.iter().enumerate() {
            let lay = k.layout(&Check { task, index, r })?;
            let start = p.lo.len();
            let axes = lay.init.len();
            for s in 0..lay.segments.unwrap_or(1) {
                for (a, axis_name) in AXES.iter().enumerate().take(axes) {
                    p.lo.push(lay.min[a]);
                    p.hi.push(lay.max[a]);
                    p.log.push(lay.log);
                    p.free.push(lay.mask[a] && s >= lay.freeze);
                    let axis = if axes == 1 {
                        String::new()
                    } else {
                        format!(".{axis_name}")
                    };
                    p.names.push(match lay.segments {
                        Some(_) => format!("{}[{s}]{axis}", lay.name),
                        None => format!("{}{axis}", lay.name),
                    });
                    init.push(lay.init[a]);
                }
            }
            p.groups.push((lay.name, start..p.lo.len()));
            p.segmented.push(lay.segments);
        }
        p.theta0 = init.clone();
        Ok((p, init))
    }

    /// Number of entries of θ.
    pub fn len(&self) -> usize {
        self.lo.len()
    }

    /// True when θ is empty.
    pub fn is_empty(&self) -> bool {
        self.lo.is_empty()
    }

    /// Scaled coordinates of θ.
    pub fn to_unit(&self, theta: &[f64]) -> Vec<f64> {
        (0..theta.len())
            .map(|i| {
                if self.log[i] {
                    (theta[i].ln() - self.lo[i].ln()) / (self.hi[i].ln() - self.lo[i].ln())
                } else {
                    (theta[i] - self.lo[i]) / (self.hi[i] - self.lo[i])
                }
            })
            .collect()
    }

    /// θ of scaled coordinates u (fixed entries: exactly their initial value).
    pub fn from_unit(&self, u: &[f64]) -> Vec<f64> {
        (0..u.len())
            .map(|i| {
                if !self.free[i] {
                    self.theta0[i]
                } else if self.log[i] {
                    (self.lo[i].ln() + u[i] * (self.hi[i].ln() - self.lo[i].ln())).exp()
                } else {
                    self.lo[i] + u[i] * (self.hi[i] - self.lo[i])
                }
            })
            .collect()
    }

    /// dθ/du per entry.
    pub fn scale(&self, theta: &[f64]) -> Vec<f64> {
        (0..theta.len())
            .map(|i| {
                if self.log[i] {
                    theta[i] * (self.hi[i].ln() - self.lo[i].ln())
                } else {
                    self.hi[i] - self.lo[i]
                }
            })
            .collect()
    }

    /// The map of the hybrid's search: each segmented control's free
    /// entries interpolated linearly from `knots` knots per axis (or its own
    /// segments when it has no more than `knots`); other free entries map
    /// one to one; fixed entries stay at `u0`. `knots = usize::MAX` maps
    /// every free entry one to one (plain CMA-ES).
    pub fn coarse_map(&self, knots: usize, u0: &[f64]) -> CoarseMap {
        let mut rows = vec![Vec::new(); self.len()];
        let mut c0 = Vec::new();
        for ((_, range), segs) in self.groups.iter().zip(&self.segmented) {
            let n_seg = segs.unwrap_or(1);
            let per = range.len() / n_seg;
            for a in 0..per {
                let entry = |s: usize| range.start + s * per + a;
                let free: Vec<usize> = (0..n_seg).filter(|&s| self.free[entry(s)]).collect();
                if free.is_empty() {
                    continue;
                }
                let k = if segs.is_some() {
                    knots.min(free.len())
                } else {
                    free.len()
                };
                let base = c0.len();
                // Knot m sits at position m (k − 1)⁻¹ along the free segments.
                for m in 0..k {
                    let pos = if k == 1 {
                        0.0
                    } else {
                        m as f64 * (free.len() - 1) as f64 / (k - 1) as f64
                    };
                    c0.push(u0[entry(free[pos.round() as usize])]);
                }
                for (f, &s) in free.iter().enumerate() {
                    rows[entry(s)] = if k == free.len() {
                        vec![(base + f, 1.0)]
                    } else if k == 1 {
                        vec![(base, 1.0)]
                    } else {
                        let x = f as f64 * (k - 1) as f64 / (free.len() - 1) as f64;
                        let m = (x.floor() as usize).min(k - 2);
                        let t = x - m as f64;
                        vec![(base + m, 1.0 - t), (base + m + 1, t)]
                    };
                }
            }
        }
        CoarseMap {
            rows,
            u0: u0.to_vec(),
            c0,
        }
    }

    /// Writes θ into the rollout.
    pub fn apply(&self, ctx: &GpuContext, r: &mut Rollout, theta: &[f64]) -> Result<(), OptError> {
        let mut state = self.base_state.clone();
        let mut control = self.base_control.clone();
        let mut materials = self.base_materials.clone();
        let nt = r.tool_params().len().max(1);
        let dt = r.sim.info().dt;
        let steps = r.steps();
        let n_ctrl = control.len() / (CONTROL_RECORD_REALS * nt);
        let geo = Geometry {
            r,
            nt,
            dt,
            steps,
            n_ctrl,
            base_control: &self.base_control,
        };
        let mut out = Written {
            state: &mut state,
            control: &mut control,
            materials: &mut materials,
        };
        for (k, (_, range)) in self.kinds.iter().zip(&self.groups) {
            k.apply(&theta[range.clone()], &geo, &mut out)?;
        }
        self.apply_grippers(r, theta, &mut control);
        r.set_initial_state(ctx, &state)?;
        r.set_control_values(ctx, &control)?;
        for (b, m) in materials.iter().enumerate() {
            if *m != r.materials()[b] {
                r.set_material(ctx, b, m)?;
            }
        }
        Ok(())
    }

    /// The grippers that a control of the task moves, each once.
    fn controlled_grippers(&self) -> Vec<usize> {
        let mut grippers: Vec<usize> = self.kinds.iter().filter_map(|k| k.gripper()).collect();
        grippers.sort_unstable();
        grippers.dedup();
        grippers
    }

    /// Gripper `gi`'s frame at substeps `0..=n_ctrl` under θ: its centre,
    /// width and orientation from its `GripperKeyframes`, `GripperWidth` and
    /// `GripperRotationKeyframes` controls or, where one is absent, from the
    /// scene.
    fn gripper_path(&self, r: &Rollout, theta: &[f64], gi: usize) -> GripperPath {
        let nt = r.tool_params().len().max(1);
        let dt = r.sim.info().dt;
        let n_ctrl = self.base_control.len() / (CONTROL_RECORD_REALS * nt);
        let fingers = finger_tools(r, gi).expect("checked in Params::new");
        let frame = gripper_frame(&self.base_control, fingers, nt, n_ctrl, dt);
        let mut path = GripperPath {
            fingers,
            center: frame.iter().map(|f| f.0).collect(),
            width: gripper_widths(&self.base_control, fingers, nt, n_ctrl, dt),
            axis: frame.iter().map(|f| f.1).collect(),
            rotation: None,
        };
        let geo = Geometry {
            r,
            nt,
            dt,
            steps: r.steps(),
            n_ctrl,
            base_control: &self.base_control,
        };
        for (k, (_, range)) in self.kinds.iter().zip(&self.groups) {
            k.shape_gripper(gi, &theta[range.clone()], &geo, &mut path);
        }
        path
    }

    /// Writes the fingers of every gripper that a control moves:
    /// p_s(n) = c(n) + s w(n)/2 a(n) for sides s = ∓1, with the frame's
    /// centre c, width w and closing axis a (see [`Params::gripper_path`]);
    /// each velocity carries its finger to the next substep's position.
    /// Under a `GripperRotationKeyframes` control both fingers also take the
    /// orientation exp(θ(n)) q₀ and the angular velocity (θ(n + 1) − θ(n)) / dt.
    fn apply_grippers(&self, r: &Rollout, theta: &[f64], control: &mut [f64]) {
        let nt = r.tool_params().len().max(1);
        let dt = r.sim.info().dt;
        let n_ctrl = control.len() / (CONTROL_RECORD_REALS * nt);
        for gi in self.controlled_grippers() {
            let path = self.gripper_path(r, theta, gi);
            for n in 0..n_ctrl {
                for s in 0..2 {
                    let o = control_offset(n, path.fingers[s], nt);
                    let (pos, next) = (path.finger(s, n), path.finger(s, n + 1));
                    control[o..o + 3].copy_from_slice(&pos.to_array());
                    control[o + 8..o + 11].copy_from_slice(&((next - pos) / dt).to_array());
                    if let Some((q0, rot)) = &path.rotation {
                        let q = quat_exp(rot[n]) * *q0;
                        control[o + 4..o + 8].copy_from_slice(&q.to_array());
                        let w = (rot[n + 1] - rot[n]) / dt;
                        control[o + 12..o + 15].copy_from_slice(&w.to_array());
                    }
                }
            }
        }
    }

    /// ∂L/∂(centre, width, rotation vector) of gripper `gi`'s frame at
    /// substeps `0..=n_ctrl`, from the fingers' pose and velocity gradients
    /// in `g` (the reverse of [`Params::apply_grippers`]). The rotation
    /// entries are zero unless a `GripperRotationKeyframes` control turns
    /// the gripper.
    fn gripper_gradient(
        &self,
        r: &Rollout,
        g: &Gradients,
        theta: &[f64],
        gi: usize,
    ) -> (Vec<DVec3>, Vec<f64>, Vec<DVec3>) {
        let nt = r.tool_params().len().max(1);
        let dt = r.sim.info().dt;
        let n_ctrl = g.control.len() / (CONTROL_RECORD_REALS * nt);
        let path = self.gripper_path(r, theta, gi);
        let mut c_bar = vec![DVec3::ZERO; n_ctrl + 1];
        let mut w_bar = vec![0.0; n_ctrl + 1];
        let mut a_bar = vec![DVec3::ZERO; n_ctrl + 1];
        let mut q_bar = vec![DQuat::from_xyzw(0.0, 0.0, 0.0, 0.0); n_ctrl + 1];
        let mut omega_bar = vec![DVec3::ZERO; n_ctrl + 1];
        for n in 0..n_ctrl {
            for (s, side) in [-1.0, 1.0].into_iter().enumerate() {
                let o = control_offset(n, path.fingers[s], nt);
                let gp = DVec3::from_slice(&g.control[o..o + 3]);
                let gv = DVec3::from_slice(&g.control[o + 8..o + 11]) / dt;
                // v_s(n) = (p_s(n + 1) − p_s(n)) / dt.
                for (m, p_bar) in [(n, gp - gv), (n + 1, gv)] {
                    c_bar[m] += p_bar;
                    w_bar[m] += 0.5 * side * p_bar.dot(path.axis[m]);
                    a_bar[m] += 0.5 * side * path.width[m] * p_bar;
                }
                q_bar[n] += DQuat::from_slice(&g.control[o + 4..o + 8]);
                omega_bar[n] += DVec3::from_slice(&g.control[o + 12..o + 15]);
            }
        }
        let mut rot_bar = vec![DVec3::ZERO; n_ctrl + 1];
        if let Some((q0, rot)) = &path.rotation {
            // q(n) = exp(θ(n)) q₀, a(n) = q(n) x̂ q(n)*, ω(n) = (θ(n + 1) − θ(n)) / dt.
            for n in 0..=n_ctrl {
                let e = quat_exp(rot[n]);
                let qb = q_bar[n] + quat_rotate_vjp(e * *q0, DVec3::X, a_bar[n]);
                let (e_bar, _) = quat_mul_vjp(e, *q0, qb);
                rot_bar[n] += quat_exp_vjp(rot[n], e_bar);
                if n < n_ctrl {
                    rot_bar[n] -= omega_bar[n] / dt;
                    rot_bar[n + 1] += omega_bar[n] / dt;
                }
            }
        }
        (c_bar, w_bar, rot_bar)
    }

    /// dL/dθ from a backward pass of the rollout run at `theta`.
    pub fn gradient(&self, r: &Rollout, g: &Gradients, theta: &[f64]) -> Vec<f64> {
        let mut out = vec![0.0; self.len()];
        let nt = r.tool_params().len().max(1);
        let dt = r.sim.info().dt;
        let steps = r.steps();
        let n_ctrl = g.control.len() / (CONTROL_RECORD_REALS * nt);
        let geo = Geometry {
            r,
            nt,
            dt,
            steps,
            n_ctrl,
            base_control: &self.base_control,
        };
        let grip = |gi: usize| self.gripper_gradient(r, g, theta, gi);
        for (k, (_, range)) in self.kinds.iter().zip(&self.groups) {
            k.pull_back(
                &theta[range.clone()],
                g,
                &geo,
                &grip,
                &mut out[range.clone()],
            );
        }
        out
    }
}

/// Number of grippers in the rollout's scene.
pub(crate) fn gripper_count(r: &Rollout) -> usize {
    r.sim
        .control()
        .gripper_of
        .iter()
        .flatten()
        .max()
        .map_or(0, |g| g + 1)
}

/// A gripper's finger separation [m] along its closing axis at substeps
/// `0..=steps`, from the scene's finger poses in `control` (as
/// [`gripper_frame`]; the entry past the last substep by the last velocities).
fn gripper_widths(
    control: &[f64],
    [left, right]: [usize; 2],
    nt: usize,
    steps: usize,
    dt: f64,
) -> Vec<f64> {
    let frame = gripper_frame(control, [left, right], nt, steps, dt);
    let at = |n: usize, t: usize| control_offset(n, t, nt);
    let pos = |n: usize, t: usize| {
        if n < steps {
            DVec3::from_slice(&control[at(n, t)..at(n, t) + 3])
        } else {
            let o = at(steps - 1, t);
            DVec3::from_slice(&control[o..o + 3]) + dt * DVec3::from_slice(&control[o + 8..o + 11])
        }
    };
    (0..=steps)
        .map(|n| (pos(n, right) - pos(n, left)).dot(frame[n].1))
        .collect()
}

/// One gripper's frame at substeps `0..=n` as a task sets it (see
/// [`Params::gripper_path`]).
pub(crate) struct GripperPath {
    /// Tool indices of the left and right fingers.
    pub fingers: [usize; 2],
    /// The point midway between the fingers [m].
    pub center: Vec<DVec3>,
    /// Distance between the finger origins along the closing axis [m].
    pub width: Vec<f64>,
    /// The closing axis q·x̂ (unit), from left to right finger.
    pub axis: Vec<DVec3>,
    /// Under a `GripperRotationKeyframes` control: the scene's orientation
    /// q₀ at t = 0 and the rotation vector θ(n) [rad], q(n) = exp(θ(n)) q₀.
    pub rotation: Option<(DQuat, Vec<DVec3>)>,
}

impl GripperPath {
    /// Finger `s`'s origin (0: left, 1: right) at substep `n` [m].
    fn finger(&self, s: usize, n: usize) -> DVec3 {
        let side = if s == 0 { -1.0 } else { 1.0 };
        self.center[n] + 0.5 * side * self.width[n] * self.axis[n]
    }
}

/// The tool indices of gripper `g`'s left and right fingers.
pub(crate) fn finger_tools(r: &Rollout, g: usize) -> Option<[usize; 2]> {
    let of = &r.sim.control().gripper_of;
    let mut it = (0..of.len()).filter(|&t| of[t] == Some(g));
    match (it.next(), it.next()) {
        (Some(l), Some(rt)) => Some([l, rt]),
        _ => None,
    }
}

/// A gripper's frame at substeps `0..=steps` from the scene's finger poses
/// in `control` (16 Reals per substep and tool, `nt` tools): the midpoint
/// c [m] of the fingers and the closing axis a = q·x̂ (unit). The entry one
/// past the last substep follows from the last velocities, which carry the
/// fingers exactly there.
fn gripper_frame(
    control: &[f64],
    [left, right]: [usize; 2],
    nt: usize,
    steps: usize,
    dt: f64,
) -> Vec<(DVec3, DVec3)> {
    let at = |n: usize, t: usize| control_offset(n, t, nt);
    let mut out: Vec<(DVec3, DVec3)> = (0..steps)
        .map(|n| {
            let (l, r) = (at(n, left), at(n, right));
            let c = 0.5
                * (DVec3::from_slice(&control[l..l + 3]) + DVec3::from_slice(&control[r..r + 3]));
            let q = DQuat::from_slice(&control[l + 4..l + 8]);
            (c, q * DVec3::X)
        })
        .collect();
    let (l, r) = (at(steps - 1, left), at(steps - 1, right));
    let (c, _) = out[steps - 1];
    let v = 0.5
        * (DVec3::from_slice(&control[l + 8..l + 11]) + DVec3::from_slice(&control[r + 8..r + 11]));
    let q = DQuat::from_slice(&control[l + 4..l + 8]);
    let w = DVec3::from_slice(&control[l + 12..l + 15]);
    out.push((c + dt * v, (quat_exp(dt * w) * q).normalize() * DVec3::X));
    out
}

/// The interpolated 3-vector Σ_j w_j θ_j (a position or a rotation
/// vector) from key weights `w` (see [`key_weights`]) and keys `th` (3 per
/// key).
pub(crate) fn keyed_vec3(w: &[(usize, f64)], th: &[f64]) -> DVec3 {
    w.iter()
        .map(|&(j, wj)| wj * DVec3::from_slice(&th[3 * j..3 * j + 3]))
        .sum()
}

/// exp(v) for a rotation vector v [rad]: the unit quaternion
/// (sin(θ/2) v/θ, cos(θ/2)), θ = |v| (a series near θ = 0).
pub fn quat_exp(v: DVec3) -> DQuat {
    let t = v.length();
    let s = if t < 1e-4 {
        0.5 - t * t / 48.0
    } else {
        (0.5 * t).sin() / t
    };
    let xyz = s * v;
    DQuat::from_xyzw(xyz.x, xyz.y, xyz.z, (0.5 * t).cos())
}

/// Vector–Jacobian product of [`quat_exp`]: ∂/∂v of ⟨ē, exp(v)⟩.
pub fn quat_exp_vjp(v: DVec3, ebar: DQuat) -> DVec3 {
    let t = v.length();
    // xyz = s(θ) v, w = cos(θ/2); ds/dθ / θ and (dw/dθ) / θ = −s/2.
    let (s, ds_over_t) = if t < 1e-4 {
        (0.5 - t * t / 48.0, -1.0 / 24.0 + t * t / 960.0)
    } else {
        let s = (0.5 * t).sin() / t;
        (s, (0.5 * (0.5 * t).cos() - s) / (t * t))
    };
    let exyz = DVec3::new(ebar.x, ebar.y, ebar.z);
    s * exyz + ds_over_t * exyz.dot(v) * v - 0.5 * s * ebar.w * v
}

/// Vector–Jacobian product of the rotation y = q v q* of a vector v by a
/// quaternion q, written y = v + 2w (u × v) + 2u × (u × v) with u = (x, y, z):
/// returns q̄ (a raw 4-vector) for ȳ. For a unit q this is glam's `q * v`.
pub fn quat_rotate_vjp(q: DQuat, v: DVec3, ybar: DVec3) -> DQuat {
    let u = DVec3::new(q.x, q.y, q.z);
    let uv = u.cross(v);
    let w_bar = 2.0 * ybar.dot(uv);
    let u_bar = 2.0 * q.w * v.cross(ybar) + 2.0 * (u.dot(v) * ybar + u.dot(ybar) * v)
        - 4.0 * v.dot(ybar) * u;
    DQuat::from_xyzw(u_bar.x, u_bar.y, u_bar.z, w_bar)
}

/// Vector–Jacobian product of the Hamilton product p = a b: returns
/// (ā, b̄) for p̄ (all as raw 4-vectors).
pub fn quat_mul_vjp(a: DQuat, b: DQuat, pbar: DQuat) -> (DQuat, DQuat) {
    // p = a b is bilinear: ⟨p̄, a b⟩ = ⟨p̄ b*, a⟩ = ⟨a* p̄, b⟩ for unit-free
    // raw components (b* the conjugate), since right/left multiplication by
    // a quaternion has the conjugate's matrix as its transpose.
    (pbar * b.conjugate(), a.conjugate() * pbar)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quaternion_vjps_match_central_differences() {
        let q = |x: f64, y: f64, z: f64, w: f64| DQuat::from_xyzw(x, y, z, w);
        let dot = |a: DQuat, b: DQuat| a.x * b.x + a.y * b.y + a.z * b.z + a.w * b.w;
        let (a, b, pbar) = (
            q(0.3, -0.2, 0.5, 0.7),
            q(-0.1, 0.6, 0.2, 0.4),
            q(0.9, -0.4, 0.1, 0.3),
        );
        let (abar, bbar) = quat_mul_vjp(a, b, pbar);
        let h = 1e-6;
        for k in 0..4 {
            let mut e = [0.0; 4];
            e[k] = h;
            let de = DQuat::from_array(e);
            let fa = (dot(pbar, (a + de) * b) - dot(pbar, (a - de) * b)) / (2.0 * h);
            let fb = (dot(pbar, a * (b + de)) - dot(pbar, a * (b - de))) / (2.0 * h);
            assert!((fa - abar.to_array()[k]).abs() < 1e-8, "ā[{k}]");
            assert!((fb - bbar.to_array()[k]).abs() < 1e-8, "b̄[{k}]");
        }
        for v in [DVec3::new(0.3, -0.7, 0.2), DVec3::new(2e-5, 1e-5, -3e-5)] {
            let vbar = quat_exp_vjp(v, pbar);
            for k in 0..3 {
                let mut e = DVec3::ZERO;
                e[k] = 1e-7;
                let fd = (dot(pbar, quat_exp(v + e)) - dot(pbar, quat_exp(v - e))) / 2e-7;
                assert!((fd - vbar[k]).abs() < 1e-7, "v̄[{k}] {fd} vs {}", vbar[k]);
            }
        }
        // exp agrees with glam's axis-angle rotation.
        let v = DVec3::new(0.3, -0.7, 0.2);
        assert!(quat_exp(v).abs_diff_eq(DQuat::from_scaled_axis(v), 1e-14));
        // Rotating a vector: the polynomial form is glam's rotation for a
        // unit q, and its VJP matches central differences in all 4 components.
        let rot = |q: DQuat, v: DVec3| {
            let u = DVec3::new(q.x, q.y, q.z);
            v + 2.0 * q.w * u.cross(v) + 2.0 * u.cross(u.cross(v))
        };
        let unit = a.normalize();
        let (x, ybar) = (DVec3::new(0.4, -1.1, 0.6), DVec3::new(-0.3, 0.8, 0.5));
        assert!((rot(unit, x) - unit * x).length() < 1e-14);
        let qbar = quat_rotate_vjp(a, x, ybar);
        for k in 0..4 {
            let mut e = [0.0; 4];
            e[k] = h;
            let de = DQuat::from_array(e);
            let fd = (ybar.dot(rot(a + de, x)) - ybar.dot(rot(a - de, x))) / (2.0 * h);
            assert!((fd - qbar.to_array()[k]).abs() < 1e-8, "q̄[{k}] {fd}");
        }
    }

    #[test]
    fn key_weights_interpolate_keys_and_sum_to_one() {
        for interp in [Interpolation::Linear, Interpolation::CatmullRom] {
            let w = key_weights(4, interp, 30);
            for row in &w {
                let s: f64 = row.iter().map(|x| x.1).sum();
                assert!((s - 1.0).abs() < 1e-12, "{interp:?}: {s}");
            }
            // Key j sits at substep 10 j and is reproduced exactly there.
            for j in 0..4 {
                let at: f64 = w[10 * j].iter().filter(|x| x.0 == j).map(|x| x.1).sum();
                assert!((at - 1.0).abs() < 1e-12, "{interp:?} key {j}: {at}");
            }
        }
        // Catmull–Rom reproduces a straight line through equally spaced keys.
        let w = key_weights(5, Interpolation::CatmullRom, 40);
        for (n, row) in w.iter().enumerate().take(31).skip(10) {
            let x: f64 = row.iter().map(|&(j, wj)| wj * j as f64).sum();
            assert!((x - n as f64 / 10.0).abs() < 1e-12);
        }
    }
}
