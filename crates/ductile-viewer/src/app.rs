//! The egui application: loads a scene (or a run directory), steps the
//! simulation on the shared device, draws it with `ductile-render` into a
//! texture that egui shows, and lays out the panels around it.
//!
//! Per displayed frame the simulation is stepped and drawn on the GPU; the
//! host reads back only the status word that catches a blow-up, and, once
//! per scene frame, the energy sums for the plots.

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

/// A recorded frame: particles on the GPU and the tool poses.
struct Recorded {
    buffer: wgpu::Buffer,
    poses: Vec<ToolPose>,
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
        for ((frame, packed), poses) in run.frames.iter().zip(&run.tool_poses) {
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

    fn ensure_target(&mut self, frame: &eframe::Frame, w: u32, h: u32) -> Option<()> {
        let rs = frame.wgpu_render_state()?;
        if self.target.as_ref().is_some_and(|t| t.size == (w, h)) {
            return Some(());
        }
        let texture = view_texture(&self.ctx.device, w, h, "viewer view");
        let view = texture.create_view(&Default::default());
        let mut r = rs.renderer.write();
        let id = match &self.target {
            Some(t) => {
                r.update_egui_texture_from_wgpu_texture(
                    &self.ctx.device,
                    &view,
                    wgpu::FilterMode::Linear,
                    t.id,
                );
                t.id
            }
            None => r.register_native_texture(&self.ctx.device, &view, wgpu::FilterMode::Linear),
        };
        self.target = Some(Target {
            _texture: texture,
            view,
            id,
            size: (w, h),
        });
        Some(())
    }

    /// Draws the scene into the view texture.
    /// Computes the loss gradient colouring of the current scene once: a
    /// forward and backward pass of its rollout (all its substeps, from the
    /// initial state) and |∂L/∂x₀| per particle, uploaded for the view.
    /// Blocks the window while it runs; the time taken is shown.
    fn ensure_gradient(&mut self) {
        let Some(session) = self.session.as_mut() else {
            return;
        };
        if session.gradient.is_some() {
            return;
        }
        let Some(sim) = session.sim.as_ref() else {
            return;
        };
        let t0 = Instant::now();
        let result = (|| -> Result<(f64, f64, f64), String> {
            if session.loaded.scene.loss.is_empty() {
                return Err("the scene has no `loss`: add one to see its gradient".into());
            }
            let mut r = Rollout::new(
                &self.ctx,
                &session.loaded,
                None,
                None,
                &TapeOptions::default(),
            )
            .map_err(|e| e.to_string())?;
            // With the material edits made in the panel.
            for (b, e) in session.edits.iter().enumerate() {
                if let Ok(m) = e.material(&session.loaded.scene, b) {
                    r.set_material(&self.ctx, b, &m)
                        .map_err(|e| e.to_string())?;
                }
            }
            let g = r.backward(&self.ctx).map_err(|e| e.to_string())?;
            let norms = per_particle_norms(&g.x0);
            let scale = color_scale(&norms);
            sim.set_particle_values(&self.ctx, &norms)
                .map_err(|e| e.to_string())?;
            let max = norms.iter().copied().fold(0.0, f64::max);
            Ok((g.loss, scale, max))
        })();
        session.gradient = Some(match result {
            Ok((loss, scale, max)) => {
                self.status = format!(
                    "loss {loss:.4e}; |∂L/∂x₀| up to {max:.3e} (colour top {scale:.3e}); {:.1} s",
                    t0.elapsed().as_secs_f64()
                );
                Ok(scale)
            }
            Err(e) => {
                self.status = format!("no gradient: {e}");
                Err(e)
            }
        });
    }

    fn draw(&mut self, w: u32, h: u32) -> Result<(), String> {
        let (Some(session), Some(orbit), Some(target)) = (&self.session, &self.orbit, &self.target)
        else {
            return Ok(());
        };
        let cam = orbit.camera(w, h);
        let (view, poses) = match self.timeline.shown() {
            Some((_, rec)) => (
                ParticleView {
                    buffer: &rec.buffer,
                    count: (rec.buffer.size() / 16) as u32,
                    radius: self.radius,
                    stride: 1,
                    color_mode: ColorMode::Categorical,
                    palette: Vec::new(),
                },
                rec.poses.clone(),
            ),
            None => match &session.sim {
                Some(sim) => {
                    let color = match (self.color, &session.gradient) {
                        (ViewColor::Speed, _) => PackColor::Speed(speed_scale(&session.loaded)),
                        (ViewColor::Stress, _) => PackColor::Stress(self.stress_scale),
                        (ViewColor::LossGradient, Some(Ok(scale))) => PackColor::Value(*scale),
                        _ => PackColor::Body,
                    };
                    (
                        particle_view_colored(&self.ctx, &session.loaded, sim, color),
                        sim.tool_poses(),
                    )
                }
                None => return Ok(()),
            },
        };
        let view = ParticleView {
            stride: draw_stride(view.count, self.draw_limit),
            ..view
        };
        let meshes = scene_meshes_at(&session.loaded, &poses);
        let mut enc = self.ctx.device.create_command_encoder(&Default::default());
        self.renderer
            .encode(
                &self.ctx.device,
                &self.ctx.queue,
                &mut enc,
                &target.view,
                &[view],
                &meshes,
                &cam,
            )
            .map_err(|e| e.to_string())?;
        self.ctx.queue.submit([enc.finish()]);
        Ok(())
    }

    fn reset(&mut self) {
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

    fn top_bar(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            let label = if self.playback.playing {
                "Pause"
            } else {
                "Play"
            };
            if ui.button(label).on_hover_text("Space").clicked() {
                self.playback.toggle();
            }
            if ui
                .button("Step")
                .on_hover_text("S: one scene frame")
                .clicked()
            {
                self.playback.single_step();
            }
            if ui
                .button("Reset")
                .on_hover_text("Restart the scene")
                .clicked()
            {
                self.reset();
            }
            let mut speed = self.playback.speed();
            ui.label("speed");
            if ui
                .add(
                    egui::Slider::new(&mut speed, 1.0 / 16.0..=16.0)
                        .logarithmic(true)
                        .suffix("×"),
                )
                .changed()
            {
                self.playback.set_speed(speed);
            }
            if ui
                .checkbox(&mut self.responsive, "responsive")
                .on_hover_text(
                    "Run fewer substeps per displayed frame while the simulation cannot keep up, so that the window stays near 15 frames per second",
                )
                .changed()
            {
                self.playback.responsive = self.responsive;
            }
            ui.add(
                egui::DragValue::new(&mut self.draw_limit)
                    .range(0..=u32::MAX)
                    .speed(1000.0)
                    .prefix("draw ≤ ")
                    .custom_formatter(|n, _| {
                        if n == 0.0 {
                            "all".to_string()
                        } else {
                            format!("{n:.0}")
                        }
                    }),
            )
            .on_hover_text(
                "Level of detail: the most particles drawn per frame (0: all). Above it, one particle in each run of k is drawn, ∛k times larger",
            );
            ui.separator();
            ui.label("colour");
            egui::ComboBox::from_id_salt("color_by")
                .selected_text(self.color.label())
                .show_ui(ui, |ui| {
                    for c in [
                        ViewColor::Body,
                        ViewColor::Speed,
                        ViewColor::Stress,
                        ViewColor::LossGradient,
                    ] {
                        ui.selectable_value(&mut self.color, c, c.label())
                            .on_hover_text(match c {
                                ViewColor::LossGradient => "one forward and backward pass of the scene's rollout and loss, computed when first chosen",
                                _ => "",
                            });
                    }
                });
            if self.color == ViewColor::Stress {
                let speed = 0.01 * self.stress_scale;
                ui.add(
                    egui::DragValue::new(&mut self.stress_scale)
                        .speed(speed)
                        .range(1e-6..=1e12)
                        .suffix(" Pa"),
                )
                .on_hover_text("stress at the top of the colour ramp");
            }
            if ui.button("Reset camera").on_hover_text("R").clicked() {
                if let Some(o) = self.orbit.as_mut() {
                    o.reset();
                }
            }
            if ui.button("Screenshot").on_hover_text("F12").clicked() {
                self.request_shot(ui.ctx());
            }
            ui.checkbox(&mut self.show_plots, "plots");
            ui.separator();
            ui.label(format!(
                "{:.0} fps · {:.0} substeps/s",
                self.fps, self.steps_per_s
            ));
        });
    }

