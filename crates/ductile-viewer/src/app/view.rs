//! Drawing the session into the view texture: the render target, the
//! loss-gradient colouring, and one frame's draw.

use super::*;

impl ViewerApp {
    pub(super) fn ensure_target(&mut self, frame: &eframe::Frame, w: u32, h: u32) -> Option<()> {
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
    pub(super) fn ensure_gradient(&mut self) {
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

    pub(super) fn draw(&mut self, w: u32, h: u32) -> Result<(), String> {
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
        let mut meshes = scene_meshes_at(&session.loaded, &poses);
        if let Some((_, rec)) = self.timeline.shown() {
            meshes.extend(rec.surfaces.iter().cloned());
        }
        // Other solvers' surfaces, straight from their buffers (live runs only).
        let (surfaces, tubes) = match (self.timeline.shown().is_none(), &session.sim) {
            (true, Some(sim)) => {
                // Other solvers take the colour mode where they have the
                // quantity (speed), else draw in their own colour.
                let color = match self.color {
                    ViewColor::Speed => PackColor::Speed(speed_scale(&session.loaded)),
                    _ => PackColor::Body,
                };
                ductile_render::scene::solver_views(&self.ctx, sim, color)
            }
            _ => (Vec::new(), Vec::new()),
        };
        let frame = ductile_render::Frame {
            particles: &[view],
            meshes: &meshes,
            gpu_meshes: &surfaces,
            tubes: &tubes,
        };
        let mut enc = self.ctx.device.create_command_encoder(&Default::default());
        self.renderer
            .encode_frame(
                &self.ctx.device,
                &self.ctx.queue,
                &mut enc,
                &target.view,
                &frame,
                &cam,
            )
            .map_err(|e| e.to_string())?;
        self.ctx.queue.submit([enc.finish()]);
        Ok(())
    }
}
