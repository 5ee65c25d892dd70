//! Ductile's desktop viewer, `ductile view`: an egui window over wgpu that
//! shares the simulation's device and draws straight from its buffers.
//!
//! Module map: [`app`] (the egui application), [`orbit`] (the camera and its
//! mouse gestures), [`state`] (playback, timeline, plots, material edits,
//! file watch: everything testable without a window), [`replay`] (reading a
//! `ductile run` directory).

pub mod app;
pub mod orbit;
pub mod replay;
pub mod state;

pub use app::{AutoShot, Source, ViewerApp};
pub use state::ViewColor;

use anyhow::{anyhow, Result};
use ductile_gpu::GpuContext;
use eframe::{egui, egui_wgpu};
use std::sync::Arc;

/// Opens the viewer window on the first of `sources` (the others a click
/// away), on the device of `ctx`, and returns when it is closed. With
/// `shot`, takes one screenshot of each source in turn and closes. `color`
/// overrides each scene's particle colouring. `responsive` lets playback
/// run fewer substeps per displayed frame while the simulation cannot keep
/// up (see [`state::Playback::adapt`]). `draw_limit` is the most particles
/// drawn (level of detail, see [`state::draw_stride`]; 0: all); `None`
/// picks [`state::default_draw_limit`] for the adapter.
pub fn run(
    ctx: GpuContext,
    sources: Vec<Source>,
    shot: Option<AutoShot>,
    color: Option<ViewColor>,
    responsive: bool,
    draw_limit: Option<u32>,
) -> Result<()> {
    let ctx = Arc::new(ctx);
    let setup = egui_wgpu::WgpuSetup::Existing(egui_wgpu::WgpuSetupExisting {
        instance: ctx.instance.clone(),
        adapter: ctx.adapter.clone(),
        device: ctx.device.clone(),
        queue: ctx.queue.clone(),
    });
    let title = match sources.first() {
        Some(Source::Scene(p) | Source::Run(p)) => format!("Ductile — {}", p.display()),
        None => "Ductile".to_string(),
    };
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_inner_size([1280.0, 800.0])
            .with_title(title),
        renderer: eframe::Renderer::Wgpu,
        wgpu_options: egui_wgpu::WgpuConfiguration {
            wgpu_setup: setup,
            ..Default::default()
        },
        ..Default::default()
    };
    eframe::run_native(
        "ductile",
        options,
        Box::new(move |_cc| {
            Ok(Box::new(ViewerApp::new(
                ctx, sources, shot, color, responsive, draw_limit,
            )))
        }),
    )
    .map_err(|e| anyhow!("the viewer window failed: {e}"))
}
