//! The egui application: loads a scene (or a run directory), steps the
//! simulation on the shared device, draws it with `ductile-render` into a
//! texture that egui shows, and lays out the panels around it.
//!
//! Per displayed frame the simulation is stepped and drawn on the GPU; the
//! host reads back only the status word that catches a blow-up, and, once
//! per scene frame, the energy sums for the plots.
//!
//! This file owns the app's state and its session lifecycle (load, start,
//! replay, record, advance, reset, solver edits); the rest is split by job:
//! [`view`] draws into the texture, [`panels`] lays out the UI, [`input`]
//! picks and drags tools and reads keys, [`shot`] takes screenshots.

mod input;
mod panels;
mod shot;
mod tactile;
mod view;

use crate::orbit::{drag_displacement, project, OrbitCamera};
use crate::replay::{load_loss_curve, load_run, RunRecording};
use crate::state::{
    color_scale, default_draw_limit, default_stress_scale, draw_stride, per_particle_norms,
    FileWatch, FrameStats, History, MaterialEdit, Playback, Sample, SolverEdit, Timeline,
    ViewColor,
};
use ductile_gpu::{storage_buffer, BufferUse, GpuContext};
use ductile_render::scene::{
    particle_radius, particle_view_colored, scene_camera, scene_meshes_at, speed_scale,
};
use ductile_render::{view_texture, ColorMode, ParticleView, Renderer};
use ductile_scene::{load_scene, Boundary, ColorBy, LoadedScene};
use ductile_sim::control::ToolPose;
use ductile_sim::{LossMonitor, PackColor, Rollout, Simulation, SimulationOptions, TapeOptions};
use eframe::egui;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// What the viewer shows.
#[derive(Clone, Debug)]
pub enum Source {
    /// A scene file, simulated live (reloaded when it changes on disk).
    Scene(PathBuf),
    /// A run directory written by `ductile run`, replayed.
    Run(PathBuf),
}

/// Automatic screenshots: for each source in turn, after `frames` scene
/// frames, save the window to its PNG (plus the same path with `.json`: the
/// view's rectangle, the camera and each body's centroid), then go on to the
/// next source, and close after the last. Used by tests and for README pictures.
#[derive(Clone, Debug)]
pub struct AutoShot {
    /// PNG to write, one per source.
    pub paths: Vec<PathBuf>,
    /// Scene frames to run first.
    pub frames: u32,
}

/// GPU memory the timeline may use for recorded frames [bytes].
const TIMELINE_BUDGET: u64 = 256 << 20;
/// GPU memory a replayed run directory may use [bytes]; larger runs are refused, not cut.
const REPLAY_BUDGET: u64 = 2 << 30;

/// A recorded frame: particles on the GPU, the tool poses, and (replayed
/// runs) other solvers' surfaces as host meshes.
struct Recorded {
    buffer: wgpu::Buffer,
    poses: Vec<ToolPose>,
    surfaces: Vec<ductile_render::MeshInstance>,
}

/// A loaded scene and its running simulation.
struct Session {
    loaded: LoadedScene,
    sim: Option<Simulation>,
    edits: Vec<MaterialEdit>,
    edit_error: Option<String>,
    /// Solver and contact parameters as edited in the panel.
    solver: SolverEdit,
    /// Why the last solver edit was not applied.
    solver_error: Option<String>,
    /// The loss gradient's colour scale (values uploaded into `sim`), or why there is none.
    gradient: Option<Result<f64, String>>,
    /// Evaluates the scene's loss on the running state for the plot (None:
    /// the scene has no loss, or this is a replay), or why it cannot.
    monitor: Option<Result<LossMonitor, String>>,
}

struct Target {
    /// Owned here so that the texture lives as long as its egui registration.
    _texture: wgpu::Texture,
    view: wgpu::TextureView,
    id: egui::TextureId,
    size: (u32, u32),
}

