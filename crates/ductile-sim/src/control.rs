//! Control: per-substep tool poses and velocities, the part of a rollout an
//! optimiser changes. Built on the host from each tool's `Motion`, uploaded
//! once per rollout as 16 Reals per (substep, tool): position [m], rotation
//! quaternion (x, y, z, w), linear velocity [m/s], angular velocity [rad/s].

use ductile_gpu::{reals_to_bytes, storage_buffer, BufferUse, GpuContext, GpuError, Precision};
use ductile_scene::{Finger, Motion, Pose, Tool};
use glam::{DQuat, DVec3, EulerRot};

/// Reals per (substep, tool) record of the Control buffer (`CONTROL_RECORD`
/// in `shaders/common/tools.wgsl`, compared by a test).
pub const CONTROL_RECORD_REALS: usize = 16;

/// Index, within a control record, of the position [m] (3 Reals).
pub const CONTROL_POSITION: usize = 0;
/// Index of the orientation quaternion (x, y, z, w).
pub const CONTROL_QUATERNION: usize = 4;
/// Index of the linear velocity [m/s] (3 Reals).
pub const CONTROL_LINEAR: usize = 8;
/// Index of the angular velocity [rad/s] (3 Reals).
pub const CONTROL_ANGULAR: usize = 12;

/// Index of the first Real of (substep `n`, tool `t`)'s record in the
/// Control values of `tools` tools (the one place the layout is computed;
/// `tool_control_offset` in `shaders/common/tools.wgsl` on the GPU).
pub fn control_offset(n: usize, t: usize, tools: usize) -> usize {
    CONTROL_RECORD_REALS * (n * tools + t)
}

/// A tool's pose and velocity during one substep.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ToolPose {
    /// Position of the tool frame's origin [m].
    pub position: DVec3,
    /// Orientation.
    pub rotation: DQuat,
    /// Linear velocity of the origin [m/s].
    pub linear: DVec3,
    /// Angular velocity about world axes [rad/s].
    pub angular: DVec3,
}

/// Rotation from XYZ Euler angles in degrees.
pub fn euler_deg(r: [f64; 3]) -> DQuat {
    DQuat::from_euler(
        EulerRot::XYZ,
        r[0].to_radians(),
        r[1].to_radians(),
        r[2].to_radians(),
    )
}

fn v3(a: [f64; 3]) -> DVec3 {
    DVec3::from_array(a)
}

/// Pose at the start of each of `steps` substeps of length `dt` [s], and the
/// velocity held during it, such that pose(n + 1) = pose(n) + dt · velocity(n).
pub fn tool_trajectory(tool: &Tool, dt: f64, steps: usize) -> Vec<ToolPose> {
    if let Some(f) = &tool.finger {
        return finger_trajectory(f, dt, steps);
    }
    frame_trajectory(&tool.pose, &tool.motion, dt, steps)
}

/// A gripper finger: the frame's orientation and angular velocity, at
/// c + q·(side · width/2, 0, 0) for frame position c and orientation q, with
/// the linear velocity that carries it exactly to the next substep's position.
fn finger_trajectory(f: &Finger, dt: f64, steps: usize) -> Vec<ToolPose> {
    let frame = frame_trajectory(&f.gripper.pose, &f.gripper.motion, dt, steps);
    let at = |n: usize| -> DVec3 {
        // Frame pose at substep n (n = steps: one past the last, by its velocity).
        let (c, q) = match frame.get(n) {
            Some(p) => (p.position, p.rotation),
            None => {
                let p = frame[steps - 1];
                let q = (DQuat::from_scaled_axis(p.angular * dt) * p.rotation).normalize();
                (p.position + dt * p.linear, q)
            }
        };
        let w = f.gripper.width_at(n as f64 * dt);
        c + q * DVec3::new(0.5 * f.side * w, 0.0, 0.0)
    };
    (0..steps)
        .map(|n| {
            let p = at(n);
            ToolPose {
                position: p,
                rotation: frame[n].rotation,
                linear: (at(n + 1) - p) / dt,
                angular: frame[n].angular,
            }
        })
        .collect()
}

