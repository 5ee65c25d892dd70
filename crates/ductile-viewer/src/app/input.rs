//! Pointer and keyboard: picking and dragging tools, shortcuts.

use super::*;

impl ViewerApp {
    /// The live tool whose centre is drawn nearest the pointer, within 60 pixels.
    pub(super) fn pick_tool(
        &self,
        resp: &egui::Response,
        ppp: f32,
        w: u32,
        h: u32,
    ) -> Option<usize> {
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
    pub(super) fn drag_tool(&mut self, t: usize, d: egui::Vec2, w: u32, h: u32) {
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

    pub(super) fn keys(&mut self, ctx: &egui::Context) {
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
}