/// The viewer application.
pub struct ViewerApp {
    ctx: Arc<GpuContext>,
    sources: Vec<Source>,
    current: usize,
    source: Source,
    session: Option<Session>,
    /// Shown in place of the view when the scene cannot be loaded or blew up.
    error: Option<String>,
    watch: Option<FileWatch>,
    playback: Playback,
    orbit: Option<OrbitCamera>,
    renderer: Renderer,
    target: Option<Target>,
    timeline: Timeline<Recorded>,
    history: History,
    color: ViewColor,
    /// Asked for on the command line: overrides the scene's colouring.
    color_override: Option<ViewColor>,
    radius: f32,
    show_plots: bool,
    /// Whether playback adapts the substeps per frame to keep the window responsive.
    responsive: bool,
    /// The most particles drawn per frame (0: all); see [`draw_stride`].
    draw_limit: u32,
    last_frame: Instant,
    fps: f32,
    steps_per_s: f32,
    /// Substeps run and seconds elapsed since `steps_per_s` was last measured.
    steps_window: (u64, f32),
    /// Frames and substeps since the source was (re)loaded, for mean rates.
    frame_stats: FrameStats,
    /// Substeps the last frame ran (counted into `frame_stats` next frame).
    last_substeps: u32,
    view_rect: egui::Rect,
    shot: Option<AutoShot>,
    shot_pending: Arc<Mutex<Option<Arc<egui::ColorImage>>>>,
    /// The tactile panel (scenes with a sensor).
    tactile: tactile::TactileView,
    shot_requested: bool,
    frames_run: u32,
    status: String,
    /// The tool being dragged with Ctrl (or Alt) and the left button.
    dragging_tool: Option<usize>,
    /// (iteration, loss) of the optimisation a replayed directory came from.
    loss_curve: Vec<[f64; 2]>,
    /// Top of the stress colour ramp [Pa].
    stress_scale: f64,
}

impl ViewerApp {
    /// Builds the app and loads the first of `sources` (at least one);
    /// problems are shown in the window.
    pub fn new(
        ctx: Arc<GpuContext>,
        sources: Vec<Source>,
        shot: Option<AutoShot>,
        color: Option<ViewColor>,
        responsive: bool,
        draw_limit: Option<u32>,
    ) -> ViewerApp {
        let draw_limit =
            draw_limit.unwrap_or_else(|| default_draw_limit(ctx.adapter.get_info().device_type));
        let renderer = Renderer::new(&ctx.device, 64, 64);
        let source = sources
            .first()
            .cloned()
            .unwrap_or_else(|| Source::Scene(PathBuf::from("(no scene given)")));
        let mut app = ViewerApp {
            ctx,
            sources,
            current: 0,
            source,
            session: None,
            error: None,
            watch: None,
            playback: Playback::new(1, 0),
            orbit: None,
            renderer,
            target: None,
            timeline: Timeline::new(1, TIMELINE_BUDGET),
            history: History::new(2000),
            color: color.unwrap_or(ViewColor::Body),
            color_override: color,
            radius: 0.005,
            show_plots: true,
            responsive,
            draw_limit,
            last_frame: Instant::now(),
            fps: 0.0,
            steps_per_s: 0.0,
            steps_window: (0, 0.0),
            frame_stats: FrameStats::default(),
            last_substeps: 0,
            view_rect: egui::Rect::NOTHING,
            shot,
            shot_pending: Arc::new(Mutex::new(None)),
            tactile: tactile::TactileView::default(),
            shot_requested: false,
            frames_run: 0,
            status: String::new(),
            dragging_tool: None,
            loss_curve: Vec::new(),
            stress_scale: 1.0,
        };
        app.load();
        app
    }

    /// Shows source `i` (camera re-framed for it).
    fn switch_to(&mut self, i: usize) {
        if let Some(src) = self.sources.get(i).cloned() {
            self.current = i;
            self.source = src;
            self.orbit = None;
            self.session = None;
            self.frames_run = 0;
            self.status.clear();
            self.load();
        }
    }

