//! MLS-MPM (Hu et al. 2018) with quadratic B-splines and APIC transfer, on
//! the GPU. One substep is a fixed list of dispatches:
//!
//! | stage | Rust | shader |
//! |---|---|---|
//! | bin particles by cell (count, scan, place, sort) | [`bin::Binning`] | `mpm/bin.wgsl`, `common/scan.wgsl`, `mpm/bin_place.wgsl` |
//! | P2G payload (mass, momentum, affine + stress) | [`p2g::P2g`] | `mpm/p2g_prepare.wgsl` |
//! | P2G gather fused with the grid update (gravity, walls, tools) | [`p2g::P2g`] | `mpm/p2g.wgsl`, `mpm/grid_update.wgsl` |
//! | G2P, deformation update, plasticity, stress | [`g2p::G2p`] | `mpm/g2p.wgsl`, `mpm/material.wgsl` |
//! | advance the substep clock | [`g2p::G2p`] | `mpm/clock.wgsl` |
//!
//! P2G gathers per node from particles binned by cell rather than scattering
//! with float atomics: sums have a fixed order (bitwise deterministic runs),
//! f64 needs no 64-bit atomics, and software drivers avoid atomic contention.

pub mod bin;
pub mod diagnostics;
pub mod g2p;
pub mod model;
pub mod p2g;
pub mod state;

pub use model::MpmModel;
pub use state::MpmState;
