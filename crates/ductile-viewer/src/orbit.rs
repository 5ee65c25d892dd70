//! The viewer's orbit camera: yaw and pitch about a target point, a
//! distance, and the mouse gestures that change them (orbit, pan, zoom).

use ductile_render::Camera;
use glam::Vec3;

/// An orbit camera; turns into a [`Camera`] for a viewport size.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OrbitCamera {
    /// Point orbited and looked at [m].
    pub target: Vec3,
    /// Angle about +y from +z towards +x [rad].
    pub yaw: f32,
    /// Elevation above the x–z plane [rad], within ±[`Self::MAX_PITCH`].
    pub pitch: f32,
    /// Distance from the target [m].
    pub distance: f32,
    /// Vertical field of view [degrees].
    pub fov_y_deg: f32,
    home: (Vec3, f32, f32, f32),
}

impl OrbitCamera {
    /// Largest elevation [rad] (short of the pole, where "up" flips).
    pub const MAX_PITCH: f32 = 1.55;
    /// Orbit angle per dragged pixel [rad].
    pub const RAD_PER_PIXEL: f32 = 0.008;

    /// The orbit through `cam`'s eye about its target; "reset" returns here.
    pub fn from_camera(cam: &Camera) -> OrbitCamera {
        let d = cam.eye - cam.target;
        let distance = d.length().max(1e-4);
        let pitch = (d.y / distance)
            .clamp(-1.0, 1.0)
            .asin()
            .clamp(-Self::MAX_PITCH, Self::MAX_PITCH);
        let yaw = d.x.atan2(d.z);
        OrbitCamera {
            target: cam.target,
            yaw,
            pitch,
            distance,
            fov_y_deg: cam.fov_y_deg,
            home: (cam.target, yaw, pitch, distance),
        }
    }

    /// Back to the pose it was made from.
    pub fn reset(&mut self) {
        (self.target, self.yaw, self.pitch, self.distance) = self.home;
    }

    /// Unit vector from the target to the eye.
    fn back(&self) -> Vec3 {
        Vec3::new(
            self.yaw.sin() * self.pitch.cos(),
            self.pitch.sin(),
            self.yaw.cos() * self.pitch.cos(),
        )
    }

    /// Eye position [m].
    pub fn eye(&self) -> Vec3 {
        self.target + self.back() * self.distance
    }

    /// Orbits by a mouse drag of (dx, dy) pixels: right turns the scene right, down tilts the view up.
    pub fn orbit(&mut self, dx: f32, dy: f32) {
        self.yaw -= dx * Self::RAD_PER_PIXEL;
        self.pitch =
            (self.pitch + dy * Self::RAD_PER_PIXEL).clamp(-Self::MAX_PITCH, Self::MAX_PITCH);
    }

    /// Pans by a drag of (dx, dy) pixels in a viewport `height` pixels tall:
    /// the point under the cursor at the target's depth follows the cursor.
    pub fn pan(&mut self, dx: f32, dy: f32, height: f32) {
        let metres_per_pixel =
            2.0 * self.distance * (self.fov_y_deg.to_radians() * 0.5).tan() / height.max(1.0);
        let fwd = -self.back();
        let right = fwd.cross(Vec3::Y).normalize_or_zero();
        let up = right.cross(fwd);
        self.target += (-dx * right + dy * up) * metres_per_pixel;
    }

    /// Zooms by `steps` wheel notches (positive: closer), 10 % per notch.
    pub fn zoom(&mut self, steps: f32) {
        self.distance = (self.distance * 0.9_f32.powf(steps)).clamp(1e-3, 1e4);
    }

    /// The camera for a `width` × `height` viewport.
    pub fn camera(&self, width: u32, height: u32) -> Camera {
        Camera {
            eye: self.eye(),
            target: self.target,
            up: Vec3::Y,
            fov_y_deg: self.fov_y_deg,
            width: width.max(1),
            height: height.max(1),
        }
    }
}

/// Pixel position (x right, y down, in the camera's `width` × `height`
/// view) of the world point `p` [m], or `None` when it is behind the camera.
pub fn project(cam: &Camera, p: Vec3) -> Option<(f32, f32)> {
    let clip = cam.view_proj() * p.extend(1.0);
    if clip.w <= 1e-6 {
        return None;
    }
    let ndc = clip.truncate() / clip.w;
    Some((
        (ndc.x + 1.0) * 0.5 * cam.width as f32,
        (1.0 - ndc.y) * 0.5 * cam.height as f32,
    ))
}