    /// (Re)loads the source: a scene is parsed and a fresh simulation built.
    fn load(&mut self) {
        self.tactile.reset();
        self.error = None;
        self.timeline.clear();
        self.history = History::new(2000);
        self.loss_curve.clear();
        self.frame_stats = FrameStats::default();
        match self.source.clone() {
            Source::Scene(path) => {
                self.watch = Some(FileWatch::new(&path));
                match load_scene(&path) {
                    Ok(loaded) => self.start(loaded),
                    Err(e) => self.error = Some(e.to_string()),
                }
            }
            Source::Run(dir) => match load_run(&dir) {
                Ok(run) => {
                    self.loss_curve = load_loss_curve(&dir).unwrap_or_default();
                    self.start_replay(&dir, run)
                }
                Err(e) => self.error = Some(format!("{e:#}")),
            },
        }
    }

    fn start(&mut self, loaded: LoadedScene) {
        let t = &loaded.scene.time;
        self.playback = Playback::new(t.substeps, t.frames as u64 * t.substeps as u64);
        self.playback.responsive = self.responsive;
        self.color = self
            .color_override
            .unwrap_or(match loaded.scene.output.color_by {
                ColorBy::Body => ViewColor::Body,
                ColorBy::Speed => ViewColor::Speed,
            });
        self.radius = particle_radius(&loaded);
        self.stress_scale = default_stress_scale(&loaded.scene);
        if self.orbit.is_none() {
            self.orbit = Some(OrbitCamera::from_camera(&scene_camera(&loaded)));
        }
        let edits = loaded
            .scene
            .bodies
            .iter()
            .map(|b| MaterialEdit::new(&b.material))
            .collect();
        let solver = SolverEdit::new(&loaded.scene);
        match Simulation::new(&self.ctx, &loaded, &SimulationOptions::default()) {
            Ok(sim) => {
                self.timeline = Timeline::new(16 * sim.particle_count() as u64, TIMELINE_BUDGET);
                let monitor = LossMonitor::new(&self.ctx, &loaded, &sim)
                    .map_err(|e| e.to_string())
                    .transpose();
                self.session = Some(Session {
                    loaded,
                    sim: Some(sim),
                    edits,
                    edit_error: None,
                    solver,
                    solver_error: None,
                    gradient: None,
                    monitor,
                });
                self.record();
            }
            Err(e) => {
                self.error = Some(format!("{}: {e}", loaded.path.display()));
                self.session = None;
            }
        }
    }

    fn start_replay(&mut self, dir: &Path, run: RunRecording) {
        let loaded = run
            .scene_file
            .as_ref()
            .and_then(|p| load_scene(p).ok().or_else(|| load_scene(&dir.join(p)).ok()));
        let Some(loaded) = loaded else {
            self.error = Some(format!(
                "{}: the scene it was run from ({}) cannot be loaded; the viewer needs it for the domain and camera",
                dir.display(),
                run.scene_file.as_deref().map(|p| p.display().to_string()).unwrap_or_else(|| "not named".into())
            ));
            return;
        };
        let n = run.frames[0].1.len() as u64;
        let total = 16 * n * run.frames.len() as u64;
        if total > REPLAY_BUDGET {
            self.error = Some(format!(
                "{}: {} frames of {n} particles need {} MB of GPU memory; the viewer replays at most {} MB",
                dir.display(),
                run.frames.len(),
                total >> 20,
                REPLAY_BUDGET >> 20
            ));
            return;
        }
        self.timeline = Timeline::new(16 * n.max(1), REPLAY_BUDGET);
        for (((frame, packed), poses), surfaces) in
            run.frames.iter().zip(&run.tool_poses).zip(&run.surfaces)
        {
            let surfaces = surfaces
                .iter()
                .enumerate()
                .map(|(k, s)| ductile_render::MeshInstance {
                    positions: s.vertices.clone(),
                    indices: s.triangles.clone(),
                    // Solver 0 is MPM: surfaces belong to solvers 1, 2, ….
                    color: ductile_render::scene::surface_color(k + 1),
                })
                .collect();
            match storage_buffer(
                &self.ctx,
                "replayed frame",
                bytemuck::cast_slice(packed),
                BufferUse::Storage,
            ) {
                Ok(buffer) => {
                    self.timeline.push(
                        frame * run.frame_substeps,
                        Recorded {
                            buffer,
                            poses: poses.clone(),
                            surfaces,
                        },
                    );
                }
                Err(e) => {
                    self.error = Some(e.to_string());
                    return;
                }
            }
        }
        self.timeline.scrub(Some(0));
        self.playback = Playback::new(1, run.frames.len() as u64);
        self.playback.responsive = self.responsive;
        self.playback.playing = false;
        self.radius = particle_radius(&loaded);
        self.orbit = Some(OrbitCamera::from_camera(&scene_camera(&loaded)));
        self.status = format!("replaying {} frames of {}", run.frames.len(), dir.display());
        self.session = Some(Session {
            solver: SolverEdit::new(&loaded.scene),
            solver_error: None,
            loaded,
            sim: None,
            edits: Vec::new(),
            edit_error: None,
            gradient: None,
            monitor: None,
        });
    }