/// A frame starting at `pose` and moving by `motion`, as [`tool_trajectory`].
fn frame_trajectory(pose: &Pose, motion: &Motion, dt: f64, steps: usize) -> Vec<ToolPose> {
    let Pose {
        position,
        rotation_deg,
    } = pose;
    let p0 = v3(*position);
    let q0 = euler_deg(*rotation_deg);
    let mut out = Vec::with_capacity(steps);
    match motion {
        Motion::Static => {
            out.resize(
                steps,
                ToolPose {
                    position: p0,
                    rotation: q0,
                    linear: DVec3::ZERO,
                    angular: DVec3::ZERO,
                },
            );
        }
        Motion::Constant {
            linear,
            angular_deg,
        } => {
            let lin = v3(*linear);
            let ang = v3(*angular_deg) * std::f64::consts::PI / 180.0;
            for n in 0..steps {
                let t = n as f64 * dt;
                let rot = DQuat::from_scaled_axis(ang * t) * q0;
                out.push(ToolPose {
                    position: p0 + lin * t,
                    rotation: rot.normalize(),
                    linear: lin,
                    angular: ang,
                });
            }
        }
        Motion::PerStep(vels) => {
            let mut p = p0;
            for n in 0..steps {
                let lin = v3(vels[n.min(vels.len().saturating_sub(1))]);
                out.push(ToolPose {
                    position: p,
                    rotation: q0,
                    linear: lin,
                    angular: DVec3::ZERO,
                });
                p += lin * dt;
            }
        }
        Motion::Keyframes(keys) => {
            for n in 0..steps {
                let t = n as f64 * dt;
                out.push(keyframe_pose(keys, t, dt));
            }
        }
    }
    out
}

fn keyframe_pose(keys: &[ductile_scene::Keyframe], t: f64, dt: f64) -> ToolPose {
    let pose_at = |t: f64| -> (DVec3, DQuat) {
        if keys.is_empty() {
            return (DVec3::ZERO, DQuat::IDENTITY);
        }
        if t <= keys[0].time {
            return (v3(keys[0].position), euler_deg(keys[0].rotation_deg));
        }
        for w in keys.windows(2) {
            let (a, b) = (&w[0], &w[1]);
            if t <= b.time {
                let s = (t - a.time) / (b.time - a.time);
                let qa = euler_deg(a.rotation_deg);
                let qb = euler_deg(b.rotation_deg);
                return (
                    v3(a.position).lerp(v3(b.position), s),
                    qa.slerp(qb, s).normalize(),
                );
            }
        }
        let last = &keys[keys.len() - 1];
        (v3(last.position), euler_deg(last.rotation_deg))
    };
    let (p, q) = pose_at(t);
    let (p1, q1) = pose_at(t + dt);
    // Velocities that carry this pose exactly to the next substep's.
    let linear = (p1 - p) / dt;
    let dq = (q1 * q.inverse()).normalize();
    let dq = if dq.w < 0.0 { -dq } else { dq };
    let angular = dq.to_scaled_axis() / dt;
    ToolPose {
        position: p,
        rotation: q,
        linear,
        angular,
    }
}

/// Per-substep tool controls for a whole rollout, on the GPU.
pub struct Control {
    /// 16 Reals per (substep, tool).
    pub buffer: wgpu::Buffer,
    /// Number of substeps covered (at least 1).
    pub steps: usize,
    /// Number of tools.
    pub tools: usize,
    /// Host copy of the poses, `[step][tool]`, for rendering and outputs.
    pub poses: Vec<Vec<ToolPose>>,
    /// Host copy of the buffer's values, 16 per (substep, tool): position [m],
    /// quaternion (x, y, z, w), linear velocity [m/s], angular velocity [rad/s].
    pub values: Vec<f64>,
    /// Per tool, the index of the gripper it is a finger of.
    pub gripper_of: Vec<Option<usize>>,
}

