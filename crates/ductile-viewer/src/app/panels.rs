//! The panels around the view: top bar, side panel (materials, solver
//! and contact parameters), bottom panel (timeline, plots) and the central view.

use super::*;

impl ViewerApp {
    pub(super) fn top_bar(&mut self, ui: &mut egui::Ui) {
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

    pub(super) fn side_panel(&mut self, ui: &mut egui::Ui) {
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

    pub(super) fn bottom_panel(&mut self, ui: &mut egui::Ui) {
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

    pub(super) fn central(&mut self, ui: &mut egui::Ui, frame: &eframe::Frame) {
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
}

/// What the solver panel asks for after this frame's edits.
pub(super) enum SolverAction {
    None,
    /// A live parameter changed: apply it to the running state.
    Live,
    /// Restart the scene with the edited parameters.
    Restart,
}

/// A drag field for a physical value, shown in full (`1.5e-4`, not a
/// rounded `0.0002`) and typed in as any Rust float literal.
pub(super) fn physical(v: &mut f64) -> egui::DragValue<'_> {
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
pub(super) fn number(ui: &mut egui::Ui, label: &str, v: &mut f64, unit: &str) -> bool {
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
pub(super) fn solver_panel(ui: &mut egui::Ui, session: &mut Session) -> SolverAction {
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
