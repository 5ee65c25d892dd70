//! A perspective camera, and framing a bounding box from a pleasant angle.

use glam::{Mat4, Vec3};

/// A perspective look-at camera that also fixes the image size.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Camera {
    /// Camera position, world metres.
    pub eye: Vec3,
    /// Point looked at.
    pub target: Vec3,
    /// Up direction (need not be orthogonal to the view direction).
    pub up: Vec3,
    /// Vertical field of view in degrees.
    pub fov_y_deg: f32,
    /// Image width in pixels.
    pub width: u32,
    /// Image height in pixels.
    pub height: u32,
}

impl Camera {
    /// A 3/4 view from the front-right-above (+z front, +x right, +y up) that
    /// fits the box `[min, max]` in a `width` x `height` image.
    pub fn framing(min: Vec3, max: Vec3, width: u32, height: u32) -> Camera {
        let fov_y_deg = 40.0_f32;
        let center = (min + max) * 0.5;
        let radius = ((max - min).length() * 0.5).max(1e-3);
        let aspect = width.max(1) as f32 / height.max(1) as f32;
        let half_y = (fov_y_deg * 0.5).to_radians();
        let half_x = (half_y.tan() * aspect).atan();
        let distance = radius / half_y.min(half_x).sin() * 1.02;
        let (azimuth, elevation) = (35.0_f32.to_radians(), 25.0_f32.to_radians());
        let dir = Vec3::new(
            azimuth.sin() * elevation.cos(),
            elevation.sin(),
            azimuth.cos() * elevation.cos(),
        );
        Camera {
            eye: center + dir * distance,
            target: center,
            up: Vec3::Y,
            fov_y_deg,
            width,
            height,
        }
    }

    /// Width over height.
    pub fn aspect(&self) -> f32 {
        self.width.max(1) as f32 / self.height.max(1) as f32
    }

    /// World to view (right-handed, looking down -z).
    pub fn view(&self) -> Mat4 {
        Mat4::look_at_rh(self.eye, self.target, self.up)
    }

    /// View to clip: infinite far plane, reversed depth (near maps to 1, infinity to 0),
    /// near plane at 1% of the eye-target distance.
    pub fn proj(&self) -> Mat4 {
        let near = ((self.eye - self.target).length() * 0.01).max(1e-4);
        Mat4::perspective_infinite_reverse_rh(self.fov_y_deg.to_radians(), self.aspect(), near)
    }

    /// World to clip: `proj() * view()`.
    pub fn view_proj(&self) -> Mat4 {
        self.proj() * self.view()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_sees_every_corner() {
        let (min, max) = (Vec3::new(-1.0, 0.0, -0.5), Vec3::new(1.0, 0.5, 0.5));
        for (w, h) in [(640, 480), (300, 600)] {
            let cam = Camera::framing(min, max, w, h);
            let m = cam.view_proj();
            for i in 0..8 {
                let p = Vec3::new(
                    if i & 1 == 0 { min.x } else { max.x },
                    if i & 2 == 0 { min.y } else { max.y },
                    if i & 4 == 0 { min.z } else { max.z },
                );
                let c = m.project_point3(p);
                assert!(
                    c.x.abs() < 1.0 && c.y.abs() < 1.0 && c.z > 0.0 && c.z < 1.0,
                    "{p} -> {c}"
                );
            }
            assert!(cam.eye.x > 0.0 && cam.eye.y > 0.0 && cam.eye.z > 0.0);
        }
    }
}