/// World displacement [m], in the plane through `anchor` that faces the
/// camera, that follows a pointer move of (`dx`, `dy`) pixels: what dragging
/// a tool held at `anchor` moves it by.
pub fn drag_displacement(cam: &Camera, anchor: Vec3, dx: f32, dy: f32) -> Vec3 {
    let fwd = (cam.target - cam.eye).normalize_or_zero();
    let right = fwd.cross(cam.up).normalize_or_zero();
    let up = right.cross(fwd);
    let depth = (anchor - cam.eye).dot(fwd).max(1e-4);
    let metres_per_pixel =
        2.0 * depth * (cam.fov_y_deg.to_radians() * 0.5).tan() / cam.height.max(1) as f32;
    (dx * right - dy * up) * metres_per_pixel
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start() -> OrbitCamera {
        OrbitCamera::from_camera(&Camera::framing(Vec3::ZERO, Vec3::ONE, 640, 480))
    }

    #[test]
    fn round_trip_keeps_the_eye() {
        let cam = Camera::framing(Vec3::ZERO, Vec3::ONE, 640, 480);
        let o = OrbitCamera::from_camera(&cam);
        assert!(
            (o.eye() - cam.eye).length() < 1e-4,
            "{} vs {}",
            o.eye(),
            cam.eye
        );
        assert_eq!(o.camera(640, 480).target, cam.target);
    }

    #[test]
    fn orbit_keeps_distance_and_clamps_pitch() {
        let mut o = start();
        let d = (o.eye() - o.target).length();
        o.orbit(123.0, -40.0);
        assert!(((o.eye() - o.target).length() - d).abs() < 1e-4);
        o.orbit(0.0, 1e6);
        assert_eq!(o.pitch, OrbitCamera::MAX_PITCH);
    }

    #[test]
    fn pan_moves_target_across_the_view_by_the_pixel_scale() {
        let mut o = start();
        let t0 = o.target;
        let fwd = (o.target - o.eye()).normalize();
        o.pan(100.0, 0.0, 480.0);
        let moved = o.target - t0;
        assert!(moved.dot(fwd).abs() < 1e-5, "pan moved along the view axis");
        let expect = 100.0 * 2.0 * o.distance * (o.fov_y_deg.to_radians() * 0.5).tan() / 480.0;
        assert!((moved.length() - expect).abs() < 1e-4 * expect.max(1.0));
        // Dragging right moves the target left, so the scene follows the cursor.
        let right = fwd.cross(Vec3::Y).normalize();
        assert!(moved.dot(right) < 0.0);
    }

    #[test]
    fn zoom_and_reset() {
        let mut o = start();
        let home = o;
        o.zoom(3.0);
        assert!((o.distance - home.distance * 0.729).abs() < 1e-4);
        o.orbit(50.0, 20.0);
        o.pan(5.0, 5.0, 100.0);
        o.reset();
        assert_eq!(o, home);
    }

    #[test]
    fn a_dragged_point_follows_the_pointer() {
        let cam = OrbitCamera::from_camera(&Camera::framing(Vec3::ZERO, Vec3::ONE, 800, 600))
            .camera(800, 600);
        let (cx, cy) = project(&cam, cam.target).unwrap();
        assert!((cx - 400.0).abs() < 0.5 && (cy - 300.0).abs() < 0.5);
        let anchor = Vec3::new(0.3, 0.6, 0.4);
        let (ax, ay) = project(&cam, anchor).unwrap();
        for (dx, dy) in [(25.0, 0.0), (0.0, -40.0), (-13.0, 17.0)] {
            let moved = anchor + drag_displacement(&cam, anchor, dx, dy);
            let (mx, my) = project(&cam, moved).unwrap();
            assert!(
                (mx - ax - dx).abs() < 0.5 && (my - ay - dy).abs() < 0.5,
                "({dx}, {dy}) moved the point by ({}, {})",
                mx - ax,
                my - ay
            );
        }
        assert!(project(&cam, cam.eye - (cam.target - cam.eye)).is_none());
    }
}
