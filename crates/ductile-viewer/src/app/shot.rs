//! Screenshots: requested by key or `--screenshot`, saved as PNG with a
//! JSON of what the frame showed and the run's frame rates.

use super::*;

impl ViewerApp {
    pub(super) fn request_shot(&mut self, ctx: &egui::Context) {
        let slot = self.shot_pending.clone();
        ctx.request_screenshot(move |img| {
            *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(img);
        });
        self.shot_requested = true;
    }

    /// Saves a finished screenshot; closes the window after an automatic one.
    pub(super) fn finish_shot(&mut self, ctx: &egui::Context) {
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
    /// screenshot pixels, the camera, and each body's centroid [m] (its
    /// particles', or an FEM body's nodes').
    pub(super) fn write_shot_info(&self, png: &Path, ppp: f32) -> Result<(), String> {
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
            // FEM bodies: their nodes' centroid, numbered after `bodies`.
            for (k, body) in loaded.scene.fem.iter().enumerate() {
                let Some(i) = sim.fem_solver(k) else { continue };
                let solver = &sim.world.solvers[i];
                let pts = solver.points(i);
                let prec = sim.config().precision;
                let x = ductile_gpu::bytes_to_reals(
                    &ductile_gpu::read_buffer(
                        &self.ctx,
                        pts.x[sim.parity()],
                        3 * pts.count as u64 * prec.bytes(),
                    )
                    .map_err(|e| e.to_string())?,
                    prec,
                );
                let n = pts.count as usize;
                if n > 0 {
                    let mut c = [0.0f64; 3];
                    for q in x.chunks(3) {
                        for (ck, xk) in c.iter_mut().zip(q) {
                            *ck += xk;
                        }
                    }
                    bodies.push(serde_json::json!({
                        "name": body.name, "index": loaded.scene.bodies.len() + k, "nodes": n,
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
            "tactile": self.tactile.readout.as_ref().map(|r| serde_json::json!({
                "markers": r.markers.len(),
                "force_n": r.force,
                "image_rect_px": self.tactile.image_rect.map(|t| [t.min.x * ppp, t.min.y * ppp, t.max.x * ppp, t.max.y * ppp]),
            })),
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

pub(super) fn save_color_image(img: &egui::ColorImage, path: &Path) -> Result<(), String> {
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
