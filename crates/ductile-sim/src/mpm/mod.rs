//! MLS-MPM (Hu et al. 2018) with quadratic B-splines and APIC transfer, on
//! the GPU. One substep is a fixed list of dispatches:
//!
//! | stage | Rust | shader |
//! |---|---|---|
//! | deterministic mode only: bin particles by cell (count, scan, place, sort) | [`bin::Binning`] | `mpm/bin.wgsl`, `common/scan.wgsl`, `mpm/bin_place.wgsl` |
//! | P2G scatter with float atomics (default) | [`p2g::P2g`] | `mpm/p2g_scatter.wgsl`, `common/atomics.wgsl` |
//! | list the node blocks that particles reach (for indirect dispatches over them) | [`active::ActiveBlocks`] | `mpm/mark_blocks.wgsl`, `mpm/active_blocks.wgsl` |
//! | grid update (gravity, walls, tools) | [`p2g::P2g`] | `mpm/grid_update_scatter.wgsl`, `mpm/grid_update.wgsl` |
//! | or, deterministic: P2G payload in binned order | [`p2g::P2g`] | `mpm/p2g_prepare.wgsl` |
//! | or, deterministic: P2G gather fused with the grid update | [`p2g::P2g`] | `mpm/p2g.wgsl`, `mpm/grid_update.wgsl` |
//! | G2P, deformation update, plasticity, stress | [`g2p::G2p`] | `mpm/g2p.wgsl`, `mpm/material.wgsl` |
//! | rigid bodies only: project each onto a rigid motion | [`g2p::G2p`] | `mpm/rigid.wgsl`, `mpm/rigid_common.wgsl` |
//!
//! Adjoints of these stages are listed in [`adjoint`].
//!
//! The default P2G scatters with float atomics (native `atomic<f32>` or a
//! compare-and-swap loop). The deterministic mode, and every f64 run, gathers
//! per node from particles binned by cell instead: sums have a fixed order
//! (bitwise reproducible runs) and f64 needs no 64-bit atomics.

pub mod active;
pub mod adjoint;
pub mod bin;
pub mod diagnostics;
pub mod g2p;
pub mod model;
pub mod p2g;
pub mod solver;
pub mod state;

pub use model::MpmModel;
pub use state::MpmState;
