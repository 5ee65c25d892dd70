//! A compiled compute kernel: one entry point of one shader module, its
//! pipeline and bind-group layouts, and helpers to bind buffers and dispatch.
//! Pipelines are cached per device: a shader's source depends only on its
//! module, entry point and [`ShaderConfig`] (scene sizes are runtime
//! parameters), and building one is the slowest part of setting up a
//! simulation on lavapipe, where a gradient scene's kernels took seconds.

use crate::context::GpuContext;
use crate::shaders::{ShaderConfig, ShaderError, ShaderLibrary};
use std::collections::HashMap;

/// Built pipelines and their used bindings, by (module, entry point, config).
pub(crate) type PipelineCache =
    HashMap<(String, String, ShaderConfig), (wgpu::ComputePipeline, Vec<u32>)>;

/// Threads per workgroup used by every 1-D kernel in `shaders/` (`@workgroup_size(64)`).
pub const WORKGROUP_SIZE: u32 = 64;

/// A compute pipeline built from `shaders/<module>.wgsl`, entry point `entry`.
pub struct Kernel {
    /// `module::entry`, for labels and timings.
    pub name: String,
    /// The pipeline.
    pub pipeline: wgpu::ComputePipeline,
    /// Bindings of group 0 the entry point uses.
    pub used: Vec<u32>,
}

impl Kernel {
    /// Composes the module for `config` and builds the pipeline with an
    /// automatic layout, or takes it from the device's cache when built before.
    pub fn new(
        ctx: &GpuContext,
        module: &str,
        entry: &str,
        config: ShaderConfig,
    ) -> Result<Self, ShaderError> {
        Self::cached_or(ctx, module, entry, config, || {
            ShaderLibrary::compose(module, config)
        })
    }

    /// A kernel from WGSL source text kept outside `shaders/` (a solver
    /// defined in a test or a downstream crate), composed with the library's
    /// `#import`s as [`ShaderLibrary::compose_source`] does. `module` names
    /// it in labels, errors and the pipeline cache: give each source its own.
    pub fn from_source(
        ctx: &GpuContext,
        module: &str,
        src: &str,
        entry: &str,
        config: ShaderConfig,
    ) -> Result<Self, ShaderError> {
        Self::cached_or(ctx, module, entry, config, || {
            ShaderLibrary::compose_source(module, src, config)
        })
    }

