//! The RON scene schema: plain serde structs, one per concept, all in SI units.
//!
//! Every struct rejects unknown fields. Ranges are checked in `validate.rs`;
//! this file only says what a scene may contain and what each field means.

use serde::{Deserialize, Serialize};

/// A 3-vector `(x, y, z)`; the unit is given by the field using it.
pub type Vec3 = [f64; 3];

/// A whole scene: the simulation domain, its bodies and tools, and what to write out.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Scene {
    /// Human-readable name, used in output file names and summaries.
    #[serde(default = "default_name")]
    pub name: String,
    /// The background grid and the walls around it.
    pub domain: Domain,
    /// Time stepping.
    pub time: Time,
    /// Gravitational acceleration [m/s²]. Default (0, -9.81, 0).
    #[serde(default = "default_gravity")]
    pub gravity: Vec3,
    /// Matter simulated with MLS-MPM.
    #[serde(default)]
    pub bodies: Vec<Body>,
    /// Elastic solids simulated with FEM on linear tetrahedra (tactile pads,
    /// soft objects). Their bodies are numbered after `bodies` wherever a
    /// body is referred to by index (and by their names anywhere).
    #[serde(default)]
    pub fem: Vec<FemBody>,
    /// Kinematic colliders (tools, containers, floors). After loading, each
    /// gripper's two fingers follow these (see [`Scene::expand_grippers`]).
    #[serde(default)]
    pub tools: Vec<Tool>,
    /// Parallel two-finger grippers; each adds two tools.
    #[serde(default)]
    pub grippers: Vec<Gripper>,
    /// What to write, and how to render pictures.
    #[serde(default)]
    pub output: Output,
    /// Numerical precision of the kernels.
    #[serde(default)]
    pub precision: Precision,
    /// Scalar loss for gradients (`ductile gradcheck`, optimisation): a
    /// weighted sum of these terms. Empty by default.
    #[serde(default)]
    pub loss: Vec<LossTerm>,
}

/// An elastic solid on linear tetrahedra, with the stable neo-Hookean model
/// (`ductile_sim::fem`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FemBody {
    /// Name, unique among `bodies` and `fem` (losses refer to it).
    pub name: String,
    /// The tetrahedral mesh.
    pub mesh: FemMesh,
    /// Density [kg/m³].
    pub density: f64,
    /// Young's modulus E [Pa].
    pub youngs_modulus: f64,
    /// Poisson ratio ν, in (−1, 0.5).
    pub poisson_ratio: f64,
    /// Mass-proportional damping c [1/s]: a force −c m v on every node (default 0).
    #[serde(default)]
    pub damping: f64,
    /// Nodes with y at or below this height [m] are held at rest (a pad's
    /// base); default: none.
    #[serde(default)]
    pub pin_below: Option<f64>,
    /// Nodes inside this box (min, max corners [m], at rest) are held too:
    /// a pad's base in any orientation (a pad on a gripper's finger);
    /// default: none.
    #[serde(default)]
    pub pin_inside: Option<[Vec3; 2]>,
    /// Pin the generated mesh's base (a `Pad`'s bottom face, a `Dome`'s
    /// inner surface); default false.
    #[serde(default)]
    pub pin_base: bool,
    /// The element model (default `StableNeoHookean`).
    #[serde(default)]
    pub model: FemModelSpec,
    /// Initial velocity of every node [m/s] (default zero).
    #[serde(default)]
    pub velocity: Vec3,
    /// Penalty contact with the tools (default: stiffness 10 E·h for the
    /// smallest element altitude h, capped for the scene's step, no
    /// damping, friction 0.5, stick speed 1 mm/s).
    #[serde(default)]
    pub contact: Option<FemContactSpec>,
    /// The tool (index or name) the pinned nodes are mounted on: they then
    /// follow its pose and velocity, a control like any tool's path
    /// (default `None`: they stay at rest). Needs `pin_below`.
    #[serde(default, deserialize_with = "crate::refs::opt_tool")]
    pub mount: Option<usize>,
    /// Two-way penalty contact with the scene's MPM matter (default: on
    /// whenever the scene has MPM bodies, with the defaults of
    /// [`FemMatterSpec`]).
    #[serde(default)]
    pub matter: Option<FemMatterSpec>,
    /// A vision-based tactile sensor reading this body (needs `pin_below`:
    /// its frame is the pinned base).
    #[serde(default)]
    pub sensor: Option<SensorSpec>,
}

/// A camera looking at an FEM pad through its base, and the markers
/// printed on the far surface (`ductile_sim::fem::sensor`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SensorSpec {
    /// The camera, placed in the world at the start.
    pub camera: CameraSpec,
    /// The marker grid.
    #[serde(default)]
    pub markers: MarkerGridSpec,
    /// The tactile image's shading (default: red, green and blue lights
    /// 120° apart, 45° off the optical axis, over a dark ambient).
    #[serde(default)]
    pub shading: Option<ShadingSpec>,
}

