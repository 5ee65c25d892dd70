//! The viewer's state that needs no window, kept here so that it is tested
//! without one: playback, the timeline of recorded frames, the plotted
//! history, material edits and the scene file watch.

use ductile_scene::{validate, Boundary, Material, Scene};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Play, pause, single step and speed, in substeps per displayed frame.
#[derive(Clone, Debug, PartialEq)]
pub struct Playback {
    /// Advancing on every displayed frame.
    pub playing: bool,
    /// Substeps run per displayed frame while playing (the speed).
    pub substeps_per_frame: u32,
    /// Substeps in one scene frame (one single step).
    pub frame_substeps: u32,
    /// Substeps the scene holds in all (playback pauses there).
    pub total_substeps: u64,
    /// Keep displayed frames near [`Self::TARGET_FRAME_S`] by running fewer
    /// substeps per frame than the speed asks while the simulation cannot
    /// keep up (down to one substep every [`Self::MIN_LIMIT`]⁻¹ frames).
    pub responsive: bool,
    /// Substeps per displayed frame the frame-time controller allows
    /// (fractional: 0.25 runs one substep every fourth frame).
    pub limit: f32,
    /// Duration [s] of a displayed frame that runs no substep (drawing alone),
    /// as learnt so far.
    pub draw_s: Option<f32>,
    credit: f32,
    last_ran: u32,
    frames_seen: u32,
    pending: u32,
}

impl Playback {
    /// Playing at one scene frame per displayed frame.
    pub fn new(frame_substeps: u32, total_substeps: u64) -> Playback {
        let frame_substeps = frame_substeps.max(1);
        Playback {
            playing: true,
            substeps_per_frame: frame_substeps,
            frame_substeps,
            total_substeps,
            responsive: true,
            limit: frame_substeps as f32,
            draw_s: None,
            credit: 0.0,
            last_ran: 0,
            frames_seen: 0,
            pending: 0,
        }
    }

    /// Frame time [s] the responsive mode aims at (15 frames per second).
    pub const TARGET_FRAME_S: f32 = 1.0 / 15.0;
    /// Fewest substeps per displayed frame the responsive mode goes down to.
    pub const MIN_LIMIT: f32 = 0.125;

    /// Feeds the last displayed frame's duration [s] (which ran the
    /// substeps of the last [`Self::take`]) to the responsive mode. The goal
    /// is the target frame time, or 1.5× the time of drawing alone where
    /// that is slower (a software driver: simulating then takes a third of
    /// each frame instead of being starved); drawing alone is learnt from
    /// frames that ran no substep. A frame over 1.25× the goal scales the
    /// substeps per frame by goal / frame time (between ¼ and ¾, so that a
    /// scene opened at full speed settles within a few frames), one under
    /// 0.8× raises them by an eighth; never above the speed's substeps per
    /// frame, nor below [`Self::MIN_LIMIT`]. Reacting to whole frame times
    /// (not to timed submissions) keeps it right when the GPU runs behind
    /// the CPU.
    pub fn adapt(&mut self, frame_s: f32) {
        let cap = self.substeps_per_frame as f32;
        if !self.responsive {
            self.limit = cap;
            return;
        }
        // The first frames build pipelines and textures: not a measure.
        self.frames_seen += 1;
        if self.frames_seen <= 3 {
            return;
        }
        if self.last_ran == 0 {
            // The least recent draw-only time, drifting up 2 % per such frame
            // (drawing cost changes slowly; hitches only ever add).
            self.draw_s = Some(self.draw_s.map_or(frame_s, |d| frame_s.min(1.02 * d)));
        }
        let goal = Self::TARGET_FRAME_S.max(1.5 * self.draw_s.unwrap_or(0.0));
        if frame_s > 1.25 * goal {
            self.limit *= (goal / frame_s).clamp(0.25, 0.75);
        } else if frame_s < 0.8 * goal {
            self.limit += (self.limit / 8.0).max(Self::MIN_LIMIT);
        }
        self.limit = self.limit.clamp(Self::MIN_LIMIT, cap);
    }

    /// Toggles play and pause.
    pub fn toggle(&mut self) {
        self.playing = !self.playing;
    }