    /// Copies the current particles into the timeline (GPU to GPU) and adds a plot sample.
    fn record(&mut self) {
        let Some(session) = self.session.as_mut() else {
            return;
        };
        let Some(sim) = session.sim.as_mut() else {
            return;
        };
        let step = sim.step_count();
        if self.timeline.has_room() {
            let packed = sim.pack_for_render(&self.ctx, PackColor::Body);
            let copy = self.ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("timeline frame"),
                size: packed.size(),
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            let mut enc = self.ctx.device.create_command_encoder(&Default::default());
            enc.copy_buffer_to_buffer(packed, 0, &copy, 0, packed.size());
            self.ctx.queue.submit([enc.finish()]);
            self.timeline.push(
                step,
                Recorded {
                    buffer: copy,
                    poses: sim.tool_poses(),
                    surfaces: Vec::new(),
                },
            );
        }
        if self.show_plots {
            let loss = match &session.monitor {
                Some(Ok(m)) => match m.values(&self.ctx, sim) {
                    Ok(v) => Some(v.iter().sum()),
                    Err(e) => {
                        session.monitor = Some(Err(e.to_string()));
                        None
                    }
                },
                _ => None,
            };
            if let Ok(d) = sim.diagnostics(&self.ctx) {
                let dt = session.loaded.scene.time.dt;
                self.history.push(Sample {
                    loss,
                    time_s: step as f64 * dt,
                    kinetic_j: d.sums.kinetic,
                    elastic_j: d.sums.elastic,
                    gravitational_j: d.sums.gravitational,
                    tool_force_n: d
                        .tool_forces
                        .iter()
                        .map(|f| (f[0] * f[0] + f[1] * f[1] + f[2] * f[2]).sqrt())
                        .sum(),
                });
            }
        }
    }

    /// Runs what playback asks for; a blow-up stops the run with its message.
    fn advance(&mut self) {
        if matches!(self.source, Source::Run(_)) {
            // Playback counts recorded frames here: one per "substep".
            let shown = self.timeline.cursor.unwrap_or(0);
            let n = self.playback.take(shown as u64 + 1) as usize;
            if n > 0 {
                self.timeline.scrub(Some(shown + n));
            }
            return;
        }
        if self.timeline.cursor.is_some() {
            return; // scrubbing: the live run waits
        }
        let Some(step0) = self
            .session
            .as_ref()
            .and_then(|s| s.sim.as_ref())
            .map(|s| s.step_count())
        else {
            return;
        };
        let fs = self.playback.frame_substeps as u64;
        let mut n = self.playback.take(step0);
        self.steps_window.0 += u64::from(n);
        self.last_substeps = n;
        // In responsive mode the frame waits for its substeps, so that each
        // frame's duration holds its own simulation work (Playback::adapt).
        let wait = n > 0 && self.playback.responsive;
        while n > 0 {
            let Some(sim) = self.session.as_mut().and_then(|s| s.sim.as_mut()) else {
                break;
            };
            // Stop at each scene frame boundary to check and record it.
            let k = n.min((fs - sim.step_count() % fs) as u32);
            sim.step(&self.ctx, k);
            n -= k;
            if sim.step_count() % fs == 0 {
                self.frames_run += 1;
                if let Err(e) = sim.check(&self.ctx) {
                    self.error = Some(e.to_string());
                    self.playback.playing = false;
                    return;
                }
                self.record();
            }
        }
        if wait {
            if let Err(e) = self.ctx.wait() {
                self.error = Some(e.to_string());
            }
        }
    }

