//! Per-pass GPU timestamps: each compute pass may ask for a begin/end pair of
//! queries; totals are accumulated per pass name when the user reads them
//! (at output frames), never inside the step loop.

use crate::context::{GpuContext, GpuError};
use std::collections::BTreeMap;

/// Accumulates GPU time per named pass.
pub struct GpuTimer {
    query_set: Option<wgpu::QuerySet>,
    resolve: Option<wgpu::Buffer>,
    capacity: u32,
    labels: Vec<&'static str>,
    period_ns: f64,
    /// Total GPU time per pass name [ns] and number of samples.
    pub totals: BTreeMap<&'static str, (f64, u64)>,
}

impl GpuTimer {
    /// A timer with room for `max_passes` timed passes between two [`GpuTimer::collect`] calls.
    /// Does nothing on adapters without `TIMESTAMP_QUERY`.
    pub fn new(ctx: &GpuContext, max_passes: u32) -> Self {
        let capacity = max_passes.clamp(1, 2048);
        let (query_set, resolve) = if ctx.timestamps {
            let qs = ctx.device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("pass timestamps"),
                ty: wgpu::QueryType::Timestamp,
                count: capacity * 2,
            });
            let buf = ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("timestamp resolve"),
                size: capacity as u64 * 16,
                usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            });
            (Some(qs), Some(buf))
        } else {
            (None, None)
        };
        GpuTimer {
            query_set,
            resolve,
            capacity,
            labels: Vec::with_capacity(capacity as usize),
            period_ns: ctx.queue.get_timestamp_period() as f64,
            totals: BTreeMap::new(),
        }
    }

    /// A timer that never records (for passes whose times are not wanted).
    pub fn disabled() -> Self {
        GpuTimer {
            query_set: None,
            resolve: None,
            capacity: 0,
            labels: Vec::new(),
            period_ns: 1.0,
            totals: BTreeMap::new(),
        }
    }

    /// True when the adapter gives timestamps.
    pub fn enabled(&self) -> bool {
        self.query_set.is_some()
    }

    /// Timestamp writes for the next pass named `label`, or `None` when
    /// timestamps are off or this interval's capacity is used up.
    pub fn pass(&mut self, label: &'static str) -> Option<wgpu::ComputePassTimestampWrites<'_>> {
        let qs = self.query_set.as_ref()?;
        let i = self.labels.len() as u32;
        if i >= self.capacity {
            return None;
        }
        self.labels.push(label);
        Some(wgpu::ComputePassTimestampWrites {
            query_set: qs,
            beginning_of_pass_write_index: Some(2 * i),
            end_of_pass_write_index: Some(2 * i + 1),
        })
    }

    /// Records the query resolve into `encoder`; call once after the timed passes.
    pub fn resolve(&self, encoder: &mut wgpu::CommandEncoder) {
        if let (Some(qs), Some(buf)) = (&self.query_set, &self.resolve) {
            let n = self.labels.len() as u32;
            if n > 0 {
                encoder.resolve_query_set(qs, 0..2 * n, buf, 0);
            }
        }
    }

    /// Reads back the resolved timestamps (blocking) and adds them to [`GpuTimer::totals`].
    pub fn collect(&mut self, ctx: &GpuContext) -> Result<(), GpuError> {
        let n = self.labels.len();
        if n == 0 {
            return Ok(());
        }
        let Some(buf) = &self.resolve else {
            return Ok(());
        };
        let bytes = crate::buffers::read_buffer(ctx, buf, n as u64 * 16)?;
        let stamps: &[u64] = bytemuck::cast_slice(&bytes);
        for (i, label) in self.labels.iter().enumerate() {
            let dt = stamps[2 * i + 1].saturating_sub(stamps[2 * i]) as f64 * self.period_ns;
            let e = self.totals.entry(label).or_insert((0.0, 0));
            e.0 += dt;
            e.1 += 1;
        }
        self.labels.clear();
        Ok(())
    }
}
