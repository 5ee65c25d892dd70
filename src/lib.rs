//! The `ductile` command's library: headless runs, output writers, picture
//! rendering of scenes and the benchmark, shared by the CLI and its tests.

pub mod bench;
pub mod bench_render;
pub mod bench_tactile;
pub mod calibrate;
pub mod gradcheck;
pub mod memory;
pub mod optimize;
pub mod optimize_render;
pub mod output;
pub mod run;

pub use ductile_gpu as gpu;
pub use ductile_opt as opt;
pub use ductile_render as render;
pub use ductile_scene as scene;
pub use ductile_sim as sim;