/// GelSight-style shading of the tactile image:
/// I = ambient + Σ color · max(0, n̂·direction).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ShadingSpec {
    /// Ambient colour (linear RGB).
    pub ambient: Vec3,
    /// Lights: direction towards the light in camera axes (x right, y
    /// down, z forward), and colour.
    #[serde(default)]
    pub lights: Vec<LightSpec>,
    /// A calibrated shading (`ductile calibrate` prints it): per channel
    /// (r, g, b) the coefficients of 1, n_x, n_y, n_z, n_x², n_y², n_z²,
    /// n_x n_y, n_x n_z, n_y n_z for the unit normal n in camera axes.
    /// When given, it replaces `ambient` and `lights`.
    #[serde(default)]
    pub polynomial: Option<[[f64; 10]; 3]>,
}

/// A directional light.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LightSpec {
    /// Direction towards the light, in camera axes.
    pub direction: Vec3,
    /// Colour (linear RGB).
    pub color: Vec3,
}

/// Camera projection models.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Default)]
pub enum CameraModelSpec {
    /// (u, v) = (fx X/Z + cx, fy Y/Z + cy) (OpenCV axes: x right, y down, z forward).
    #[default]
    Pinhole,
    /// Equidistant fisheye: image radius fx θ for a ray θ off the axis.
    Fisheye,
}

/// A camera: pose at the start, model and intrinsics.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CameraSpec {
    /// Projection model (default `Pinhole`).
    #[serde(default)]
    pub model: CameraModelSpec,
    /// Optical centre [m].
    pub position: Vec3,
    /// A point on the optical axis [m].
    pub look_at: Vec3,
    /// A direction that appears upwards in the image (default (0, 0, 1)).
    #[serde(default = "z_up")]
    pub up: Vec3,
    /// Image width and height [px].
    pub size: [u32; 2],
    /// Focal lengths fx, fy [px].
    pub focal: [f64; 2],
    /// Principal point cx, cy [px] (default: the image centre).
    #[serde(default)]
    pub principal: Option<[f64; 2]>,
}

fn z_up() -> Vec3 {
    [0.0, 0.0, 1.0]
}

/// A `rows × cols` grid of markers spread over the image inside `margin`
/// (a fraction of its width and height on each side), each placed where
/// its pixel's ray meets the far side of the pad at rest.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MarkerGridSpec {
    /// Rows (default 7).
    pub rows: u32,
    /// Columns (default 9).
    pub cols: u32,
    /// Margin, in [0, 0.5) (default 0.1).
    #[serde(default = "tenth_f64")]
    pub margin: f64,
}

impl Default for MarkerGridSpec {
    fn default() -> Self {
        MarkerGridSpec {
            rows: 7,
            cols: 9,
            margin: 0.1,
        }
    }
}

fn tenth_f64() -> f64 {
    0.1
}

/// The element model of an FEM body; both linearise to its (E, ν).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Default)]
pub enum FemModelSpec {
    /// Stable neo-Hookean (Smith et al. 2018): large strains, no inversion.
    #[default]
    StableNeoHookean,
    /// Corotated linear elasticity: linear about each element's rotation.
    CorotatedLinear,
}

/// Penalty contact of an FEM body with MPM matter: each particle is a ball
/// of radius `radius` to the body's nodes; a node inside it feels a normal
/// spring and damper and smooth Coulomb friction, the particle the opposite.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FemMatterSpec {
    /// Whether the body touches MPM matter at all (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Normal stiffness per node–particle pair [N/m] (default: E·h for the
    /// shortest element edge h).
    #[serde(default)]
    pub stiffness: Option<f64>,
    /// Normal damping per pair [N·s/m] (default 0).
    #[serde(default)]
    pub damping: f64,
    /// Coulomb friction coefficient (default 0.5).
    #[serde(default = "half_f64")]
    pub friction: f64,
    /// Stick speed of the smooth stick–slip transition [m/s] (default 1e-3).
    #[serde(default = "milli_f64")]
    pub stick_speed: f64,
    /// Contact radius of a particle [m], in (0, dx] (default dx/2).
    #[serde(default)]
    pub radius: Option<f64>,
}

impl Default for FemMatterSpec {
    fn default() -> Self {
        FemMatterSpec {
            enabled: true,
            stiffness: None,
            damping: 0.0,
            friction: 0.5,
            stick_speed: 1e-3,
            radius: None,
        }
    }
}

