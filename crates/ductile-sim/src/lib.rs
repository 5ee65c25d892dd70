//! Ductile's solvers. The backbone is Newton's split:
//! - **Model**: what never changes during a rollout (grid, materials, particle
//!   bodies, tool shapes and signed-distance grids);
//! - **State**: what every substep reads and writes (particle x, v, C, F, …);
//! - **Control**: what an optimiser may change (per-substep tool poses and velocities).
//!
//! A [`world::World`] holds the solvers (MPM today; see `ARCHITECTURE.md`
//! for adding one), their couplings and what they share; [`Simulation`]
//! builds a world from a scene and steps it on the GPU; [`Rollout`] adds the
//! checkpointed adjoint pass for gradients of a loss.

pub mod control;
pub mod error;
pub mod fem;
pub mod gradcheck;
pub mod loss;
pub mod material;
pub mod mpm;
pub mod simulation;
pub mod stages;
pub mod tape;
pub mod tools;
pub mod world;

pub use control::{Control, ToolPose};
pub use error::{SimError, Unstable};
pub use loss::LossMonitor;
pub use mpm::diagnostics::PackColor;
pub use mpm::p2g::P2gMode;
pub use mpm::solver::{BodyGradients, MpmSolver};
pub use mpm::state::StateHost;
pub use simulation::{BinnedParticles, Diagnostics, ParticlesHost, Simulation, SimulationOptions};
pub use tape::{Gradients, MemoryPlan, Rollout, TapeOptions};
pub use world::{Coupling, PointSet, Solver, SolverGradients, SurfaceView, TubesView, World};
