//! Adapter choice and device creation.
//!
//! The adapter is chosen in this order: the `DUCTILE_ADAPTER` environment
//! variable when set (`gpu`, `cpu`, or a case-insensitive substring of the
//! adapter name), else a discrete GPU, else an integrated GPU, else a software
//! (CPU) Vulkan driver such as Mesa's lavapipe.

use thiserror::Error;

/// Errors from setting up the GPU.
#[derive(Debug, Error)]
pub enum GpuError {
    /// No Vulkan adapter exists at all.
    #[error(
        "no Vulkan adapter found.\n  Install a GPU driver, or Mesa's software Vulkan driver:\n    apt-get install -y mesa-vulkan-drivers libvulkan1\n  (the README's commands do this for you)"
    )]
    NoAdapter,
    /// `DUCTILE_ADAPTER` matched nothing.
    #[error("DUCTILE_ADAPTER={wanted:?} matches no adapter; available: {available}")]
    NoMatch {
        /// The value of the environment variable.
        wanted: String,
        /// Names of the adapters found.
        available: String,
    },
    /// The device could not be created.
    #[error("could not create a device on {adapter}: {source}")]
    Device {
        /// Adapter name.
        adapter: String,
        /// wgpu's error.
        source: wgpu::RequestDeviceError,
    },
    /// A feature the run needs is missing.
    #[error("adapter {adapter} lacks {feature}: {hint}")]
    MissingFeature {
        /// Adapter name.
        adapter: String,
        /// Feature name.
        feature: &'static str,
        /// What the user can do.
        hint: &'static str,
    },
    /// A request exceeds the adapter's limits; refused before anything is allocated.
    #[error("{what}: asked for {asked}, but the adapter {adapter} allows at most {limit}")]
    OverLimit {
        /// What was asked for.
        what: String,
        /// The amount asked for.
        asked: u64,
        /// The adapter's limit.
        limit: u64,
        /// Adapter name.
        adapter: String,
    },
    /// A GPU operation (mapping, polling) failed.
    #[error("GPU operation failed: {0}")]
    Operation(String),
}

/// Which kind of adapter to prefer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum AdapterPreference {
    /// Discrete GPU, then integrated, then software (default).
    #[default]
    Auto,
    /// A hardware GPU only.
    Gpu,
    /// A software (CPU) driver only.
    Cpu,
    /// The first adapter whose name contains this (case-insensitive).
    Name(String),
}

impl AdapterPreference {
    /// Reads `DUCTILE_ADAPTER` (`gpu`, `cpu`, `auto` or a name substring).
    pub fn from_env() -> Self {
        match std::env::var("DUCTILE_ADAPTER") {
            Ok(v) => match v.to_ascii_lowercase().as_str() {
                "" | "auto" => AdapterPreference::Auto,
                "gpu" => AdapterPreference::Gpu,
                "cpu" | "software" => AdapterPreference::Cpu,
                _ => AdapterPreference::Name(v),
            },
            Err(_) => AdapterPreference::Auto,
        }
    }
}

/// Options for [`GpuContext::new`].
#[derive(Clone, Debug, Default)]
pub struct ContextOptions {
    /// Adapter choice.
    pub adapter: AdapterPreference,
    /// Require `SHADER_F64` (fail with a clear error when absent).
    pub require_f64: bool,
    /// Do not use `atomic<f32>` even when the adapter has it (use the CAS fallback).
    pub disable_float_atomics: bool,
}

/// A device and queue with what we learned about the adapter.
pub struct GpuContext {
    /// The instance the adapter came from (a viewer creates its window surface with it).
    pub instance: wgpu::Instance,
    /// The adapter in use.
    pub adapter: wgpu::Adapter,
    /// The logical device.
    pub device: wgpu::Device,
    /// Its queue.
    pub queue: wgpu::Queue,
    /// Adapter name, driver and type.
    pub info: wgpu::AdapterInfo,
    /// Features enabled on the device.
    pub features: wgpu::Features,
    /// Limits enabled on the device (the adapter's own).
    pub limits: wgpu::Limits,
    /// Shaders may use `f64`.
    pub has_f64: bool,
    /// Shaders may use `atomic<f32>` (else the CAS fallback is used).
    pub float_atomics: bool,
    /// Per-pass timestamp queries are available.
    pub timestamps: bool,
    /// Compute pipelines built so far, by (module, entry point, config), so
    /// that every simulation on this device reuses them (see [`crate::Kernel::new`]).
    pub(crate) pipelines: std::sync::Mutex<crate::kernel::PipelineCache>,
}

fn rank(t: wgpu::DeviceType) -> u32 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}

impl GpuContext {
    /// Chooses an adapter and creates a device, blocking.
    pub fn new(opts: &ContextOptions) -> Result<Self, GpuError> {
        pollster::block_on(Self::new_async(opts))
    }

