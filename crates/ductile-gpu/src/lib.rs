//! Ductile's GPU runtime: adapter choice, the WGSL shader library with its
//! `#import` preprocessor and precision switch, compute kernels, buffers,
//! readback and per-pass timestamp queries.
//!
//! Everything above this crate (solvers, renderer, CLI) talks to the GPU
//! through [`GpuContext`], [`ShaderLibrary`] and [`Kernel`].

pub mod buffers;
pub mod context;
pub mod kernel;
pub mod shaders;
pub mod timing;

pub use buffers::{
    bytes_to_reals, read_buffer, reals_to_bytes, storage_buffer, storage_buffer_zeroed,
    uniform_buffer, BufferUse,
};
pub use context::{AdapterPreference, ContextOptions, GpuContext, GpuError};
pub use kernel::{groups_1d, Kernel, WORKGROUP_SIZE};
pub use shaders::{AtomicsMode, Precision, ShaderConfig, ShaderError, ShaderLibrary};
pub use timing::GpuTimer;
pub use wgpu;