    fn reset(&mut self) {
        self.tactile.reset();
        if let Some(s) = self.session.take() {
            if matches!(self.source, Source::Scene(_)) {
                self.timeline.clear();
                self.history = History::new(2000);
                let edits = s.edits.clone();
                self.start(s.loaded);
                // Keep the user's material edits (and the solver edits not
                // yet applied) across a reset.
                if let Some(sess) = self.session.as_mut() {
                    sess.solver = s.solver;
                    for (b, e) in edits.iter().enumerate() {
                        if let (Ok(m), Some(sim)) =
                            (e.material(&sess.loaded.scene, b), sess.sim.as_mut())
                        {
                            let _ = sim.set_material(&self.ctx, b, &m);
                        }
                    }
                    sess.edits = edits;
                }
            } else {
                self.session = Some(s);
                self.timeline.scrub(Some(0));
            }
        }
    }

    /// Applies the panel's live solver and contact parameters (gravity,
    /// wall and tool friction, tool softness) to the running state, or says
    /// in the panel which value the scene format refuses.
    fn apply_live_solver(&mut self) {
        let Some(session) = self.session.as_mut() else {
            return;
        };
        let scene = match session.solver.live(&session.loaded.scene) {
            Ok(scene) => scene,
            Err(e) => {
                session.solver_error = Some(format!("not applied: {e}"));
                return;
            }
        };
        if let Some(sim) = &session.sim {
            let applied = sim
                .set_gravity(&self.ctx, scene.gravity)
                .and_then(|_| sim.set_wall_friction(&self.ctx, scene.domain.wall_friction))
                .and_then(|_| {
                    scene.tools.iter().enumerate().try_for_each(|(t, tool)| {
                        sim.set_tool_contact(&self.ctx, t, tool.friction, tool.softness)
                    })
                });
            if let Err(e) = applied {
                session.solver_error = Some(format!("not applied: {e}"));
                return;
            }
        }
        // Resets and the gradient view start from the edited scene.
        session.loaded.scene = scene;
        session.gradient = None;
        session.solver_error = None;
    }

    /// Restarts the scene with the panel's parameters, all of them. If the
    /// scene format refuses one, or the simulation cannot be built from
    /// them, the running scene stays (rebuilt as it was) and the panel says
    /// why.
    fn restart_with_solver(&mut self) {
        let Some(session) = self.session.as_mut() else {
            return;
        };
        let scene = match session.solver.restarted(&session.loaded.scene) {
            Ok(scene) => scene,
            Err(e) => {
                session.solver_error = Some(format!("not applied: {e}"));
                return;
            }
        };
        let before = session.loaded.clone();
        let (edits, solver) = (session.edits.clone(), session.solver.clone());
        session.loaded.scene = scene;
        self.reset();
        if self.session.is_none() {
            let why = self.error.take().unwrap_or_default();
            self.session = Some(Session {
                loaded: before,
                sim: None,
                edits,
                edit_error: None,
                solver,
                solver_error: None,
                gradient: None,
                monitor: None,
            });
            self.reset();
            if let Some(s) = self.session.as_mut() {
                s.solver_error = Some(format!("not applied: {why}"));
            }
        } else {
            self.status = "restarted with the panel's solver parameters".into();
        }
    }
}