    /// Asks for one scene frame while paused (pauses if playing).
    pub fn single_step(&mut self) {
        self.playing = false;
        self.pending += self.frame_substeps;
    }

    /// Speed as a multiple of one scene frame per displayed frame, 1/16 to 16.
    pub fn speed(&self) -> f32 {
        self.substeps_per_frame as f32 / self.frame_substeps as f32
    }

    /// Sets the speed (see [`Self::speed`]); at least one substep per displayed frame.
    pub fn set_speed(&mut self, multiple: f32) {
        let m = multiple.clamp(1.0 / 16.0, 16.0);
        self.substeps_per_frame = ((m * self.frame_substeps as f32).round() as u32).max(1);
        self.limit = self.limit.min(self.substeps_per_frame as f32);
    }

    /// Substeps to run now, given the simulation's current substep. Pauses at the scene's end.
    pub fn take(&mut self, step: u64) -> u32 {
        let left = self.total_substeps.saturating_sub(step);
        let want = if self.playing {
            if self.responsive {
                // Whole substeps from the credit the limit adds each frame.
                self.credit = (self.credit + self.limit.min(self.substeps_per_frame as f32))
                    .min(self.substeps_per_frame as f32);
                let n = self.credit.floor();
                self.credit -= n;
                self.last_ran = n as u32;
                n as u32
            } else {
                self.substeps_per_frame
            }
        } else {
            std::mem::take(&mut self.pending)
        };
        let n = (want as u64).min(left) as u32;
        if left <= want as u64 {
            self.playing = false;
        }
        n
    }
}

/// Displayed frames and substeps counted over a run, for the mean rates that
/// the screenshot's JSON reports (the on-screen figures are smoothed and
/// move with the last few frames). The first [`Self::WARM_UP`] frames after
/// a (re)load are left out: they build pipelines and textures.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FrameStats {
    seen: u32,
    /// Frames counted so far.
    pub frames: u64,
    /// Substeps run in the counted frames.
    pub substeps: u64,
    /// Wall-clock time of the counted frames [s].
    pub seconds: f64,
    /// Counted frames that ran no substep (drawing alone).
    pub draw_only_frames: u64,
    /// Wall-clock time of those frames [s].
    pub draw_only_seconds: f64,
}

impl FrameStats {
    /// Frames left out after a (re)load.
    pub const WARM_UP: u32 = 3;

    /// Counts one displayed frame of `frame_s` seconds that ran `substeps`.
    pub fn record(&mut self, frame_s: f64, substeps: u32) {
        self.seen = self.seen.saturating_add(1);
        if self.seen <= Self::WARM_UP {
            return;
        }
        self.frames += 1;
        self.substeps += u64::from(substeps);
        self.seconds += frame_s;
        if substeps == 0 {
            self.draw_only_frames += 1;
            self.draw_only_seconds += frame_s;
        }
    }

    /// Mean frames per second of the frames that ran no substep (what a
    /// paused scene shows), if there were any.
    pub fn draw_only_frames_per_s(&self) -> Option<f64> {
        (self.draw_only_seconds > 0.0)
            .then(|| self.draw_only_frames as f64 / self.draw_only_seconds)
    }

    /// Mean displayed frames per second, if any frame was counted.
    pub fn frames_per_s(&self) -> Option<f64> {
        (self.seconds > 0.0).then(|| self.frames as f64 / self.seconds)
    }

    /// Mean substeps per second, if any frame was counted.
    pub fn substeps_per_s(&self) -> Option<f64> {
        (self.seconds > 0.0).then(|| self.substeps as f64 / self.seconds)
    }
}

/// Recorded frames (any payload, e.g. GPU copies of the particles) within a
/// byte budget, and the frame on show: `None` follows the live simulation.
#[derive(Debug)]
pub struct Timeline<T> {
    frames: Vec<(u64, T)>,
    bytes_each: u64,
    budget_bytes: u64,
    /// Index of the frame on show, or `None` for the live state.
    pub cursor: Option<usize>,
}

impl<T> Timeline<T> {
    /// An empty timeline whose frames take `bytes_each`, at most `budget_bytes` in all.
    pub fn new(bytes_each: u64, budget_bytes: u64) -> Timeline<T> {
        Timeline {
            frames: Vec::new(),
            bytes_each: bytes_each.max(1),
            budget_bytes,
            cursor: None,
        }
    }