    /// Chooses the adapter according to `DUCTILE_ADAPTER` and creates a device, blocking.
    pub fn from_env() -> Result<Self, GpuError> {
        Self::new(&ContextOptions {
            adapter: AdapterPreference::from_env(),
            ..Default::default()
        })
    }

    async fn new_async(opts: &ContextOptions) -> Result<Self, GpuError> {
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
        desc.backends = wgpu::Backends::VULKAN;
        let instance = wgpu::Instance::new(desc);
        let mut adapters = instance.enumerate_adapters(wgpu::Backends::VULKAN).await;
        if adapters.is_empty() {
            return Err(GpuError::NoAdapter);
        }
        adapters.sort_by_key(|a| rank(a.get_info().device_type));
        let names = || {
            adapters
                .iter()
                .map(|a| format!("{} ({:?})", a.get_info().name, a.get_info().device_type))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let chosen = match &opts.adapter {
            AdapterPreference::Auto => Some(0),
            AdapterPreference::Gpu => adapters
                .iter()
                .position(|a| a.get_info().device_type != wgpu::DeviceType::Cpu),
            AdapterPreference::Cpu => adapters
                .iter()
                .position(|a| a.get_info().device_type == wgpu::DeviceType::Cpu),
            AdapterPreference::Name(n) => {
                let n = n.to_ascii_lowercase();
                adapters
                    .iter()
                    .position(|a| a.get_info().name.to_ascii_lowercase().contains(&n))
            }
        };
        let Some(index) = chosen else {
            return Err(GpuError::NoMatch {
                wanted: format!("{:?}", opts.adapter),
                available: names(),
            });
        };
        let adapter = adapters.swap_remove(index);
        let info = adapter.get_info();
        let available = adapter.features();
        let has_f64 = available.contains(wgpu::Features::SHADER_F64);
        if opts.require_f64 && !has_f64 {
            return Err(GpuError::MissingFeature {
                adapter: info.name.clone(),
                feature: "SHADER_F64",
                hint: "use precision: F32 in the scene, or run on an adapter with 64-bit floats (lavapipe has them)",
            });
        }
        let float_atomics = available.contains(wgpu::Features::SHADER_FLOAT32_ATOMIC)
            && !opts.disable_float_atomics;
        let timestamps = available.contains(wgpu::Features::TIMESTAMP_QUERY);
        let mut features = wgpu::Features::empty();
        for f in [
            wgpu::Features::SHADER_F64,
            wgpu::Features::SHADER_FLOAT32_ATOMIC,
            wgpu::Features::TIMESTAMP_QUERY,
        ] {
            if available.contains(f) {
                features |= f;
            }
        }
        let limits = adapter.limits();
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("ductile"),
                required_features: features,
                required_limits: limits.clone(),
                experimental_features: wgpu::ExperimentalFeatures::disabled(),
                memory_hints: wgpu::MemoryHints::Performance,
                trace: wgpu::Trace::Off,
            })
            .await
            .map_err(|source| GpuError::Device {
                adapter: info.name.clone(),
                source,
            })?;
        Ok(GpuContext {
            instance,
            adapter,
            device,
            queue,
            info,
            features,
            limits,
            has_f64,
            float_atomics,
            timestamps,
            pipelines: Default::default(),
        })
    }

    /// One line naming the adapter, its type, driver and the features in use.
    pub fn describe(&self) -> String {
        format!(
            "{} ({:?}, {} {}; f64: {}, float atomics: {}, timestamps: {})",
            self.info.name,
            self.info.device_type,
            self.info.driver,
            self.info.driver_info,
            yes_no(self.has_f64),
            yes_no(self.float_atomics),
            yes_no(self.timestamps)
        )
    }

    /// True when the adapter is a software (CPU) driver.
    pub fn is_software(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu
    }

    /// Refuses a storage buffer of `bytes` bytes if it exceeds the adapter's limits.
    pub fn check_buffer(&self, what: &str, bytes: u64) -> Result<(), GpuError> {
        let limit = self
            .limits
            .max_storage_buffer_binding_size
            .min(self.limits.max_buffer_size);
        if bytes > limit {
            return Err(GpuError::OverLimit {
                what: format!("{what} (bytes in one storage buffer)"),
                asked: bytes,
                limit,
                adapter: self.info.name.clone(),
            });
        }
        Ok(())
    }

    /// Refuses a 1-D dispatch of `workgroups` workgroups if it exceeds the per-dimension limit.
    pub fn check_dispatch(&self, what: &str, workgroups: u64) -> Result<(), GpuError> {
        let limit = self.limits.max_compute_workgroups_per_dimension as u64;
        if workgroups > limit {
            return Err(GpuError::OverLimit {
                what: format!("{what} (workgroups in one dispatch dimension)"),
                asked: workgroups,
                limit,
                adapter: self.info.name.clone(),
            });
        }
        Ok(())
    }

    /// Waits until all submitted work is done.
    pub fn wait(&self) -> Result<(), GpuError> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map(|_| ())
            .map_err(|e| GpuError::Operation(e.to_string()))
    }
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}