/// Penalty contact of an FEM body with the tools: a normal spring and
/// damper per node and smooth Coulomb friction.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FemContactSpec {
    /// Normal stiffness per node [N/m].
    pub stiffness: f64,
    /// Normal damping per node [N·s/m] (default 0).
    #[serde(default)]
    pub damping: f64,
    /// Coulomb friction coefficient (default 0.5).
    #[serde(default = "half_f64")]
    pub friction: f64,
    /// Stick speed of the smooth stick–slip transition [m/s] (default 1e-3).
    #[serde(default = "milli_f64")]
    pub stick_speed: f64,
}

fn half_f64() -> f64 {
    0.5
}

fn milli_f64() -> f64 {
    1e-3
}

/// Where an FEM body's mesh comes from.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub enum FemMesh {
    /// A box of `cells` hexahedra, each split into 6 tetrahedra.
    Box {
        /// Lower corner [m].
        min: Vec3,
        /// Upper corner [m].
        max: Vec3,
        /// Hexahedra per axis (each >= 1).
        cells: [u32; 3],
    },
    /// TetGen's `PATH.node` and `PATH.ele` (relative to the scene file),
    /// scaled about the origin, then translated [m].
    TetGen {
        /// The files' common path, with or without `.node` or `.ele`.
        path: String,
        /// Scale factor (default 1).
        #[serde(default = "one_f64")]
        scale: f64,
        /// Translation [m] (default zero).
        #[serde(default)]
        translation: Vec3,
    },
    /// A Gmsh ASCII `.msh` file (format 2.2 or 4.1; its 4-node tetrahedra),
    /// relative to the scene file, scaled, then translated [m].
    Gmsh {
        /// The `.msh` file.
        path: String,
        /// Scale factor (default 1).
        #[serde(default = "one_f64")]
        scale: f64,
        /// Translation [m] (default zero).
        #[serde(default)]
        translation: Vec3,
    },
    /// A tactile pad: a gel of `size` (x, z) and `thickness` (y) standing on
    /// its base, centred at `center` (the base's centre), `cells` elements
    /// across (x, z) and `layers` through the thickness. The defaults are
    /// GelSight Mini's gel, 18.6 × 14.3 mm and 4 mm thick; a `crown` [m]
    /// raises the top by crown·(1 − (2x/w)²)(1 − (2z/d)²) (a DIGIT-like
    /// curved gel: crown 2 mm on 19 × 16 mm). Its base is the bottom face.
    Pad {
        /// Centre of the base [m].
        center: Vec3,
        /// Width (x) and depth (z) [m].
        #[serde(default = "gelsight_size")]
        size: [f64; 2],
        /// Thickness at the edges [m].
        #[serde(default = "gelsight_thickness")]
        thickness: f64,
        /// Elements across (x, z), each >= 1.
        #[serde(default = "pad_cells")]
        cells: [u32; 2],
        /// Elements through the thickness, >= 1.
        #[serde(default = "pad_layers")]
        layers: u32,
        /// Height of the top's crown at the centre [m], >= 0.
        #[serde(default)]
        crown: f64,
    },
    /// A dome: a spherical shell around `center` (the sphere's centre) of
    /// outer `radius` and `thickness`, over the spherical square within
    /// `angle_deg` of the +y axis along x and along z (a fingertip-like
    /// elastomer; the gnomonic projection of a square grid). Its base is
    /// the inner surface.
    Dome {
        /// The sphere's centre [m].
        center: Vec3,
        /// Outer radius [m].
        radius: f64,
        /// Shell thickness [m], < radius.
        thickness: f64,
        /// Half-angle from +y along x and z [degrees], in (0, 60].
        #[serde(default = "dome_angle")]
        angle_deg: f64,
        /// Elements across the dome (each way), >= 2.
        #[serde(default = "dome_cells")]
        cells: u32,
        /// Elements through the thickness, >= 1.
        #[serde(default = "pad_layers")]
        layers: u32,
    },
}

fn gelsight_size() -> [f64; 2] {
    [0.0186, 0.0143]
}
fn gelsight_thickness() -> f64 {
    0.004
}
fn pad_cells() -> [u32; 2] {
    [19, 14]
}
fn pad_layers() -> u32 {
    4
}
fn dome_angle() -> f64 {
    45.0
}
fn dome_cells() -> u32 {
    12
}

/// When a loss term is evaluated.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub enum LossWhen {
    /// On the state after the last substep.
    #[default]
    Final,
    /// Averaged over the states after substeps `from..=to` (a window of the rollout).
    Running {
        /// First substep index of the window (state after `from` substeps).
        from: u64,
        /// Last substep index of the window, at most the rollout's substeps.
        to: u64,
    },
}

/// One term of a scalar loss on a body's particles.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LossTerm {
    /// What is measured.
    pub kind: LossKind,
    /// The body in `bodies`: its index or its name.
    #[serde(deserialize_with = "crate::refs::body")]
    pub body: usize,
    /// Weight of the term (default 1).
    #[serde(default = "one_f64")]
    pub weight: f64,
    /// When it is evaluated (default `Final`).
    #[serde(default)]
    pub when: LossWhen,
}