    /// True when another frame fits in the budget.
    pub fn has_room(&self) -> bool {
        (self.frames.len() as u64 + 1) * self.bytes_each <= self.budget_bytes
    }

    /// Frames the budget holds.
    pub fn capacity(&self) -> u64 {
        self.budget_bytes / self.bytes_each
    }

    /// Records `frame` taken at substep `step`; false (and nothing kept) when
    /// the budget is spent or the step is not after the last one recorded.
    pub fn push(&mut self, step: u64, frame: T) -> bool {
        if !self.has_room() || self.frames.last().is_some_and(|(s, _)| *s >= step) {
            return false;
        }
        self.frames.push((step, frame));
        true
    }

    /// Recorded frames.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// True when nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Frame `i`: (substep, payload).
    pub fn get(&self, i: usize) -> Option<&(u64, T)> {
        self.frames.get(i)
    }

    /// The frame on show, when scrubbing.
    pub fn shown(&self) -> Option<&(u64, T)> {
        self.cursor.and_then(|i| self.frames.get(i))
    }

    /// Shows frame `i` (clamped to the last), or the live state for `None`.
    pub fn scrub(&mut self, i: Option<usize>) {
        self.cursor = match i {
            Some(i) if !self.frames.is_empty() => Some(i.min(self.frames.len() - 1)),
            _ => None,
        };
    }

    /// Forgets everything (after a reset).
    pub fn clear(&mut self) {
        self.frames.clear();
        self.cursor = None;
    }
}

/// One plotted sample: energies [J] and the summed tool contact force [N].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sample {
    /// Simulated time [s].
    pub time_s: f64,
    /// Kinetic energy [J].
    pub kinetic_j: f64,
    /// Elastic energy [J].
    pub elastic_j: f64,
    /// Gravitational potential energy [J].
    pub gravitational_j: f64,
    /// Sum of the magnitudes of the tools' contact forces [N].
    pub tool_force_n: f64,
    /// The scene's loss on this state (every term at its weight), when it has one.
    pub loss: Option<f64>,
}

impl Sample {
    /// Kinetic + elastic + gravitational [J].
    pub fn total_j(&self) -> f64 {
        self.kinetic_j + self.elastic_j + self.gravitational_j
    }
}

/// Plotted samples, thinned by half whenever `max` is reached so that a
/// long run keeps its whole span.
#[derive(Clone, Debug, Default)]
pub struct History {
    /// Samples in time order.
    pub samples: Vec<Sample>,
    max: usize,
}

impl History {
    /// At most `max` samples (at least 2).
    pub fn new(max: usize) -> History {
        History {
            samples: Vec::new(),
            max: max.max(2),
        }
    }

    /// Adds a sample.
    pub fn push(&mut self, s: Sample) {
        if self.samples.len() >= self.max {
            let kept: Vec<Sample> = self.samples.iter().copied().step_by(2).collect();
            self.samples = kept;
        }
        self.samples.push(s);
    }

    /// (time [s], loss) of the samples that carry a loss.
    pub fn loss_series(&self) -> Vec<[f64; 2]> {
        self.samples
            .iter()
            .filter_map(|s| s.loss.map(|l| [s.time_s, l]))
            .collect()
    }

    /// (time, value) points of `f` for a plot.
    pub fn series(&self, f: impl Fn(&Sample) -> f64) -> Vec<[f64; 2]> {
        self.samples.iter().map(|s| [s.time_s, f(s)]).collect()
    }
}

/// A body's material as editable named numbers; [`MaterialEdit::material`]
/// turns them back into a material checked by the scene's own validation.
#[derive(Clone, Debug, PartialEq)]
pub struct MaterialEdit {
    /// The model's name, e.g. `NeoHookean`.
    pub kind: String,
    /// (parameter, value) in the scene format's names and SI units.
    pub fields: Vec<(String, f64)>,
    /// Fields that are not numbers, kept as they were.
    other: serde_json::Map<String, serde_json::Value>,
}

