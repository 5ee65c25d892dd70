//! The viewer's tactile panel: for a scene whose FEM body has a sensor, the
//! live tactile image with the markers' displacement drawn as arrows (from
//! their rest pixels, magnified), and the net contact force and torque.
//! Read back once per drawn frame when the state has moved (outside the
//! step loop).

use ductile_sim::fem::sensor_image::{tactile_image, SensorReadout};
use ductile_sim::fem::solver::FemSolver;
use ductile_sim::Simulation;
use eframe::egui;

/// What the panel shows, kept between frames.
#[derive(Default)]
pub(super) struct TactileView {
    /// The image uploaded to egui.
    texture: Option<egui::TextureHandle>,
    /// The markers' rest pixels (read at substep 0).
    rest: Option<Vec<[f64; 2]>>,
    /// The substep last read.
    read_at: Option<u64>,
    /// The last readout.
    pub(super) readout: Option<SensorReadout>,
    /// The panel's image rectangle in points, for the screenshot info.
    pub(super) image_rect: Option<egui::Rect>,
    /// Why there is no readout (a failed readback).
    error: Option<String>,
}

/// The first FEM body with a sensor: its world index.
pub(super) fn sensor_body(sim: &Simulation) -> Option<usize> {
    (0..).map_while(|k| sim.fem_solver(k)).find(|&i| {
        sim.world
            .solver::<FemSolver>(i)
            .is_some_and(|f| f.sensor().is_some())
    })
}

impl TactileView {
    /// Forgets everything (a new or restarted scene).
    pub(super) fn reset(&mut self) {
        *self = TactileView::default();
    }

    /// Reads the sensor when the state moved since the last read, and
    /// uploads the tactile image.
    pub(super) fn update(
        &mut self,
        ctx: &egui::Context,
        gpu: &ductile_gpu::GpuContext,
        sim: &Simulation,
    ) {
        let Some(i) = sensor_body(sim) else { return };
        let step = sim.step_count();
        if self.read_at == Some(step) {
            return;
        }
        let Some(f) = sim.world.solver::<FemSolver>(i) else {
            return;
        };
        let Some(sensor) = f.sensor() else { return };
        match f.read_sensor(gpu, sim.parity()) {
            Ok(Some(r)) => {
                if step == 0 || self.rest.is_none() {
                    self.rest = Some(r.markers.clone());
                }
                let cam = &sensor.desc.camera;
                let rgb = tactile_image(cam, &r.depth, &sensor.desc.shading);
                let pixels: Vec<egui::Color32> = rgb
                    .iter()
                    .map(|c| {
                        let [r, g, b] = c.map(|v| (v * 255.0).round() as u8);
                        egui::Color32::from_rgb(r, g, b)
                    })
                    .collect();
                let image =
                    egui::ColorImage::new([cam.width as usize, cam.height as usize], pixels);
                match &mut self.texture {
                    Some(t) => t.set(image, egui::TextureOptions::LINEAR),
                    None => {
                        self.texture = Some(ctx.load_texture(
                            "tactile image",
                            image,
                            egui::TextureOptions::LINEAR,
                        ))
                    }
                }
                self.readout = Some(r);
                self.error = None;
            }
            Ok(None) => {}
            Err(e) => self.error = Some(e.to_string()),
        }
        self.read_at = Some(step);
    }

    /// Draws the panel's contents: the image with marker arrows, and the
    /// net force and torque.
    pub(super) fn show(&mut self, ui: &mut egui::Ui) {
        ui.strong("Tactile sensor");
        if let Some(e) = &self.error {
            ui.colored_label(egui::Color32::LIGHT_RED, e);
        }
        let (Some(tex), Some(r)) = (&self.texture, &self.readout) else {
            ui.label("no reading yet");
            return;
        };
        let [w, h] = r.size;
        let width = ui.available_width().max(64.0);
        let size = egui::vec2(width, width * h as f32 / w.max(1) as f32);
        let resp = ui.add(egui::Image::new((tex.id(), size)));
        let rect = resp.rect;
        self.image_rect = Some(rect);
        // Marker arrows: rest pixel → current, displacement ×5.
        let scale = rect.width() / w.max(1) as f32;
        let to_screen = |p: [f64; 2]| rect.min + egui::vec2(p[0] as f32, p[1] as f32) * scale;
        let painter = ui.painter_at(rect);
        if let Some(rest) = &self.rest {
            for (a, b) in rest.iter().zip(&r.markers) {
                let from = to_screen(*a);
                let d = egui::vec2((b[0] - a[0]) as f32, (b[1] - a[1]) as f32) * scale * 5.0;
                painter.circle_filled(from, 1.5, egui::Color32::BLACK);
                painter.arrow(from, d, egui::Stroke::new(1.5, egui::Color32::WHITE));
            }
        }
        ui.small("markers: from rest to now, displacement × 5");
        let [fx, fy, fz] = r.force;
        let [tx, ty, tz] = r.torque;
        ui.label(format!(
            "force (camera axes) [N]\n  {fx:+.4} {fy:+.4} {fz:+.4}"
        ));
        ui.label(format!("torque [N·m]\n  {tx:+.2e} {ty:+.2e} {tz:+.2e}"));
        let peak = r.pressure.iter().copied().fold(0.0, f64::max);
        ui.label(format!("peak pressure {peak:.3e} Pa"));
    }
}