impl Control {
    /// Evaluates every tool's motion over `steps` substeps and uploads it.
    pub fn build(
        ctx: &GpuContext,
        tools: &[Tool],
        dt: f64,
        steps: usize,
        precision: Precision,
    ) -> Result<Control, GpuError> {
        let steps = steps.max(1);
        let trajectories: Vec<Vec<ToolPose>> = tools
            .iter()
            .map(|t| tool_trajectory(t, dt, steps))
            .collect();
        let mut poses = vec![Vec::with_capacity(tools.len()); steps];
        let mut data = vec![0.0f64; CONTROL_RECORD_REALS * steps * tools.len().max(1)];
        for (n, row) in poses.iter_mut().enumerate() {
            for (t, traj) in trajectories.iter().enumerate() {
                let p = traj[n];
                row.push(p);
                let o = control_offset(n, t, tools.len());
                data[o..o + 3].copy_from_slice(&p.position.to_array());
                data[o + 4..o + 8].copy_from_slice(&p.rotation.to_array());
                data[o + 8..o + 11].copy_from_slice(&p.linear.to_array());
                data[o + 12..o + 15].copy_from_slice(&p.angular.to_array());
            }
        }
        let bytes = reals_to_bytes(&data, precision);
        let buffer = storage_buffer(
            ctx,
            "control (tool poses per substep)",
            &bytes,
            BufferUse::Storage,
        )?;
        Ok(Control {
            buffer,
            steps,
            tools: tools.len(),
            poses,
            values: data,
            gripper_of: tools
                .iter()
                .map(|t| t.finger.as_ref().map(|f| f.index))
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ductile_scene::{Keyframe, ToolShape};

    fn tool(motion: Motion) -> Tool {
        Tool {
            name: "t".into(),
            shape: ToolShape::Sphere { radius: 0.1 },
            pose: Pose::default(),
            motion,
            friction: 0.5,
            softness: 0.0,
            finger: None,
        }
    }

    /// Keyframed poses integrate exactly: pose(n+1) = pose(n) + dt·v(n).
    #[test]
    fn a_held_turned_pose_has_zero_finite_velocities() {
        let key = |time: f64| Keyframe {
            time,
            position: [0.0, 0.1, 0.0],
            rotation_deg: [180.0, 0.0, 0.0],
        };
        let t = tool(Motion::Keyframes(vec![key(0.0), key(0.1)]));
        for p in tool_trajectory(&t, 0.01, 20) {
            assert!(p.angular.is_finite() && p.linear.is_finite(), "{p:?}");
            assert!(p.angular.length() < 1e-9, "{p:?}");
        }
    }

    #[test]
    fn keyframes_are_consistent_with_velocities() {
        let t = tool(Motion::Keyframes(vec![
            Keyframe {
                time: 0.0,
                position: [0.0, 0.0, 0.0],
                rotation_deg: [0.0, 0.0, 0.0],
            },
            Keyframe {
                time: 0.1,
                position: [0.1, 0.0, 0.0],
                rotation_deg: [0.0, 90.0, 0.0],
            },
        ]));
        let traj = tool_trajectory(&t, 0.01, 20);
        for n in 0..19 {
            let a = traj[n];
            let b = traj[n + 1];
            assert!((a.position + a.linear * 0.01 - b.position).length() < 1e-12);
            let q = (DQuat::from_scaled_axis(a.angular * 0.01) * a.rotation).normalize();
            assert!(q.dot(b.rotation).abs() > 1.0 - 1e-12, "step {n}");
        }
        assert!((traj[5].linear.x - 1.0).abs() < 1e-9);
        assert!(traj[15].linear.length() < 1e-12);
    }

    /// Gripper fingers: symmetric about the frame at the scheduled width
    /// along the frame's local x (here turned 90° about y, and spinning),
    /// oriented with it, and integrating exactly like any tool.
    #[test]
    fn fingers_follow_their_gripper() {
        let g = ductile_scene::Gripper {
            name: "g".into(),
            finger: ToolShape::Sphere { radius: 0.01 },
            pose: Pose {
                position: [0.5, 0.4, 0.3],
                rotation_deg: [0.0, 90.0, 0.0],
            },
            motion: Motion::Constant {
                linear: [0.0, 1.0, 0.0],
                angular_deg: [0.0, 30.0, 0.0],
            },
            width: vec![
                ductile_scene::WidthKey {
                    time: 0.0,
                    width: 0.2,
                },
                ductile_scene::WidthKey {
                    time: 0.1,
                    width: 0.1,
                },
            ],
            friction: 0.5,
            softness: 0.0,
        };
        let mut scene: ductile_scene::Scene = ductile_scene::parse_scene_str(
            "Scene(domain: (cells: (8, 8, 8), dx: 0.125), time: (dt: 0.01, substeps: 1, frames: 20))",
            "s.ron",
        )
        .unwrap();
        scene.grippers.push(g.clone());
        scene.expand_grippers();
        scene.expand_grippers();
        assert_eq!(
            scene.tools.len(),
            2,
            "expanding twice adds the fingers once"
        );
        assert_eq!(
            (scene.tools[0].name.as_str(), scene.tools[1].name.as_str()),
            ("g.left", "g.right")
        );
        let frame = frame_trajectory(&g.pose, &g.motion, 0.01, 20);
        let left = tool_trajectory(&scene.tools[0], 0.01, 20);
        let right = tool_trajectory(&scene.tools[1], 0.01, 20);
        for n in 0..20 {
            let (l, r, f) = (left[n], right[n], frame[n]);
            let w = g.width_at(n as f64 * 0.01);
            assert!(((l.position + r.position) * 0.5 - f.position).length() < 1e-12);
            let axis = f.rotation * DVec3::X;
            assert!(
                (r.position - l.position - w * axis).length() < 1e-12,
                "substep {n}"
            );
            assert!(l.rotation.dot(f.rotation).abs() > 1.0 - 1e-12);
            assert!((l.angular - f.angular).length() < 1e-12);
            if n + 1 < 20 {
                for t in [&left, &right] {
                    assert!(
                        (t[n].position + 0.01 * t[n].linear - t[n + 1].position).length() < 1e-12
                    );
                }
            }
        }
        assert!((g.width_at(0.05) - 0.15).abs() < 1e-12 && (g.width_at(0.5) - 0.1).abs() < 1e-12);
    }

    #[test]
    fn per_step_velocities_integrate() {
        let t = tool(Motion::PerStep(vec![[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]]));
        let traj = tool_trajectory(&t, 0.1, 4);
        assert!((traj[1].position - DVec3::new(0.1, 0.0, 0.0)).length() < 1e-12);
        assert!((traj[3].position - DVec3::new(0.1, 0.4, 0.0)).length() < 1e-12);
    }
}