impl MaterialEdit {
    /// The numbers of `m`.
    pub fn new(m: &Material) -> MaterialEdit {
        let v = serde_json::to_value(m).unwrap_or_default();
        let (kind, body) = match v {
            serde_json::Value::Object(o) if o.len() == 1 => o.into_iter().next().unwrap(),
            other => (String::from("?"), other),
        };
        let mut fields = Vec::new();
        let mut rest = serde_json::Map::new();
        if let serde_json::Value::Object(o) = body {
            for (k, v) in o {
                match v.as_f64() {
                    Some(x) if v.is_number() => fields.push((k, x)),
                    _ => {
                        rest.insert(k, v);
                    }
                }
            }
        }
        MaterialEdit {
            kind,
            fields,
            other: rest,
        }
    }

    /// The edited material, or the scene format's own error for the first
    /// bad value (checked as body `body` of `scene`).
    pub fn material(&self, scene: &Scene, body: usize) -> Result<Material, String> {
        let mut o = self.other.clone();
        for (k, x) in &self.fields {
            let n = serde_json::Number::from_f64(*x)
                .ok_or_else(|| format!("{k} = {x}: must be a finite number"))?;
            o.insert(k.clone(), serde_json::Value::Number(n));
        }
        let mut wrapped = serde_json::Map::new();
        wrapped.insert(self.kind.clone(), serde_json::Value::Object(o));
        let m: Material = serde_json::from_value(serde_json::Value::Object(wrapped))
            .map_err(|e| e.to_string())?;
        let mut s = scene.clone();
        let b = s
            .bodies
            .get_mut(body)
            .ok_or_else(|| format!("no body {body}"))?;
        b.material = m.clone();
        let prefix = format!("bodies[{body}].material");
        match validate::violations(&s)
            .into_iter()
            .find(|v| v.path.starts_with(&prefix))
        {
            Some(v) => Err(format!("{} = {}: must be {}", v.path, v.value, v.allowed)),
            None => Ok(m),
        }
    }
}

/// One tool's contact parameters as the side panel edits them.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolContact {
    /// The tool's name (a gripper's fingers are `NAME.left`, `NAME.right`).
    pub name: String,
    /// Coulomb friction coefficient μ between tool and matter.
    pub friction: f64,
    /// Width of the soft contact falloff [m].
    pub softness: f64,
}

/// The scene's solver and contact parameters as the side panel edits them.
///
/// Gravity, the walls' friction and each tool's friction and softness are
/// *live*: [`Self::live`] applies them to the running state at once. The
/// time step, substeps per frame, frames, grid and wall kind change what the
/// simulation was built with: [`Self::restarted`] applies them, and the scene
/// restarts from its initial state. Both check the result with the scene
/// format's own validation.
#[derive(Clone, Debug, PartialEq)]
pub struct SolverEdit {
    /// Gravitational acceleration [m/s²] (live).
    pub gravity: [f64; 3],
    /// The domain walls' friction coefficient (live).
    pub wall_friction: f64,
    /// Each tool's contact (live).
    pub tools: Vec<ToolContact>,
    /// Substep length [s] (restart).
    pub dt: f64,
    /// Substeps per scene frame (restart).
    pub substeps: u32,
    /// Scene frames (restart).
    pub frames: u32,
    /// Grid cells along x, y, z (restart).
    pub cells: [u32; 3],
    /// Grid spacing [m] (restart).
    pub dx: f64,
    /// The walls' condition (restart).
    pub boundary: Boundary,
}

impl SolverEdit {
    /// The parameters of `scene`.
    pub fn new(scene: &Scene) -> SolverEdit {
        SolverEdit {
            gravity: scene.gravity,
            wall_friction: scene.domain.wall_friction,
            tools: scene
                .tools
                .iter()
                .map(|t| ToolContact {
                    name: t.name.clone(),
                    friction: t.friction,
                    softness: t.softness,
                })
                .collect(),
            dt: scene.time.dt,
            substeps: scene.time.substeps,
            frames: scene.time.frames,
            cells: scene.domain.cells,
            dx: scene.domain.dx,
            boundary: scene.domain.boundary,
        }
    }