    fn side_panel(&mut self, ui: &mut egui::Ui) {
        if self.sources.len() > 1 {
            let name = |src: &Source| match src {
                Source::Scene(p) | Source::Run(p) => p.display().to_string(),
            };
            let mut pick = self.current;
            egui::ComboBox::from_id_salt("source")
                .selected_text(name(&self.source))
                .show_ui(ui, |ui| {
                    for (i, src) in self.sources.iter().enumerate() {
                        ui.selectable_value(&mut pick, i, name(src));
                    }
                });
            if pick != self.current {
                self.switch_to(pick);
                return;
            }
        }
        let Some(session) = self.session.as_mut() else {
            ui.label("no scene");
            return;
        };
        let s = &session.loaded.scene;
        ui.heading(&s.name);
        ui.label(format!(
            "grid {}×{}×{} · dx {} m",
            s.domain.cells[0], s.domain.cells[1], s.domain.cells[2], s.domain.dx
        ));
        ui.label(format!(
            "dt {:e} s · {} substeps/frame · {} frames",
            s.time.dt, s.time.substeps, s.time.frames
        ));
        if let Some(sim) = &session.sim {
            ui.label(format!(
                "{} particles · substep {} · t = {:.4} s",
                sim.particle_count(),
                sim.step_count(),
                sim.step_count() as f64 * s.time.dt
            ));
        }
        ui.separator();
        ui.strong("Materials");
        ui.small("Material parameters apply at once, to the running state. Shapes, tool motions and emitters: edit the scene file; it reloads (and restarts) when saved.");
        let mut changed = None;
        for (b, e) in session.edits.iter_mut().enumerate() {
            let name = s.bodies.get(b).map(|x| x.name.as_str()).unwrap_or("?");
            egui::CollapsingHeader::new(format!("{name}: {}", e.kind))
                .id_salt(("body", b))
                .show(ui, |ui| {
                    for (k, v) in e.fields.iter_mut() {
                        ui.horizontal(|ui| {
                            ui.label(k.as_str());
                            if ui.add(physical(v)).changed() {
                                changed = Some(b);
                            }
                        });
                    }
                });
        }
        if let Some(b) = changed {
            // The loss gradient was for the previous parameters.
            session.gradient = None;
            let result = session.edits[b].material(&session.loaded.scene, b);
            session.edit_error = match (result, session.sim.as_mut()) {
                (Ok(m), Some(sim)) => sim
                    .set_material(&self.ctx, b, &m)
                    .err()
                    .map(|e| e.to_string()),
                (Ok(_), None) => None,
                (Err(e), _) => Some(format!("not applied: {e}")),
            };
        }
        if let Some(e) = &session.edit_error {
            ui.colored_label(egui::Color32::LIGHT_RED, e);
        }
        ui.separator();
        // A replayed run has no simulation to edit.
        let action = if session.sim.is_some() {
            let a = solver_panel(ui, session);
            ui.separator();
            a
        } else {
            SolverAction::None
        };
        if !self.status.is_empty() {
            ui.small(&self.status);
        }
        ui.small("Drag: orbit · right or shift-drag: pan · Ctrl- or Alt-drag a tool: move it · wheel: zoom · R: reset camera · Space: play/pause · S: step · F12: screenshot");
        match action {
            SolverAction::None => {}
            SolverAction::Live => self.apply_live_solver(),
            SolverAction::Restart => self.restart_with_solver(),
        }
    }