/// Measures available as loss terms.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub enum LossKind {
    /// |centre of mass − target|² [m²].
    CenterOfMass {
        /// Target position [m].
        target: Vec3,
    },
    /// |mean velocity − target|² [m²/s²].
    CenterOfMassVelocity {
        /// Target velocity [m/s].
        target: Vec3,
    },
    /// Fraction of the body's mass outside an axis-aligned box (0..1), with
    /// soft edges so that it has a gradient.
    MassOutside {
        /// Lower corner [m].
        min: Vec3,
        /// Upper corner [m].
        max: Vec3,
        /// Width of the soft edge [m] (> 0), about one cell.
        softness: f64,
    },
    /// Chamfer distance [m²] between the body's particles and points filling
    /// `target` (sampled like a body with the body's particles per cell):
    /// mean squared distance to the nearest target point plus mean squared
    /// distance from each target point to its nearest particle.
    ShapeChamfer {
        /// Target shape (box, sphere, cylinder or mesh fill).
        target: BodyShape,
    },
    /// Grid-density distance (PlasticineLab's shape loss): the body's mass
    /// on the grid nodes against the mass of `target` filled with the
    /// body's particles, Σ_i |m_i − m*_i| / M (L1) or Σ_i (m_i − m*_i)² / M² (L2).
    ShapeDensity {
        /// Target shape (box, sphere, cylinder or mesh fill).
        target: BodyShape,
        /// Norm (default L1).
        #[serde(default)]
        norm: Norm,
    },
    /// Mean squared distance [m²] of the body's particles to recorded
    /// positions: an NPY array of shape [R, N, 3] (N = the body's particles,
    /// in sampling order), record r taken after (r + 1)·`every` substeps.
    /// Averaged over the records that fall inside the rollout; `when` is ignored.
    ParticlePositions {
        /// NPY file, relative to the scene file.
        path: String,
        /// Substeps between records (>= 1).
        every: u64,
    },
    /// |tool position − body centre of mass|² [m²] (a tool–object distance;
    /// its gradient also reaches the tool's controls).
    ToolDistance {
        /// The tool in `tools`: its index or its name (a gripper's fingers
        /// are `NAME.left` and `NAME.right`).
        #[serde(deserialize_with = "crate::refs::tool")]
        tool: usize,
    },
    /// |c − c_other − offset|² [m²] for the centres of mass c of this body
    /// and c_other of body `other`: brings two bodies together (offset zero,
    /// the default) or to a given relative placement.
    BodyDistance {
        /// The other body in `bodies`: its index or its name.
        #[serde(deserialize_with = "crate::refs::body")]
        other: usize,
        /// Wanted c − c_other [m] (default zero).
        #[serde(default)]
        offset: Vec3,
    },
    /// |S (F − target)|² [N²] for the net contact force F that an FEM
    /// body's tactile sensor reads (the tools' and the matter's forces on
    /// the gel, in the camera's axes, as `ductile run` writes it), S keeping
    /// the axes marked `true`. The force counted at a state is that of the
    /// substep which ended there, so the initial state has none (a
    /// `Running` window starting at 0 starts at 1). Only on an FEM body
    /// with a `sensor`.
    ContactForce {
        /// Target force [N] in the camera's axes.
        target: Vec3,
        /// The axes the term measures (default all three).
        #[serde(default = "all_axes")]
        axes: (bool, bool, bool),
    },
}

fn all_axes() -> (bool, bool, bool) {
    (true, true, true)
}

/// Norm of a grid-density loss.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub enum Norm {
    /// Sum of absolute differences.
    #[default]
    L1,
    /// Sum of squared differences.
    L2,
}

fn one_f64() -> f64 {
    1.0
}

fn default_name() -> String {
    "scene".into()
}
fn default_gravity() -> Vec3 {
    [0.0, -9.81, 0.0]
}

/// Kernel precision. `F64` needs an adapter with `SHADER_F64`.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub enum Precision {
    /// 32-bit floats (default, fastest).
    #[default]
    F32,
    /// 64-bit floats (for gradient checks and references).
    F64,
}

/// The background grid: an axis-aligned box `[origin, origin + cells·dx]`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Domain {
    /// Lower corner of the domain [m]. Default (0, 0, 0).
    #[serde(default)]
    pub origin: Vec3,
    /// Number of grid cells along x, y, z. Each in 4..=1024.
    pub cells: [u32; 3],
    /// Grid spacing [m], > 0.
    pub dx: f64,
    /// Thickness of the wall layer at each face, in cells (1..=8, default 3).
    #[serde(default = "default_boundary_cells")]
    pub boundary_cells: u32,
    /// How the domain walls treat matter.
    #[serde(default)]
    pub boundary: Boundary,
    /// Coulomb friction coefficient of the domain walls (>= 0, default 0).
    #[serde(default)]
    pub wall_friction: f64,
}