    /// `scene` with the live parameters applied, or the first value the
    /// scene format refuses (`path = value: must be allowed`).
    pub fn live(&self, scene: &Scene) -> Result<Scene, String> {
        let mut s = scene.clone();
        s.gravity = self.gravity;
        s.domain.wall_friction = self.wall_friction;
        for (t, e) in s.tools.iter_mut().zip(&self.tools) {
            t.friction = e.friction;
            t.softness = e.softness;
        }
        checked(s)
    }

    /// `scene` with every parameter applied (live and restart), checked as
    /// [`Self::live`].
    pub fn restarted(&self, scene: &Scene) -> Result<Scene, String> {
        let mut s = self.live(scene)?;
        s.time.dt = self.dt;
        s.time.substeps = self.substeps;
        s.time.frames = self.frames;
        s.domain.cells = self.cells;
        s.domain.dx = self.dx;
        s.domain.boundary = self.boundary;
        checked(s)
    }

    /// Whether a parameter that needs a restart differs from `scene`'s.
    pub fn needs_restart(&self, scene: &Scene) -> bool {
        let t = &scene.time;
        let d = &scene.domain;
        (self.dt, self.substeps, self.frames) != (t.dt, t.substeps, t.frames)
            || (self.cells, self.dx, self.boundary) != (d.cells, d.dx, d.boundary)
    }
}

/// `s`, or its first violation of the scene format.
fn checked(s: Scene) -> Result<Scene, String> {
    match validate::violations(&s).into_iter().next() {
        Some(v) => Err(format!("{} = {}: must be {}", v.path, v.value, v.allowed)),
        None => Ok(s),
    }
}

/// A file's modification time, polled to reload the scene when it changes.
#[derive(Clone, Debug)]
pub struct FileWatch {
    /// The watched file.
    pub path: PathBuf,
    stamp: Option<SystemTime>,
}

impl FileWatch {
    /// Watches `path` from its current state.
    pub fn new(path: &Path) -> FileWatch {
        FileWatch {
            path: path.to_path_buf(),
            stamp: Self::stamp(path),
        }
    }

    fn stamp(path: &Path) -> Option<SystemTime> {
        std::fs::metadata(path).and_then(|m| m.modified()).ok()
    }

    /// True once per change of the file's modification time.
    pub fn changed(&mut self) -> bool {
        let now = Self::stamp(&self.path);
        if now != self.stamp && now.is_some() {
            self.stamp = now;
            return true;
        }
        false
    }
}

/// What the particles are coloured by in the view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ViewColor {
    /// Each body its own colour.
    Body,
    /// Speed |v|, scaled by the scene's speed range.
    Speed,
    /// The von Mises equivalent of each particle's Kirchhoff stress [Pa].
    Stress,
    /// |∂L/∂x₀|: the magnitude of the gradient of the scene's loss with
    /// respect to each particle's initial position (from one forward and
    /// backward pass of the scene's rollout).
    LossGradient,
}

impl ViewColor {
    /// Label in the colour menu.
    pub fn label(self) -> &'static str {
        match self {
            ViewColor::Body => "body",
            ViewColor::Speed => "speed",
            ViewColor::Stress => "stress (von Mises)",
            ViewColor::LossGradient => "loss gradient |∂L/∂x₀|",
        }
    }
}

/// Default top of the stress colour ramp [Pa]: the largest of, over the
/// bodies, the hydrostatic pressure ρ|g|H at the foot of the domain and 1 %
/// of Young's modulus (where a body has one), so that both a resting column
/// and an elastic impact show contrast.
pub fn default_stress_scale(scene: &Scene) -> f64 {
    let g = scene.gravity.iter().map(|x| x * x).sum::<f64>().sqrt();
    let h = scene.domain.cells[1] as f64 * scene.domain.dx;
    scene
        .bodies
        .iter()
        .map(|b| {
            let rho = ductile_sim::material::density(&b.material);
            let e = ductile_sim::tape::elastic_constants(&b.material).map_or(0.0, |(e, _)| e);
            (rho * g * h).max(0.01 * e)
        })
        .fold(1.0, f64::max)
}

/// Per-particle magnitudes |g_p| of a gradient stored as 3 components per particle.
pub fn per_particle_norms(g: &[f64]) -> Vec<f64> {
    g.chunks_exact(3)
        .map(|c| (c[0] * c[0] + c[1] * c[1] + c[2] * c[2]).sqrt())
        .collect()
}