    fn bottom_panel(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            let n = self.timeline.len();
            let live = matches!(self.source, Source::Scene(_));
            if live {
                let mut following = self.timeline.cursor.is_none();
                if ui.checkbox(&mut following, "live").changed() {
                    self.timeline.scrub(if following {
                        None
                    } else {
                        Some(n.saturating_sub(1))
                    });
                }
            }
            if n > 0 {
                let mut i = self.timeline.cursor.unwrap_or(n - 1);
                let resp = ui.add(egui::Slider::new(&mut i, 0..=n - 1).text("recorded frame"));
                if resp.changed() {
                    self.timeline.scrub(Some(i));
                }
                if let Some((step, _)) = self.timeline.get(i) {
                    ui.label(format!("substep {step}"));
                }
            }
            if live && !self.timeline.has_room() {
                ui.small(format!(
                    "timeline full ({} frames)",
                    self.timeline.capacity()
                ));
            }
        });
        if self.show_plots && !self.loss_curve.is_empty() {
            egui_plot::Plot::new("loss")
                .height(140.0)
                .legend(egui_plot::Legend::default())
                .show(ui, |p| {
                    p.line(egui_plot::Line::new(
                        "optimisation: log₁₀ loss per iteration",
                        self.loss_curve
                            .iter()
                            .filter(|[_, l]| *l > 0.0)
                            .map(|[i, l]| [*i, l.log10()])
                            .collect::<Vec<_>>(),
                    ));
                });
        }
        if self.show_plots && !self.history.samples.is_empty() {
            // Energy, contact force, and the scene's loss when it has one, side by side.
            let losses = self.history.loss_series();
            let n = if losses.is_empty() { 2 } else { 3 };
            ui.columns(n, |cols| {
                egui_plot::Plot::new("energy")
                    .height(140.0)
                    .legend(egui_plot::Legend::default())
                    .show(&mut cols[0], |p| {
                        p.line(egui_plot::Line::new(
                            "kinetic [J]",
                            self.history.series(|s| s.kinetic_j),
                        ));
                        p.line(egui_plot::Line::new(
                            "elastic [J]",
                            self.history.series(|s| s.elastic_j),
                        ));
                        p.line(egui_plot::Line::new("total − initial [J]", {
                            let e0 = self.history.samples[0].total_j();
                            self.history.series(|s| s.total_j() - e0)
                        }));
                    });
                egui_plot::Plot::new("force")
                    .height(140.0)
                    .legend(egui_plot::Legend::default())
                    .show(&mut cols[1], |p| {
                        p.line(egui_plot::Line::new(
                            "tool contact force [N]",
                            self.history.series(|s| s.tool_force_n),
                        ));
                    });
                if n == 3 {
                    egui_plot::Plot::new("loss over time")
                        .height(140.0)
                        .legend(egui_plot::Legend::default())
                        .show(&mut cols[2], |p| {
                            p.line(egui_plot::Line::new("scene loss now", losses));
                        });
                }
            });
        }
        if let Some(Err(e)) = self.session.as_ref().and_then(|s| s.monitor.as_ref()) {
            ui.small(format!("loss plot unavailable: {e}"));
        }
    }

    fn central(&mut self, ui: &mut egui::Ui, frame: &eframe::Frame) {
        if let Some(e) = &self.error {
            ui.vertical_centered(|ui| {
                ui.add_space(20.0);
                ui.colored_label(egui::Color32::LIGHT_RED, "The scene could not be shown:");
                ui.add(egui::Label::new(egui::RichText::new(e).monospace()).wrap());
                ui.small("Fix the file and save it: the viewer reloads it.");
            });
            return;
        }
        let avail = ui.available_size();
        let ppp = ui.ctx().pixels_per_point();
        let (w, h) = (
            ((avail.x * ppp) as u32).clamp(16, 4096),
            ((avail.y * ppp) as u32).clamp(16, 4096),
        );
        if self.ensure_target(frame, w, h).is_none() {
            ui.label("no wgpu renderer");
            return;
        }
        if let Err(e) = self.draw(w, h) {
            self.error = Some(e);
            return;
        }
        let id = self.target.as_ref().map(|t| t.id).unwrap();
        let resp = ui.add(
            egui::Image::new(egui::load::SizedTexture::new(id, avail))
                .sense(egui::Sense::click_and_drag()),
        );
        self.view_rect = resp.rect;
        let grab = ui.input(|i| i.modifiers.ctrl || i.modifiers.alt);
        if grab && resp.drag_started_by(egui::PointerButton::Primary) {
            self.dragging_tool = self.pick_tool(&resp, ppp, w, h);
        }
        if resp.drag_stopped() {
            self.dragging_tool = None;
        }
        if let Some(t) = self.dragging_tool {
            self.drag_tool(t, resp.drag_delta() * ppp, w, h);
        } else if let Some(o) = self.orbit.as_mut() {
            let d = resp.drag_delta() * ppp;
            let shift = ui.input(|i| i.modifiers.shift);
            if resp.dragged_by(egui::PointerButton::Secondary)
                || resp.dragged_by(egui::PointerButton::Middle)
                || (shift && resp.dragged_by(egui::PointerButton::Primary))
            {
                o.pan(d.x, d.y, h as f32);
            } else if resp.dragged_by(egui::PointerButton::Primary) {
                o.orbit(d.x, d.y);
            }
            if resp.hovered() {
                let scroll = ui.input(|i| i.smooth_scroll_delta.y);
                if scroll != 0.0 {
                    o.zoom(scroll / 50.0);
                }
            }
        }
    }

    /// The live tool whose centre is drawn nearest the pointer, within 60 pixels.
    fn pick_tool(&self, resp: &egui::Response, ppp: f32, w: u32, h: u32) -> Option<usize> {
        let pointer = resp.interact_pointer_pos()?;
        let (px, py) = (
            (pointer.x - resp.rect.min.x) * ppp,
            (pointer.y - resp.rect.min.y) * ppp,
        );
        let cam = self.orbit.as_ref()?.camera(w, h);
        let sim = self.session.as_ref()?.sim.as_ref()?;
        sim.tool_poses()
            .iter()
            .enumerate()
            .filter_map(|(t, pose)| {
                let (x, y) = project(&cam, pose.position.as_vec3())?;
                let d = ((x - px).powi(2) + (y - py).powi(2)).sqrt();
                (d < 60.0 * ppp).then_some((t, d))
            })
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(t, _)| t)
    }

    /// Moves tool `t` by a pointer move of `d` pixels in the plane facing the camera.
    fn drag_tool(&mut self, t: usize, d: egui::Vec2, w: u32, h: u32) {
        if d == egui::Vec2::ZERO {
            return;
        }
        let Some(cam) = self.orbit.as_ref().map(|o| o.camera(w, h)) else {
            return;
        };
        let Some(sim) = self.session.as_mut().and_then(|s| s.sim.as_mut()) else {
            return;
        };
        let Some(pose) = sim.tool_poses().get(t).cloned() else {
            return;
        };
        let delta = drag_displacement(&cam, pose.position.as_vec3(), d.x, d.y);
        if let Err(e) = sim.translate_tool(&self.ctx, t, delta.as_dvec3().to_array()) {
            self.status = format!("tool drag: {e}");
        }
    }

    fn keys(&mut self, ctx: &egui::Context) {
        if ctx.egui_wants_keyboard_input() {
            return;
        }
        let (space, s, r, f12) = ctx.input(|i| {
            (
                i.key_pressed(egui::Key::Space),
                i.key_pressed(egui::Key::S),
                i.key_pressed(egui::Key::R),
                i.key_pressed(egui::Key::F12),
            )
        });
        if space {
            self.playback.toggle();
        }
        if s {
            self.playback.single_step();
        }
        if r {
            if let Some(o) = self.orbit.as_mut() {
                o.reset();
            }
        }
        if f12 {
            self.request_shot(ctx);
        }
    }

    fn request_shot(&mut self, ctx: &egui::Context) {
        let slot = self.shot_pending.clone();
        ctx.request_screenshot(move |img| {
            *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(img);
        });
        self.shot_requested = true;
    }

    /// Saves a finished screenshot; closes the window after an automatic one.
    fn finish_shot(&mut self, ctx: &egui::Context) {
        let img = self
            .shot_pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let Some(img) = img else {
            return;
        };
        self.shot_requested = false;
        let path = match self.shot.as_ref().and_then(|s| s.paths.get(self.current)) {
            Some(p) => p.clone(),
            None => {
                let secs = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0);
                PathBuf::from(format!("ductile_screenshot_{secs}.png"))
            }
        };
        let result = save_color_image(&img, &path).and_then(|_| {
            if self.shot.is_some() {
                self.write_shot_info(&path, ctx.pixels_per_point())
            } else {
                Ok(())
            }
        });
        match result {
            Ok(()) => self.status = format!("saved {}", path.display()),
            Err(ref e) => self.status = format!("screenshot failed: {e}"),
        }
        if self.shot.is_some() {
            if let Err(e) = &result {
                eprintln!("ductile view: {e}");
            }
            if self.current + 1 < self.sources.len() {
                self.switch_to(self.current + 1);
            } else {
                ctx.send_viewport_cmd(egui::ViewportCommand::Close);
            }
        }
    }

    /// The JSON beside an automatic screenshot: the view's rectangle in
    /// screenshot pixels, the camera, and each body's particle centroid [m].
    fn write_shot_info(&self, png: &Path, ppp: f32) -> Result<(), String> {
        let mut bodies = Vec::new();
        if let Some(Session {
            loaded,
            sim: Some(sim),
            ..
        }) = &self.session
        {
            let p = sim.particles(&self.ctx).map_err(|e| e.to_string())?;
            for (b, body) in loaded.scene.bodies.iter().enumerate() {
                let (mut c, mut n) = ([0.0f64; 3], 0usize);
                for (i, &pb) in p.body.iter().enumerate() {
                    if pb as usize == b {
                        for (ck, xk) in c.iter_mut().zip(&p.x[3 * i..3 * i + 3]) {
                            *ck += xk;
                        }
                        n += 1;
                    }
                }
                if n > 0 {
                    bodies.push(serde_json::json!({
                        "name": body.name, "index": b, "particles": n,
                        "centroid_m": c.map(|v| v / n as f64),
                    }));
                }
            }
        }
        let r = self.view_rect;
        let cam = self
            .target
            .as_ref()
            .zip(self.orbit.as_ref())
            .map(|(t, o)| o.camera(t.size.0, t.size.1));
        let info = serde_json::json!({
            "view_rect_px": [r.min.x * ppp, r.min.y * ppp, r.max.x * ppp, r.max.y * ppp],
            "camera": cam.map(|c| serde_json::json!({
                "eye": c.eye.to_array(), "target": c.target.to_array(), "up": c.up.to_array(),
                "fov_y_deg": c.fov_y_deg, "width": c.width, "height": c.height,
            })),
            "substep": self.session.as_ref().and_then(|s| s.sim.as_ref()).map(|s| s.step_count()),
            "frames_per_s": self.fps,
            "substeps_per_s": self.steps_per_s,
            "mean_frames_per_s": self.frame_stats.frames_per_s(),
            "mean_substeps_per_s": self.frame_stats.substeps_per_s(),
            "timed_frames": self.frame_stats.frames,
            "draw_only_frames": self.frame_stats.draw_only_frames,
            "mean_draw_only_frames_per_s": self.frame_stats.draw_only_frames_per_s(),
            "responsive": self.playback.responsive,
            "substeps_per_frame_limit": self.playback.limit,
            "draw_limit": self.draw_limit,
            "particle_stride": self.session.as_ref().and_then(|s| s.sim.as_ref()).map(|s| draw_stride(s.particle_count(), self.draw_limit)),
            "particles": self.session.as_ref().and_then(|s| s.sim.as_ref()).map(|s| s.particle_count()),
            "bodies": bodies,
            "color": self.color.label(),
            "gradient_color_scale": self.session.as_ref().and_then(|s| s.gradient.as_ref()).and_then(|g| g.as_ref().ok()),
            "gradient_error": self.session.as_ref().and_then(|s| s.gradient.as_ref()).and_then(|g| g.as_ref().err()),
            "loss_samples": self.history.loss_series(),
            "loss_error": self.session.as_ref().and_then(|s| s.monitor.as_ref()).and_then(|m| m.as_ref().err()),
        });
        let path = png.with_extension("json");
        std::fs::write(
            &path,
            serde_json::to_string_pretty(&info).unwrap_or_default(),
        )
        .map_err(|e| format!("writing {}: {e}", path.display()))
    }
}