fn default_boundary_cells() -> u32 {
    3
}

/// Wall condition at the domain faces.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub enum Boundary {
    /// Normal velocity into the wall is removed; matter may leave the wall (default).
    #[default]
    Separate,
    /// Normal velocity is removed in both directions.
    Slip,
    /// All velocity is removed.
    Sticky,
}

/// Time stepping: `frames` output frames of `substeps` substeps of length `dt`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Time {
    /// Substep length [s], in (0, 0.01].
    pub dt: f64,
    /// Substeps per output frame, 1..=100000.
    pub substeps: u32,
    /// Number of output frames after the initial one, 0..=1000000.
    pub frames: u32,
}

/// One body of MPM matter.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Body {
    /// Name used in error messages and outputs.
    pub name: String,
    /// Region the body's particles fill.
    pub shape: BodyShape,
    /// Particles per grid cell along each axis is the cube root of this; 1..=64 (default 8).
    #[serde(default = "default_ppc")]
    pub particles_per_cell: u32,
    /// How particles are placed inside the shape.
    #[serde(default)]
    pub sampling: Sampling,
    /// Constitutive model and its parameters.
    pub material: Material,
    /// Initial velocity [m/s]. Default 0.
    #[serde(default)]
    pub velocity: Vec3,
    /// Emit the body as a stream instead of placing it at t = 0 (default none).
    #[serde(default)]
    pub emitter: Option<Emitter>,
}

/// A particle emitter (injector). The body's `shape` is the volume to be
/// emitted, laid out upstream of the nozzle; its `velocity` (non-zero) is
/// the stream's velocity. The nozzle exit is the plane normal to the
/// velocity through the body's most downstream particle. Each particle
/// waits on that plane, frozen and without mass on the grid, until the
/// column moving at `velocity` would have carried it there: a particle at
/// distance d upstream of the exit is released at `start` + d / |velocity|.
/// The flow rate is density × (cross-section normal to the velocity) × |velocity|.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Emitter {
    /// Time the first particles leave the nozzle [s] (>= 0, default 0).
    #[serde(default)]
    pub start: f64,
    /// How the nozzle moves (default `Static`), as a displacement [m] from
    /// where the shape puts it: `Keyframes` positions are displacements
    /// (rotations must be zero), `Constant` moves it at `linear` (no
    /// `angular_deg`), `PerStep` integrates velocities. Each particle
    /// leaves from the displaced nozzle at its release time, with the
    /// body's `velocity` plus the nozzle's velocity over its release substep.
    #[serde(default)]
    pub motion: Motion,
}

impl Motion {
    /// Displacement [m] of a frame that starts at the origin and moves by
    /// this motion, at time `t` [s] (substeps of `dt` [s] for `PerStep`),
    /// ignoring rotation.
    pub fn displacement_at(&self, t: f64, dt: f64) -> Vec3 {
        match self {
            Motion::Static => [0.0; 3],
            Motion::Constant { linear, .. } => linear.map(|v| v * t),
            Motion::PerStep(vs) => {
                let n = (t / dt).round().max(0.0) as usize;
                let mut d = [0.0; 3];
                for (k, v) in vs.iter().enumerate().take(n) {
                    let held = if k + 1 == vs.len() {
                        (n - k) as f64
                    } else {
                        1.0
                    };
                    for a in 0..3 {
                        d[a] += v[a] * dt * held;
                    }
                }
                d
            }
            Motion::Keyframes(keys) => {
                let Some(first) = keys.first() else {
                    return [0.0; 3];
                };
                if t <= first.time {
                    return first.position;
                }
                for w in keys.windows(2) {
                    if t <= w[1].time {
                        let s = (t - w[0].time) / (w[1].time - w[0].time);
                        return std::array::from_fn(|a| {
                            w[0].position[a] + s * (w[1].position[a] - w[0].position[a])
                        });
                    }
                }
                keys[keys.len() - 1].position
            }
        }
    }
}

fn default_ppc() -> u32 {
    8
}

/// Particle placement inside a body's shape.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub enum Sampling {
    /// A regular lattice (default); `particles_per_cell` must be a perfect cube (1, 8, 27, 64).
    #[default]
    Lattice,
    /// Jittered lattice: one particle per sub-cell at a random offset, from the given seed.
    Jittered(u64),
}

