//! The integration tests, in one binary so that its test threads keep both
//! cores busy to the end (cargo runs test binaries one after another) and
//! the workspace links one test executable instead of five:
//!
//! | module | what it checks |
//! |---|---|
//! | `cli` | the `ductile` command as a user meets it: every scene and task, errors, limits |
//! | `fem` | the FEM solver: a column under its own weight against linear elasticity, gradients through the tape |
//! | `fem_kernels` | each tactile and FEM–MPM device function's adjoint alone (cameras, sensor frame, contact law) |
//! | `fem_matter` | FEM–MPM contact: momentum exchanged exactly, gradients through it |
//! | `gradients` | adjoints against central differences, per parameter group and material |
//! | `kernel_adjoints` | each device function's adjoint alone, on random inputs (stress, return mappings, contact) |
//! | `mpm_invariants` | exact invariants: mass, momentum, rotation invariance, determinism, emitters |
//! | `optimize` | the optimisation driver: control maps, masks, clipping, windows, resume |
//! | `sensor` | the tactile sensor: markers through pinhole and fisheye cameras in the sensor frame, the marker loss's gradients |
//! | `physics` | solvers against closed-form solutions and measurements |
//! | `stage_adjoints` | each transfer kernel's adjoint alone (P2G, grid update with tools and walls, G2P) |
//! | `viewer` | `ductile view` in a real window under Xvfb: every scene drawn where its bodies are |
//! | `world` | the multi-solver runtime: a test-only spring solver and its coupling to MPM through the world, tape, losses and gradient checks |

mod cli;
mod common;
mod fem;
mod fem_kernels;
mod fem_matter;
mod gradients;
mod kernel_adjoints;
mod mpm_invariants;
mod optimize;
mod physics;
mod sensor;
mod stage_adjoints;
mod viewer;
mod world;