/// What the solver panel asks for after this frame's edits.
enum SolverAction {
    None,
    /// A live parameter changed: apply it to the running state.
    Live,
    /// Restart the scene with the edited parameters.
    Restart,
}

/// A drag field for a physical value, shown in full (`1.5e-4`, not a
/// rounded `0.0002`) and typed in as any Rust float literal.
fn physical(v: &mut f64) -> egui::DragValue<'_> {
    let speed = (v.abs() * 0.01).max(1e-6);
    egui::DragValue::new(v)
        .speed(speed)
        .custom_formatter(|x, _| {
            if x != 0.0 && (x.abs() < 1e-2 || x.abs() >= 1e5) {
                format!("{x:e}")
            } else {
                format!("{x}")
            }
        })
        .custom_parser(|t| t.trim().parse().ok())
}

/// A number field with its unit; `true` when the user changed it.
fn number(ui: &mut egui::Ui, label: &str, v: &mut f64, unit: &str) -> bool {
    ui.horizontal(|ui| {
        ui.label(label);
        let changed = ui.add(physical(v)).changed();
        if !unit.is_empty() {
            ui.small(unit);
        }
        changed
    })
    .inner
}

/// The side panel's solver and contact section (see [`SolverEdit`]).
fn solver_panel(ui: &mut egui::Ui, session: &mut Session) -> SolverAction {
    let mut action = SolverAction::None;
    let scene = &session.loaded.scene;
    let e = &mut session.solver;
    ui.strong("Solver and contact");
    egui::CollapsingHeader::new("Apply at once")
        .id_salt("solver live")
        .default_open(false)
        .show(ui, |ui| {
            let mut changed = false;
            ui.horizontal(|ui| {
                ui.label("gravity");
                for g in e.gravity.iter_mut() {
                    // Steps of at least 0.01 m/s², so a zero component drags.
                    let step = (g.abs() * 0.01).max(0.01);
                    changed |= ui.add(physical(g).speed(step)).changed();
                }
                ui.small("m/s²");
            });
            changed |= number(ui, "wall friction μ", &mut e.wall_friction, "");
            for t in e.tools.iter_mut() {
                ui.label(&t.name);
                ui.indent(("tool", t.name.as_str()), |ui| {
                    changed |= number(ui, "friction μ", &mut t.friction, "");
                    changed |= number(ui, "softness", &mut t.softness, "m");
                });
            }
            if changed {
                action = SolverAction::Live;
            }
        });
    let restart = e.needs_restart(scene);
    egui::CollapsingHeader::new(if restart {
        "Restart the scene (edited)"
    } else {
        "Restart the scene"
    })
    .id_salt("solver restart")
    .default_open(false)
    .show(ui, |ui| {
        ui.small("These change what the simulation is built with: applying them restarts the scene from its initial state.");
        number(ui, "dt", &mut e.dt, "s");
        ui.horizontal(|ui| {
            ui.label("substeps per frame");
            ui.add(egui::DragValue::new(&mut e.substeps));
        });
        ui.horizontal(|ui| {
            ui.label("frames");
            ui.add(egui::DragValue::new(&mut e.frames));
        });
        ui.horizontal(|ui| {
            ui.label("cells");
            for c in e.cells.iter_mut() {
                ui.add(egui::DragValue::new(c));
            }
        });
        number(ui, "dx", &mut e.dx, "m");
        egui::ComboBox::from_label("walls")
            .selected_text(format!("{:?}", e.boundary))
            .show_ui(ui, |ui| {
                for b in [Boundary::Separate, Boundary::Slip, Boundary::Sticky] {
                    ui.selectable_value(&mut e.boundary, b, format!("{b:?}"));
                }
            });
        ui.horizontal(|ui| {
            if ui
                .add_enabled(restart, egui::Button::new("Restart with these"))
                .clicked()
            {
                action = SolverAction::Restart;
            }
            if ui.add_enabled(restart, egui::Button::new("Revert")).clicked() {
                *e = SolverEdit {
                    gravity: e.gravity,
                    wall_friction: e.wall_friction,
                    tools: e.tools.clone(),
                    ..SolverEdit::new(scene)
                };
            }
        });
    });
    if let Some(err) = &session.solver_error {
        ui.colored_label(egui::Color32::LIGHT_RED, err);
    }
    action
}

fn save_color_image(img: &egui::ColorImage, path: &Path) -> Result<(), String> {
    let [w, h] = img.size;
    let mut rgba = Vec::with_capacity(w * h * 4);
    for p in &img.pixels {
        rgba.extend_from_slice(&p.to_array());
    }
    let out = image::RgbaImage::from_raw(w as u32, h as u32, rgba).ok_or("bad screenshot size")?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    }
    out.save(path)
        .map_err(|e| format!("writing {}: {e}", path.display()))
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