/// Region filled with particles. All lengths in metres, in world coordinates.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub enum BodyShape {
    /// Axis-aligned box between two corners.
    Box {
        /// Lower corner [m].
        min: Vec3,
        /// Upper corner [m].
        max: Vec3,
    },
    /// Ball.
    Sphere {
        /// Centre [m].
        center: Vec3,
        /// Radius [m], > 0.
        radius: f64,
    },
    /// Cylinder whose axis is parallel to y.
    Cylinder {
        /// Centre [m].
        center: Vec3,
        /// Radius [m], > 0.
        radius: f64,
        /// Half the height along y [m], > 0.
        half_height: f64,
    },
    /// The inside of a closed triangle mesh from an OBJ file (path relative to the scene file).
    Mesh {
        /// OBJ path.
        path: String,
        /// Uniform scale applied to the mesh's vertices (default 1).
        #[serde(default = "one")]
        scale: f64,
        /// Translation applied after scaling [m].
        #[serde(default)]
        translation: Vec3,
    },
}

fn one() -> f64 {
    1.0
}

/// Constitutive models. Densities in kg/m³, moduli and stresses in Pa, viscosities in Pa·s.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub enum Material {
    /// Newtonian fluid with a weakly compressible (Tait) equation of state
    /// p = K/γ · (J^-γ − 1) and viscous stress 2μ·sym(∇v).
    Fluid {
        /// Rest density [kg/m³].
        density: f64,
        /// Bulk modulus K [Pa].
        bulk_modulus: f64,
        /// Tait exponent γ (default 7; 1 gives p = K(1/J − 1)).
        #[serde(default = "tait_gamma")]
        gamma: f64,
        /// Dynamic viscosity μ [Pa·s], >= 0.
        #[serde(default)]
        viscosity: f64,
    },
    /// Fixed-corotated hyperelastic solid (Stomakhin et al. 2012).
    FixedCorotated {
        /// Density [kg/m³].
        density: f64,
        /// Young's modulus E [Pa].
        youngs_modulus: f64,
        /// Poisson ratio ν, in [0, 0.5).
        poisson_ratio: f64,
    },
    /// Compressible neo-Hookean solid.
    NeoHookean {
        /// Density [kg/m³].
        density: f64,
        /// Young's modulus E [Pa].
        youngs_modulus: f64,
        /// Poisson ratio ν, in [0, 0.5).
        poisson_ratio: f64,
    },
    /// Elastoplastic solid: St. Venant–Kirchhoff in Hencky strain with von Mises plasticity (plasticine).
    VonMises {
        /// Density [kg/m³].
        density: f64,
        /// Young's modulus E [Pa].
        youngs_modulus: f64,
        /// Poisson ratio ν, in [0, 0.5).
        poisson_ratio: f64,
        /// Yield stress τ_Y [Pa], > 0.
        yield_stress: f64,
    },
    /// Granular matter: Drucker–Prager plasticity in Hencky strain (Klár et al. 2016).
    DruckerPrager {
        /// Density [kg/m³].
        density: f64,
        /// Young's modulus E [Pa].
        youngs_modulus: f64,
        /// Poisson ratio ν, in [0, 0.5).
        poisson_ratio: f64,
        /// Internal friction angle [degrees], in (0, 90).
        friction_angle_deg: f64,
        /// Cohesion [Pa] (default 0: dry sand).
        #[serde(default)]
        cohesion: f64,
    },
    /// Snow-like plastic with hardening (Stomakhin et al. 2013).
    Snow {
        /// Density [kg/m³].
        density: f64,
        /// Young's modulus E [Pa].
        youngs_modulus: f64,
        /// Poisson ratio ν, in [0, 0.5).
        poisson_ratio: f64,
        /// Critical compression θ_c (default 2.5e-2).
        #[serde(default = "snow_theta_c")]
        critical_compression: f64,
        /// Critical stretch θ_s (default 7.5e-3).
        #[serde(default = "snow_theta_s")]
        critical_stretch: f64,
        /// Hardening coefficient ξ (default 10).
        #[serde(default = "snow_xi")]
        hardening: f64,
    },
    /// Viscoplastic (non-Newtonian) fluid: elastic below the yield stress, and
    /// flowing with Herschel–Bulkley shear stress τ = τ_y + k·γ̇ⁿ above it
    /// (n = 1 is Bingham); Hencky elasticity with an implicit viscoplastic
    /// return mapping, so a stiff plug stays put without creeping.
    HerschelBulkley {
        /// Rest density [kg/m³].
        density: f64,
        /// Bulk modulus K [Pa].
        bulk_modulus: f64,
        /// Shear modulus G [Pa] of the unyielded material, > 0.
        shear_modulus: f64,
        /// Yield stress τ_y [Pa], >= 0.
        yield_stress: f64,
        /// Consistency k [Pa·sⁿ], > 0.
        consistency: f64,
        /// Flow index n (1 = Bingham), in (0, 2].
        #[serde(default = "one")]
        flow_index: f64,
    },
    /// A rigid body: its particles move as one rigid motion, projected each
    /// substep from the velocities the grid gives them (the momentum-
    /// preserving projection: linear and angular momentum about the centre
    /// of mass are kept), so it couples two-way with everything on the grid.
    Rigid {
        /// Density [kg/m³].
        density: f64,
    },
}