/// The value that maps to the top of the colour ramp: the 99th percentile of
/// the positive values (so that a few extreme particles do not wash out the
/// rest), or 1 when none is positive.
pub fn color_scale(values: &[f64]) -> f64 {
    let mut pos: Vec<f64> = values
        .iter()
        .copied()
        .filter(|v| *v > 0.0 && v.is_finite())
        .collect();
    if pos.is_empty() {
        return 1.0;
    }
    pos.sort_by(f64::total_cmp);
    pos[((pos.len() - 1) as f64 * 0.99).round() as usize]
}

/// Level of detail: the stride at which `count` particles are drawn so that
/// at most `limit` are (0: no limit, stride 1).
pub fn draw_stride(count: u32, limit: u32) -> u32 {
    if limit == 0 {
        1
    } else {
        count.div_ceil(limit).max(1)
    }
}

/// The default [`draw_stride`] limit on an adapter of type `device_type`:
/// 50,000 particles on a software rasteriser (llvmpipe draws 130k sphere
/// impostors in about 120 ms, a frame rate below interactive), all on a GPU.
pub fn default_draw_limit(device_type: wgpu::DeviceType) -> u32 {
    match device_type {
        wgpu::DeviceType::Cpu => 50_000,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn playback_steps_pauses_and_stops_at_the_end() {
        let mut p = Playback::new(50, 120);
        assert_eq!(p.take(0), 50);
        p.toggle();
        assert_eq!(p.take(50), 0, "paused runs nothing");
        p.single_step();
        assert_eq!(p.take(50), 50);
        assert_eq!(p.take(100), 0, "one step runs one frame");
        p.set_speed(2.0);
        assert_eq!(p.substeps_per_frame, 100);
        p.toggle();
        assert_eq!(p.take(100), 20, "only what is left of the scene");
        assert!(!p.playing, "pauses at the end");
        p.set_speed(1e-6);
        assert_eq!(p.substeps_per_frame, 3, "1/16 of 50, rounded");
    }

    /// Responsive playback: frames that stay slow cut the substeps per
    /// frame down to one every eighth frame (the substeps taken add up to
    /// the limit); with a model frame of `draw + cost × substeps` it settles
    /// where frames take about the goal: 1/15 s when drawing is fast, twice
    /// the drawing time when drawing is slow; cheap substeps run at speed.
    #[test]
    fn draw_stride_keeps_the_drawn_count_under_the_limit() {
        assert_eq!(draw_stride(130_000, 0), 1);
        assert_eq!(draw_stride(30_000, 50_000), 1);
        assert_eq!(draw_stride(50_000, 50_000), 1);
        assert_eq!(draw_stride(50_001, 50_000), 2);
        assert_eq!(draw_stride(1_000_000, 50_000), 20);
        for (n, l) in [(130_000u32, 50_000u32), (7, 3), (1, 1)] {
            assert!(n.div_ceil(draw_stride(n, l)) <= l);
        }
        assert_eq!(default_draw_limit(wgpu::DeviceType::DiscreteGpu), 0);
    }

    #[test]
    fn responsive_playback_follows_the_frame_time() {
        let mut p = Playback::new(20, 1_000_000);
        assert_eq!(p.take(0), 20);
        for _ in 0..40 {
            p.adapt(1.0);
            p.last_ran = 20; // every frame slow, whatever it ran
        }
        assert_eq!(p.limit, Playback::MIN_LIMIT);
        let ran: u32 = (0..16).map(|_| p.take(0)).sum();
        assert_eq!(ran, 2, "one substep every eighth frame");

        let settle = |draw: f32, cost: f32| {
            let mut p = Playback::new(60, 1_000_000);
            let mut frames = Vec::new();
            for _ in 0..300 {
                let n = p.take(0) as f32;
                let f = draw + cost * n;
                frames.push(f);
                p.adapt(f);
            }
            let late = &frames[200..];
            (p.limit, late.iter().sum::<f32>() / late.len() as f32)
        };
        // Drawing 10 ms, a substep 5 ms: frames near 1/15 s.
        let (limit, mean) = settle(0.01, 0.005);
        assert!(mean > 0.8 / 15.0 && mean < 1.25 / 15.0, "{limit} {mean}");
        // Drawing 100 ms (software driver), a substep 20 ms: frames in the
        // band around 0.15 s, each running at least one substep.
        let (limit, mean) = settle(0.1, 0.02);
        assert!(
            (0.12..0.19).contains(&mean) && limit >= 1.0,
            "{limit} {mean}"
        );
        // Opened at 20 substeps per frame, each 20 ms, drawing 40 ms: within
        // the band around 1/15 s two frames after the three of warm-up (a
        // fixed cut by a quarter per frame took eight).
        let mut p = Playback::new(20, 1_000_000);
        let mut frames = Vec::new();
        for _ in 0..40 {
            let f = 0.04 + 0.02 * p.take(0) as f32;
            frames.push(f);
            p.adapt(f);
        }
        let band = |f: f32| f < 1.25 / 15.0 + 0.02;
        assert!(frames[6..].iter().all(|&f| band(f)), "{frames:?}");
        // Cheap substeps: the speed's 60 per frame.
        let (limit, _) = settle(0.005, 1e-5);
        assert_eq!(limit, 60.0);

        let mut p = Playback::new(20, 1_000_000);
        p.responsive = false;
        p.limit = 1.0;
        assert_eq!(p.take(0), 20, "without the responsive mode the speed rules");
        p.adapt(1.0);
        assert_eq!(p.limit, 20.0);
    }

    #[test]
    fn timeline_budget_order_and_scrub() {
        let mut t: Timeline<u32> = Timeline::new(100, 250);
        assert_eq!(t.capacity(), 2);
        assert!(t.push(10, 1));
        assert!(!t.push(10, 2), "same step twice");
        assert!(t.push(20, 2));
        assert!(!t.push(30, 3), "over budget");
        t.scrub(Some(7));
        assert_eq!(t.shown(), Some(&(20, 2)));
        t.scrub(None);
        assert!(t.shown().is_none());
        t.clear();
        assert!(t.is_empty());
        t.scrub(Some(0));
        assert!(t.cursor.is_none(), "nothing to show");
    }

    #[test]
    fn history_thins_but_keeps_its_span() {
        let mut h = History::new(4);
        for i in 0..9 {
            h.push(Sample {
                time_s: i as f64,
                kinetic_j: 1.0,
                ..Default::default()
            });
        }
        assert!(h.samples.len() <= 4);
        assert_eq!(h.samples[0].time_s, 0.0);
        assert_eq!(h.samples.last().unwrap().time_s, 8.0);
        assert_eq!(h.series(|s| s.total_j())[0], [0.0, 1.0]);
    }

    fn scene() -> Scene {
        ductile_scene::parse_scene_str(
            "Scene(domain: (cells: (8, 8, 8), dx: 0.05), time: (dt: 1e-4, substeps: 10, frames: 2),
              bodies: [(name: \"b\", shape: Box(min: (0.15, 0.15, 0.15), max: (0.25, 0.25, 0.25)),
                        material: NeoHookean(density: 1000.0, youngs_modulus: 5e4, poisson_ratio: 0.3))])",
            "test",
        )
        .unwrap()
    }

    #[test]
    fn material_edits_round_trip_and_are_validated() {
        let s = scene();
        let mut e = MaterialEdit::new(&s.bodies[0].material);
        assert_eq!(e.kind, "NeoHookean");
        assert_eq!(e.material(&s, 0).unwrap(), s.bodies[0].material);
        let ym = e
            .fields
            .iter_mut()
            .find(|(k, _)| k == "youngs_modulus")
            .unwrap();
        ym.1 = 8e4;
        match e.material(&s, 0).unwrap() {
            Material::NeoHookean { youngs_modulus, .. } => assert_eq!(youngs_modulus, 8e4),
            m => panic!("{m:?}"),
        }
        let nu = e
            .fields
            .iter_mut()
            .find(|(k, _)| k == "poisson_ratio")
            .unwrap();
        nu.1 = 0.7;
        let err = e.material(&s, 0).unwrap_err();
        assert!(
            err.contains("poisson_ratio") && err.contains("0.7"),
            "{err}"
        );
    }

    #[test]
    fn file_watch_sees_a_change_once() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.ron");
        std::fs::write(&p, "1").unwrap();
        let mut w = FileWatch::new(&p);
        assert!(!w.changed());
        let later = SystemTime::now() + std::time::Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(&p)
            .unwrap()
            .set_modified(later)
            .unwrap();
        assert!(w.changed());
        assert!(!w.changed());
    }

    #[test]
    fn gradient_colour_scale_ignores_outliers_and_zeros() {
        let g = [3.0, 4.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0];
        assert_eq!(per_particle_norms(&g), vec![5.0, 0.0, 1.0]);
        let mut v: Vec<f64> = (1..=1000).map(|i| i as f64).collect();
        v.push(1e9);
        v.push(0.0);
        v.push(f64::NAN);
        let s = color_scale(&v);
        assert!((985.0..=995.0).contains(&s), "{s}");
        assert_eq!(color_scale(&[0.0, 0.0]), 1.0);
    }

    #[test]
    fn frame_stats_skip_the_warm_up_and_average_the_rest() {
        let mut f = FrameStats::default();
        assert_eq!(f.frames_per_s(), None);
        // Three slow warm-up frames, then 10 frames of 0.05 s with 2 substeps.
        for _ in 0..FrameStats::WARM_UP {
            f.record(1.0, 20);
        }
        assert_eq!(f.frames_per_s(), None);
        for _ in 0..10 {
            f.record(0.05, 2);
        }
        assert_eq!(f.frames, 10);
        assert!((f.frames_per_s().unwrap() - 20.0).abs() < 1e-9);
        assert!((f.substeps_per_s().unwrap() - 40.0).abs() < 1e-9);
        assert_eq!(f.draw_only_frames_per_s(), None);
        f.record(0.025, 0);
        assert!((f.draw_only_frames_per_s().unwrap() - 40.0).abs() < 1e-9);
        assert_eq!(f.frames, 11);
    }

    #[test]
    fn solver_edits_split_live_from_restart_and_are_validated() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenes/grasp.ron");
        let loaded = ductile_scene::load_scene(&path).unwrap();
        let s = &loaded.scene;
        assert!(s.tools.len() >= 3, "a tool and the gripper's two fingers");
        let mut e = SolverEdit::new(s);
        assert_eq!(&e.live(s).unwrap(), s, "unchanged: the loaded scene itself");
        assert!(!e.needs_restart(s));

        e.gravity = [0.0, -1.62, 0.0];
        e.tools[1].friction = 0.9;
        e.tools[2].softness = 0.004;
        let live = e.live(s).unwrap();
        assert_eq!(live.gravity, [0.0, -1.62, 0.0]);
        assert_eq!(live.tools[1].friction, 0.9);
        assert_eq!(live.tools[2].softness, 0.004);
        assert_eq!(live.time, s.time);
        assert!(!e.needs_restart(&live));

        e.tools[0].friction = -0.5;
        let err = e.live(s).unwrap_err();
        assert!(
            err.contains("tools[0].friction") && err.contains("-0.5"),
            "{err}"
        );
        e.tools[0].friction = 0.5;

        e.dx = s.domain.dx * 0.5;
        e.substeps = 2 * s.time.substeps;
        assert!(e.needs_restart(s));
        assert_eq!(e.live(s).unwrap().domain.dx, s.domain.dx, "dx is not live");
        // Half the spacing on as many cells halves the domain: the bodies
        // no longer fit.
        let err = e.restarted(s).unwrap_err();
        assert!(
            err.contains("bodies[0]") && err.contains("inside the domain"),
            "{err}"
        );
        e.cells = s.domain.cells.map(|c| 2 * c);
        let r = e.restarted(s).unwrap();
        assert_eq!(r.domain.dx, s.domain.dx * 0.5);
        assert_eq!(r.time.substeps, 2 * s.time.substeps);
        assert_eq!(r.gravity, [0.0, -1.62, 0.0], "live edits come along");
        assert!(!e.needs_restart(&r));

        e.dt = 0.02;
        let err = e.restarted(s).unwrap_err();
        assert!(err.contains("time.dt") && err.contains("0.02"), "{err}");
    }
}