impl eframe::App for ViewerApp {
    fn ui(&mut self, ui: &mut egui::Ui, frame: &mut eframe::Frame) {
        let ctx = ui.ctx().clone();
        let now = Instant::now();
        let dt = now.duration_since(self.last_frame).as_secs_f32().max(1e-6);
        self.last_frame = now;
        self.fps = if self.fps == 0.0 {
            1.0 / dt
        } else {
            0.9 * self.fps + 0.1 / dt
        };
        if self.watch.as_mut().is_some_and(|w| w.changed()) {
            self.status = "scene file changed: reloaded".into();
            self.load();
        }
        self.keys(&ctx);
        self.playback.adapt(dt);
        if !self.shot_requested {
            self.frame_stats
                .record(f64::from(dt), std::mem::take(&mut self.last_substeps));
        }
        // Substeps per wall-clock second, over windows of at least a second
        // (submission is asynchronous: timing it alone says nothing).
        self.steps_window.1 += dt;
        if self.steps_window.1 >= 1.0 {
            self.steps_per_s = self.steps_window.0 as f32 / self.steps_window.1;
            self.steps_window = (0, 0.0);
        }
        if self.color == ViewColor::LossGradient {
            self.ensure_gradient();
        }
        // While a screenshot is pending the state stays put, so that the
        // picture and the centroids written beside it agree.
        if self.error.is_none() && !self.shot_requested {
            self.advance();
        }
        self.finish_shot(&ctx);
        if let Some(shot) = &self.shot {
            let done = self.error.is_some()
                || matches!(self.source, Source::Run(_))
                || self.frames_run >= shot.frames
                || (!self.playback.playing && self.frames_run > 0);
            if done && !self.shot_requested {
                self.request_shot(&ctx);
            }
        }
        egui::Panel::top("controls").show(ui, |ui| self.top_bar(ui));
        egui::Panel::left("scene")
            .resizable(true)
            .default_size(260.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| self.side_panel(ui));
            });
        egui::Panel::bottom("timeline")
            .resizable(true)
            .show(ui, |ui| self.bottom_panel(ui));
        let sensed = self
            .session
            .as_ref()
            .and_then(|s| s.sim.as_ref())
            .filter(|sim| tactile::sensor_body(sim).is_some());
        if let Some(sim) = sensed {
            self.tactile.update(&ctx, &self.ctx, sim);
            egui::Panel::right("tactile")
                .resizable(true)
                .default_size(240.0)
                .show(ui, |ui| self.tactile.show(ui));
        }
        egui::CentralPanel::default().show(ui, |ui| self.central(ui, frame));
        ctx.request_repaint();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A block in free flight over a floor tool, written to a file as the
    /// viewer opens it.
    fn free_block(dir: &Path) -> PathBuf {
        let path = dir.join("block.ron");
        std::fs::write(
            &path,
            "Scene(domain: (cells: (16, 16, 16), dx: 0.05, boundary_cells: 3),
              time: (dt: 2e-4, substeps: 10, frames: 100),
              bodies: [(name: \"b\", shape: Box(min: (0.3, 0.4, 0.3), max: (0.5, 0.5, 0.5)),
                        material: NeoHookean(density: 1000.0, youngs_modulus: 1e5, poisson_ratio: 0.3))],
              tools: [(name: \"floor\", shape: Box(half_extents: (0.2, 0.02, 0.2)), pose: (position: (0.4, 0.2, 0.4)))],
              output: (ply: false, npy: false, png: false))",
        )
        .unwrap();
        path
    }

    fn momentum(app: &mut ViewerApp) -> ([f64; 3], f64) {
        let ctx = app.ctx.clone();
        let sim = app.session.as_mut().unwrap().sim.as_mut().unwrap();
        let d = sim.diagnostics(&ctx).unwrap().sums;
        (d.momentum, d.mass)
    }

    /// The panel's live edits reach the running simulation (gravity changes
    /// the momentum as M g t; a tool's friction and softness land in its
    /// GPU record), its restart edits rebuild it (half the spacing on twice
    /// the cells: eight times the particles), and a refused value or a grid
    /// past the adapter's limits leaves the running scene as it was, with
    /// the reason in the panel.
    #[test]
    fn solver_panel_edits_reach_the_running_simulation() {
        let ctx = Arc::new(GpuContext::from_env().expect("a Vulkan adapter (lavapipe in CI)"));
        let dir = tempfile::tempdir().unwrap();
        let path = free_block(dir.path());
        let mut app = ViewerApp::new(
            ctx.clone(),
            vec![Source::Scene(path)],
            None,
            None,
            true,
            None,
        );
        assert!(app.error.is_none(), "{:?}", app.error);

        let g = [2.0, 0.0, -1.0];
        app.session.as_mut().unwrap().solver.gravity = g;
        app.apply_live_solver();
        let (p0, mass) = momentum(&mut app);
        let steps = 20;
        let sim = app.session.as_mut().unwrap().sim.as_mut().unwrap();
        sim.step(&ctx, steps);
        let (p1, _) = momentum(&mut app);
        let t = f64::from(steps) * 2e-4;
        for k in [0, 2] {
            let want = p0[k] + g[k] * mass * t;
            assert!(
                (p1[k] - want).abs() < 1e-3 * mass * t,
                "momentum[{k}] {} vs {want}",
                p1[k]
            );
        }
        assert_eq!(app.session.as_ref().unwrap().loaded.scene.gravity, g);

        let s = app.session.as_mut().unwrap();
        s.solver.tools[0].friction = 0.8;
        s.solver.tools[0].softness = 0.01;
        app.apply_live_solver();
        let s = app.session.as_ref().unwrap();
        let sim = s.sim.as_ref().unwrap();
        let p = sim.config().precision;
        let bytes = ductile_gpu::read_buffer(&ctx, &sim.model().tools, 16 * p.bytes()).unwrap();
        let rec: Vec<f64> = match p.bytes() {
            8 => bytemuck::pod_collect_to_vec::<u8, f64>(&bytes),
            _ => bytemuck::pod_collect_to_vec::<u8, f32>(&bytes)
                .into_iter()
                .map(f64::from)
                .collect(),
        };
        assert!(
            (rec[4] - 0.8).abs() < 1e-6 && (rec[5] - 0.01).abs() < 1e-6,
            "{rec:?}"
        );

        app.session.as_mut().unwrap().solver.tools[0].friction = -1.0;
        app.apply_live_solver();
        let s = app.session.as_ref().unwrap();
        let err = s.solver_error.as_deref().unwrap_or("");
        assert!(err.contains("tools[0].friction"), "{err}");
        assert_eq!(
            s.loaded.scene.tools[0].friction, 0.8,
            "refused: not applied"
        );

        let n0 = s.sim.as_ref().unwrap().particle_count();
        let s = app.session.as_mut().unwrap();
        s.solver.tools[0].friction = 0.8;
        s.solver.dx = 0.025;
        s.solver.cells = [32, 32, 32];
        app.restart_with_solver();
        let s = app.session.as_ref().unwrap();
        assert!(s.solver_error.is_none(), "{:?}", s.solver_error);
        assert_eq!(s.sim.as_ref().unwrap().particle_count(), 8 * n0);
        assert_eq!(s.loaded.scene.gravity, g, "live edits survive the restart");

        let s = app.session.as_mut().unwrap();
        s.solver.dt = 0.5;
        app.restart_with_solver();
        let s = app.session.as_ref().unwrap();
        let err = s.solver_error.as_deref().unwrap_or("");
        assert!(err.contains("time.dt") && err.contains("0.5"), "{err}");
        assert_eq!(s.sim.as_ref().unwrap().particle_count(), 8 * n0);

        // Valid for the scene format, too large for the adapter: refused
        // before allocating, and the previous scene runs again.
        let s = app.session.as_mut().unwrap();
        s.solver.dt = 2e-4;
        s.solver.cells = [1024, 1024, 1024];
        app.restart_with_solver();
        assert!(app.error.is_none(), "{:?}", app.error);
        let s = app.session.as_ref().unwrap();
        let err = s.solver_error.as_deref().unwrap_or("");
        assert!(err.starts_with("not applied"), "{err}");
        assert_eq!(s.loaded.scene.domain.cells, [32, 32, 32]);
        assert_eq!(s.sim.as_ref().unwrap().particle_count(), 8 * n0);
    }
}