fn tait_gamma() -> f64 {
    7.0
}
fn snow_theta_c() -> f64 {
    2.5e-2
}
fn snow_theta_s() -> f64 {
    7.5e-3
}
fn snow_xi() -> f64 {
    10.0
}

/// A kinematic collider: a shape that moves along a prescribed motion and pushes matter.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Tool {
    /// Name used in error messages and outputs.
    pub name: String,
    /// Shape in the tool's own frame.
    pub shape: ToolShape,
    /// Pose at t = 0.
    #[serde(default)]
    pub pose: Pose,
    /// How the tool moves.
    #[serde(default)]
    pub motion: Motion,
    /// Coulomb friction coefficient μ between tool and matter, >= 0 (default 0.5).
    #[serde(default = "half")]
    pub friction: f64,
    /// Width of the soft contact falloff [m], >= 0 (default 0: hard contact).
    /// Grid nodes within this distance outside the surface feel a contact scaled
    /// by (1 − d/softness)², so gradients see a contact before it happens.
    #[serde(default)]
    pub softness: f64,
    /// Set for the fingers [`Scene::expand_grippers`] adds: their motion
    /// follows the gripper (`pose` and `motion` are then unused). Never read
    /// from a scene file.
    #[serde(skip)]
    pub finger: Option<Finger>,
}

/// A parallel two-finger gripper. Its frame moves like a tool (`pose`,
/// `motion`); two fingers of shape `finger`, oriented with the frame, sit on
/// the frame's local x axis at −width/2 (`NAME.left`) and +width/2
/// (`NAME.right`), and close or open as `width` changes.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Gripper {
    /// Name; the fingers are the tools `NAME.left` and `NAME.right`.
    pub name: String,
    /// Shape of each finger in its own frame (box, sphere, capsule or cylinder).
    pub finger: ToolShape,
    /// Pose of the gripper frame (the point midway between the fingers) at t = 0.
    #[serde(default)]
    pub pose: Pose,
    /// How the gripper frame moves.
    #[serde(default)]
    pub motion: Motion,
    /// Distance between the finger origins [m] over time: piecewise linear
    /// between keys, constant before the first and after the last.
    pub width: Vec<WidthKey>,
    /// Coulomb friction coefficient μ of the fingers, >= 0 (default 0.5).
    #[serde(default = "half")]
    pub friction: f64,
    /// Soft contact falloff of the fingers [m], >= 0 (default 0).
    #[serde(default)]
    pub softness: f64,
}

/// A gripper's opening at a time.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WidthKey {
    /// Time [s], strictly increasing along the list.
    pub time: f64,
    /// Distance between the finger origins [m], >= 0.
    pub width: f64,
}

impl Gripper {
    /// The finger separation [m] at time `t` [s].
    pub fn width_at(&self, t: f64) -> f64 {
        let k = &self.width;
        match k.iter().position(|w| w.time >= t) {
            None => k.last().map_or(0.0, |w| w.width),
            Some(0) => k[0].width,
            Some(i) => {
                let (a, b) = (k[i - 1], k[i]);
                a.width + (b.width - a.width) * (t - a.time) / (b.time - a.time)
            }
        }
    }
}

/// How a finger tool follows its gripper.
#[derive(Clone, Debug, PartialEq)]
pub struct Finger {
    /// The gripper (a copy, so a tool's trajectory needs nothing else).
    pub gripper: Gripper,
    /// Index of the gripper in [`Scene::grippers`].
    pub index: usize,
    /// −1 for the left finger (at −width/2 along local x), +1 for the right.
    pub side: f64,
}

impl Scene {
    /// Appends each gripper's two fingers to `tools` (left then right, in
    /// gripper order), replacing any fingers appended before. Loading a
    /// scene does this; tool indices (losses, task controls) count them.
    pub fn expand_grippers(&mut self) {
        self.tools.retain(|t| t.finger.is_none());
        for (index, g) in self.grippers.iter().enumerate() {
            for (side, label) in [(-1.0, "left"), (1.0, "right")] {
                self.tools.push(Tool {
                    name: format!("{}.{label}", g.name),
                    shape: g.finger.clone(),
                    pose: g.pose.clone(),
                    motion: Motion::Static,
                    friction: g.friction,
                    softness: g.softness,
                    finger: Some(Finger {
                        gripper: g.clone(),
                        index,
                        side,
                    }),
                });
            }
        }
    }

    /// Number of tools once grippers are expanded (written tools plus two
    /// fingers per gripper).
    pub fn tool_count(&self) -> usize {
        self.tools.iter().filter(|t| t.finger.is_none()).count() + 2 * self.grippers.len()
    }
}

fn half() -> f64 {
    0.5
}

