//! Errors of building and running a simulation.

use thiserror::Error;

/// What went wrong in a simulation.
#[derive(Debug, Error)]
pub enum SimError {
    /// The scene was rejected.
    #[error(transparent)]
    Scene(#[from] ductile_scene::SceneError),
    /// The GPU refused or failed.
    #[error(transparent)]
    Gpu(#[from] ductile_gpu::GpuError),
    /// A shader failed to compose.
    #[error(transparent)]
    Shader(#[from] ductile_gpu::ShaderError),
    /// The simulation blew up.
    #[error(transparent)]
    Unstable(#[from] Box<Unstable>),
    /// Anything else, with a message.
    #[error("{0}")]
    Other(String),
}

/// A simulation that produced NaN/inf or lost a particle out of the domain.
#[derive(Debug, Error)]
#[error("simulation unstable at substep {step} (t = {time:.6} s): {item} {what}{hint}")]
pub struct Unstable {
    /// The failing item in words ("particle 12 of body `water`", "node 3 of FEM body `pad`").
    pub item: String,
    /// Substep index (0-based) at which it was first detected.
    pub step: u64,
    /// Simulated time at the start of that substep [s].
    pub time: f64,
    /// Name of the body the particle belongs to.
    pub body: String,
    /// Lowest index of a failing particle (or node, for other solvers) in that substep.
    pub particle: u32,
    /// What happened.
    pub what: String,
    /// A hint for fixing it.
    pub hint: String,
}
