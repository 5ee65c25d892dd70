//! Buffer creation and readback helpers.

use crate::context::{GpuContext, GpuError};
use crate::shaders::Precision;
use std::sync::atomic::{AtomicU64, Ordering};

static ALLOCATED: AtomicU64 = AtomicU64::new(0);

/// Bytes of storage buffers created through this module since the process started
/// (buffers are not subtracted when dropped: this is a high-water mark of what was asked for).
pub fn allocated_bytes() -> u64 {
    ALLOCATED.load(Ordering::Relaxed)
}
use wgpu::util::DeviceExt;

/// What a buffer is for; decides its usage flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BufferUse {
    /// Read and written by kernels, copied from and to.
    Storage,
    /// Storage that may also be read by vertex shaders.
    StorageVertex,
    /// Storage that also holds the workgroup counts of indirect dispatches.
    Indirect,
}

fn usage(u: BufferUse) -> wgpu::BufferUsages {
    let base =
        wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST;
    match u {
        BufferUse::Storage => base,
        BufferUse::StorageVertex => base | wgpu::BufferUsages::VERTEX,
        BufferUse::Indirect => base | wgpu::BufferUsages::INDIRECT,
    }
}

/// Creates a storage buffer initialised with `data`, after checking the adapter's limits.
pub fn storage_buffer(
    ctx: &GpuContext,
    label: &str,
    data: &[u8],
    u: BufferUse,
) -> Result<wgpu::Buffer, GpuError> {
    ctx.check_buffer(label, data.len() as u64)?;
    ALLOCATED.fetch_add(data.len().max(16) as u64, Ordering::Relaxed);
    // wgpu rejects zero-sized bindings: keep at least 16 bytes.
    let padded;
    let contents = if data.len() < 16 {
        padded = {
            let mut v = data.to_vec();
            v.resize(16, 0);
            v
        };
        &padded[..]
    } else {
        data
    };
    Ok(ctx
        .device
        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents,
            usage: usage(u),
        }))
}

/// Creates a zero-filled storage buffer of `bytes` bytes, after checking the adapter's limits.
pub fn storage_buffer_zeroed(
    ctx: &GpuContext,
    label: &str,
    bytes: u64,
    u: BufferUse,
) -> Result<wgpu::Buffer, GpuError> {
    ctx.check_buffer(label, bytes)?;
    ALLOCATED.fetch_add(bytes.max(16), Ordering::Relaxed);
    Ok(ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: bytes.max(16).next_multiple_of(4),
        usage: usage(u),
        mapped_at_creation: false,
    }))
}

/// Creates a uniform buffer holding `data`.
pub fn uniform_buffer(ctx: &GpuContext, label: &str, data: &[u8]) -> wgpu::Buffer {
    ctx.device
        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: data,
            usage: wgpu::BufferUsages::UNIFORM
                | wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_DST,
        })
}

/// Copies `bytes` bytes from the start of `buffer` to the host, blocking.
/// This polls the device: never call it inside the step loop except for requested output.
pub fn read_buffer(
    ctx: &GpuContext,
    buffer: &wgpu::Buffer,
    bytes: u64,
) -> Result<Vec<u8>, GpuError> {
    let size = bytes.next_multiple_of(4).max(4);
    let staging = ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("readback"),
        size,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut enc = ctx
        .device
        .create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("readback"),
        });
    enc.copy_buffer_to_buffer(buffer, 0, &staging, 0, size);
    ctx.queue.submit([enc.finish()]);
    let slice = staging.slice(..);
    let (tx, rx) = std::sync::mpsc::channel();
    slice.map_async(wgpu::MapMode::Read, move |r| {
        let _ = tx.send(r);
    });
    ctx.wait()?;
    rx.recv()
        .map_err(|e| GpuError::Operation(e.to_string()))?
        .map_err(|e| GpuError::Operation(e.to_string()))?;
    let mut data = slice
        .get_mapped_range()
        .map_err(|e| GpuError::Operation(e.to_string()))?
        .to_vec();
    staging.unmap();
    data.truncate(bytes as usize);
    Ok(data)
}

/// Encodes host values (computed in f64) as the kernels' `Real`.
pub fn reals_to_bytes(values: &[f64], precision: Precision) -> Vec<u8> {
    match precision {
        Precision::F32 => {
            let v: Vec<f32> = values.iter().map(|&x| x as f32).collect();
            bytemuck::cast_slice(&v).to_vec()
        }
        Precision::F64 => bytemuck::cast_slice(values).to_vec(),
    }
}

/// Decodes `Real`s read back from the GPU into f64.
pub fn bytes_to_reals(bytes: &[u8], precision: Precision) -> Vec<f64> {
    match precision {
        Precision::F32 => bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64)
            .collect(),
        Precision::F64 => bytes
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
            .collect(),
    }
}