/// A rigid pose: translation [m] and rotation as Euler angles [degrees], applied X then Y then Z.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Pose {
    /// Position [m].
    #[serde(default)]
    pub position: Vec3,
    /// Rotation, intrinsic XYZ Euler angles [degrees].
    #[serde(default)]
    pub rotation_deg: Vec3,
}

/// Tool shapes in the tool's frame (centred at the origin).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub enum ToolShape {
    /// Box with the given half extents [m].
    Box {
        /// Half extents [m], each > 0.
        half_extents: Vec3,
    },
    /// Ball.
    Sphere {
        /// Radius [m], > 0.
        radius: f64,
    },
    /// Capsule along the local y axis.
    Capsule {
        /// Radius [m], > 0.
        radius: f64,
        /// Half the length of the segment between the cap centres [m], >= 0.
        half_height: f64,
    },
    /// Cylinder along the local y axis.
    Cylinder {
        /// Radius [m], > 0.
        radius: f64,
        /// Half height [m], > 0.
        half_height: f64,
    },
    /// Half-space below the plane through the origin with local normal +y.
    Plane,
    /// A triangle mesh from an OBJ file, turned into a signed-distance grid.
    Mesh {
        /// OBJ path, relative to the scene file.
        path: String,
        /// Uniform scale applied to vertices (default 1).
        #[serde(default = "one")]
        scale: f64,
        /// Signed-distance grid spacing [m], > 0.
        sdf_dx: f64,
    },
}

/// Prescribed motion of a tool.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub enum Motion {
    /// The tool stays at its initial pose (default).
    #[default]
    Static,
    /// Piecewise-linear interpolation between keyframes (positions linearly,
    /// rotations by slerp); constant before the first and after the last.
    Keyframes(Vec<Keyframe>),
    /// Constant linear [m/s] and angular [deg/s, about world axes] velocity.
    Constant {
        /// Linear velocity [m/s].
        linear: Vec3,
        /// Angular velocity [degrees/s].
        #[serde(default)]
        angular_deg: Vec3,
    },
    /// One linear velocity [m/s] per substep; the last is held afterwards.
    PerStep(Vec<Vec3>),
}

/// A pose at a time.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Keyframe {
    /// Time [s], strictly increasing along the list.
    pub time: f64,
    /// Position [m].
    pub position: Vec3,
    /// Rotation, XYZ Euler angles [degrees].
    #[serde(default)]
    pub rotation_deg: Vec3,
}

/// Output settings.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Output {
    /// Write per-frame PLY particle files (default true).
    #[serde(default = "yes")]
    pub ply: bool,
    /// Write per-frame NPY arrays (default true).
    #[serde(default = "yes")]
    pub npy: bool,
    /// Write per-frame PNG renders (default true).
    #[serde(default = "yes")]
    pub png: bool,
    /// Write every n-th frame only (default 1 = every frame), >= 1.
    #[serde(default = "one_u32")]
    pub every: u32,
    /// Camera for PNG renders.
    #[serde(default)]
    pub camera: Camera,
    /// Particle colouring in renders.
    #[serde(default)]
    pub color_by: ColorBy,
}

fn yes() -> bool {
    true
}
fn one_u32() -> u32 {
    1
}

impl Default for Output {
    fn default() -> Self {
        Output {
            ply: true,
            npy: true,
            png: true,
            every: 1,
            camera: Camera::default(),
            color_by: ColorBy::default(),
        }
    }
}

/// A pinhole camera.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Camera {
    /// Eye position [m]. If absent, placed to frame the domain.
    #[serde(default)]
    pub eye: Option<Vec3>,
    /// Point looked at [m]. If absent, the domain centre.
    #[serde(default)]
    pub target: Option<Vec3>,
    /// Up direction (default +y).
    #[serde(default = "up")]
    pub up: Vec3,
    /// Vertical field of view [degrees], in (1, 170). Default 45.
    #[serde(default = "fov")]
    pub fov_deg: f64,
    /// Image width [pixels], 16..=8192. Default 800.
    #[serde(default = "width")]
    pub width: u32,
    /// Image height [pixels], 16..=8192. Default 600.
    #[serde(default = "height")]
    pub height: u32,
}

fn up() -> Vec3 {
    [0.0, 1.0, 0.0]
}
fn fov() -> f64 {
    45.0
}
fn width() -> u32 {
    800
}
fn height() -> u32 {
    600
}

impl Default for Camera {
    fn default() -> Self {
        Camera {
            eye: None,
            target: None,
            up: up(),
            fov_deg: fov(),
            width: width(),
            height: height(),
        }
    }
}

/// What particle colour encodes in renders.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub enum ColorBy {
    /// One colour per body (default).
    #[default]
    Body,
    /// Speed |v|, blue (slow) to red (fast).
    Speed,
}