    /// The cached kernel for (module, entry, config), or one built from the
    /// source `compose` gives.
    fn cached_or(
        ctx: &GpuContext,
        module: &str,
        entry: &str,
        config: ShaderConfig,
        compose: impl FnOnce() -> Result<String, ShaderError>,
    ) -> Result<Self, ShaderError> {
        let key = (module.to_string(), entry.to_string(), config);
        if let Some((pipeline, used)) = ctx
            .pipelines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok(Kernel {
                name: format!("{module}::{entry}"),
                pipeline: pipeline.clone(),
                used: used.clone(),
            });
        }
        let src = compose()?;
        Self::build(ctx, key, &src)
    }

    /// Validates a composed source, builds its pipeline and caches it under `key`.
    fn build(
        ctx: &GpuContext,
        key: (String, String, ShaderConfig),
        src: &str,
    ) -> Result<Self, ShaderError> {
        let (module, entry, config) = (key.0.as_str(), key.1.as_str(), key.2);
        let name = format!("{module}::{entry}");
        let used = ShaderLibrary::used_bindings_in(module, src, config, entry)?
            .into_iter()
            .filter(|(g, _)| *g == 0)
            .map(|(_, b)| b)
            .collect::<Vec<u32>>();
        let shader = ctx
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(module),
                source: wgpu::ShaderSource::Wgsl(src.into()),
            });
        let pipeline = ctx
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(&name),
                layout: None,
                module: &shader,
                entry_point: Some(entry),
                compilation_options: Default::default(),
                cache: None,
            });
        ctx.pipelines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.clone(), (pipeline.clone(), used.clone()));
        Ok(Kernel {
            name,
            pipeline,
            used,
        })
    }

    /// Binds `buffers` to bindings 0, 1, 2, … of bind group `group`.
    pub fn bind(&self, ctx: &GpuContext, group: u32, buffers: &[&wgpu::Buffer]) -> wgpu::BindGroup {
        let layout = self.pipeline.get_bind_group_layout(group);
        let entries: Vec<wgpu::BindGroupEntry> = buffers
            .iter()
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: b.as_entire_binding(),
            })
            .collect();
        ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(&self.name),
            layout: &layout,
            entries: &entries,
        })
    }

    /// Binds buffers to explicit binding numbers of bind group `group`
    /// (for entry points that use only some of their module's bindings).
    pub fn bind_at(
        &self,
        ctx: &GpuContext,
        group: u32,
        buffers: &[(u32, &wgpu::Buffer)],
    ) -> wgpu::BindGroup {
        let layout = self.pipeline.get_bind_group_layout(group);
        let entries: Vec<wgpu::BindGroupEntry> = buffers
            .iter()
            .map(|(i, b)| wgpu::BindGroupEntry {
                binding: *i,
                resource: b.as_entire_binding(),
            })
            .collect();
        ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(&self.name),
            layout: &layout,
            entries: &entries,
        })
    }

    /// Binds, from `buffers` (binding number, buffer), those that this entry
    /// point uses, to group 0 (for modules whose entry points use different
    /// subsets of one binding list).
    pub fn bind_used(&self, ctx: &GpuContext, buffers: &[(u32, &wgpu::Buffer)]) -> wgpu::BindGroup {
        let picked: Vec<(u32, &wgpu::Buffer)> = buffers
            .iter()
            .filter(|(b, _)| self.used.contains(b))
            .copied()
            .collect();
        self.bind_at(ctx, 0, &picked)
    }

    /// Records a dispatch of `groups` workgroups with the given bind groups.
    pub fn dispatch(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        bind_groups: &[&wgpu::BindGroup],
        groups: [u32; 3],
    ) {
        pass.set_pipeline(&self.pipeline);
        for (i, bg) in bind_groups.iter().enumerate() {
            pass.set_bind_group(i as u32, *bg, &[]);
        }
        pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
    }

    /// Records a dispatch whose workgroup counts the GPU reads from `args`
    /// at byte `offset` (three u32, written by an earlier kernel).
    pub fn dispatch_indirect(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        bind_groups: &[&wgpu::BindGroup],
        args: &wgpu::Buffer,
        offset: u64,
    ) {
        pass.set_pipeline(&self.pipeline);
        for (i, bg) in bind_groups.iter().enumerate() {
            pass.set_bind_group(i as u32, *bg, &[]);
        }
        pass.dispatch_workgroups_indirect(args, offset);
    }

    /// Records a dispatch covering `threads` invocations of a 64-wide 1-D kernel,
    /// folded into two dimensions when one is not enough. Shaders recover the
    /// flat index with `flat_index` from `common/index.wgsl`.
    pub fn dispatch_1d(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        bind_groups: &[&wgpu::BindGroup],
        threads: u32,
    ) {
        self.dispatch(pass, bind_groups, groups_1d(threads));
    }
}

/// Workgroup counts `[x, y, 1]` covering `threads` invocations at 64 per workgroup,
/// with `x` at most 32768 so that any count fits the 65535 per-dimension limit.
pub fn groups_1d(threads: u32) -> [u32; 3] {
    let groups = threads.div_ceil(WORKGROUP_SIZE).max(1);
    const MAX_X: u32 = 32768;
    if groups <= MAX_X {
        [groups, 1, 1]
    } else {
        [MAX_X, groups.div_ceil(MAX_X), 1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn groups_cover_threads() {
        for n in [0u32, 1, 63, 64, 65, 32768 * 64, 32768 * 64 + 1, 50_000_000] {
            let g = groups_1d(n);
            assert!(g[0] <= 65535 && g[1] <= 65535);
            assert!((g[0] as u64) * (g[1] as u64) * 64 >= n as u64);
        }
    }
}
