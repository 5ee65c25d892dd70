//! Files a run writes: per-frame particle PLY and NPY files, every other
//! solver's points (NPY) and surface (PLY mesh) per frame, PNG renders and
//! `summary.json`. Each writer reports the path it failed on.

use anyhow::{Context, Result};
use npyz::WriterBuilder;
use std::io::Write;
use std::path::Path;

/// Colour of body `i` in PLY files and renders (sRGB 0..1).
pub fn body_color(i: u32) -> [f32; 3] {
    let p = ductile_render::DEFAULT_PALETTE;
    p[i as usize % p.len()]
}

/// Writes a binary little-endian PLY point cloud with position [m], velocity
/// [m/s], body index and the body's colour, one vertex per particle.
pub fn write_ply(path: &Path, x: &[f64], v: &[f64], body: &[u32]) -> Result<()> {
    let n = body.len();
    let mut out = Vec::with_capacity(64 + n * 31);
    write!(
        out,
        "ply\nformat binary_little_endian 1.0\ncomment ductile particles: position [m], velocity [m/s], body index\nelement vertex {n}\nproperty float x\nproperty float y\nproperty float z\nproperty float vx\nproperty float vy\nproperty float vz\nproperty uint body\nproperty uchar red\nproperty uchar green\nproperty uchar blue\nend_header\n"
    )?;
    for i in 0..n {
        for k in 0..3 {
            out.extend_from_slice(&(x[3 * i + k] as f32).to_le_bytes());
        }
        for k in 0..3 {
            out.extend_from_slice(&(v[3 * i + k] as f32).to_le_bytes());
        }
        out.extend_from_slice(&body[i].to_le_bytes());
        let c = body_color(body[i]);
        out.extend(c.iter().map(|&f| (f.clamp(0.0, 1.0) * 255.0).round() as u8));
    }
    std::fs::write(path, out).with_context(|| format!("writing {}", path.display()))
}

/// Writes a binary little-endian PLY triangle mesh: vertex positions [m]
/// and faces of 3 vertex indices (ParaView, Blender and MeshLab read it).
pub fn write_mesh_ply(path: &Path, vertices: &[[f32; 3]], triangles: &[u32]) -> Result<()> {
    let (n, f) = (vertices.len(), triangles.len() / 3);
    let mut out = Vec::with_capacity(128 + 12 * n + 13 * f);
    write!(
        out,
        "ply\nformat binary_little_endian 1.0\ncomment ductile surface: position [m]\nelement vertex {n}\nproperty float x\nproperty float y\nproperty float z\nelement face {f}\nproperty list uchar uint vertex_indices\nend_header\n"
    )?;
    for v in vertices {
        for c in v {
            out.extend_from_slice(&c.to_le_bytes());
        }
    }
    for t in triangles.chunks_exact(3) {
        out.push(3);
        for i in t {
            out.extend_from_slice(&i.to_le_bytes());
        }
    }
    std::fs::write(path, out).with_context(|| format!("writing {}", path.display()))
}

/// Writes frame `frame` of every solver of `sim`'s world other than MPM
/// (whose particles the run writes itself): its points' positions as
/// `npy/<solver>/frame_NNNNN_x.npy` (`n × 3` f32, metres), and its surface,
/// if it has one, as `ply/<solver>/frame_NNNNN.ply`. Returns, per solver
/// written, its name, point count and triangle count.
pub fn write_solver_frames(
    ctx: &ductile_gpu::GpuContext,
    sim: &ductile_sim::Simulation,
    out: &Path,
    frame: u32,
) -> Result<Vec<(String, u32, u32)>> {
    let world = &sim.world;
    let precision = sim.config().precision;
    let stem = format!("frame_{frame:05}");
    let mut written = Vec::new();
    for (i, s) in world.solvers.iter().enumerate() {
        if i == ductile_sim::Simulation::MPM {
            continue;
        }
        let name = s.name().to_string();
        let points = s.points(i);
        let x = ductile_gpu::bytes_to_reals(
            &ductile_gpu::read_buffer(
                ctx,
                points.x[world.parity],
                3 * points.count as u64 * precision.bytes(),
            )?,
            precision,
        );
        let dir = out.join("npy").join(&name);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        write_npy_vec3(&dir.join(format!("{stem}_x.npy")), &x)?;
        let mut triangles = 0;
        if let Some(surface) = s.surface() {
            let mut enc = ctx.device.create_command_encoder(&Default::default());
            s.encode_render_pack(ctx, &mut enc, world.parity, ductile_sim::PackColor::Body);
            ctx.queue.submit([enc.finish()]);
            let v =
                ductile_gpu::read_buffer(ctx, surface.vertices, 16 * surface.vertex_count as u64)?;
            let v: &[[f32; 4]] = bytemuck::cast_slice(&v);
            let vertices: Vec<[f32; 3]> = v.iter().map(|p| [p[0], p[1], p[2]]).collect();
            let t = ductile_gpu::read_buffer(ctx, surface.indices, 12 * surface.triangles as u64)?;
            let dir = out.join("ply").join(&name);
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            write_mesh_ply(
                &dir.join(format!("{stem}.ply")),
                &vertices,
                bytemuck::cast_slice(&t),
            )?;
            triangles = surface.triangles;
        }
        if let Some(f) = s
            .as_any()
            .downcast_ref::<ductile_sim::fem::solver::FemSolver>()
        {
            if let Some(r) = f.read_sensor(ctx, world.parity)? {
                write_sensor_frame(out, &name, frame, &r, f.sensor().map(|s| &s.desc))?;
            }
        }
        written.push((name, points.count, triangles));
    }
    Ok(written)
}

/// Writes frame `frame` of solver `name`'s tactile sensor: marker pixels,
/// per-node pressure [Pa] and shear [Pa], and the depth map [m] as
/// `npy/<name>/frame_NNNNN_{markers,pressure,shear,depth}.npy`, the tactile
/// image and the depth as `png/<name>/frame_NNNNN_{tactile,depth}.png`, and
/// the net force [N] and torque [N·m] (camera axes) as a row of
/// `sensor_<name>.csv` (created at frame 0, appended to after).
pub fn write_sensor_frame(
    out: &Path,
    name: &str,
    frame: u32,
    r: &ductile_sim::fem::sensor_image::SensorReadout,
    desc: Option<&ductile_sim::fem::sensor::SensorDesc>,
) -> Result<()> {
    let stem = format!("frame_{frame:05}");
    let dir = out.join("npy").join(name);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let m: Vec<f64> = r.markers.iter().flatten().copied().collect();
    write_npy_f32(
        &dir.join(format!("{stem}_markers.npy")),
        &[r.markers.len() as u64, 2],
        &m,
    )?;
    write_npy_f32(
        &dir.join(format!("{stem}_pressure.npy")),
        &[r.pressure.len() as u64],
        &r.pressure,
    )?;
    let sh: Vec<f64> = r.shear.iter().flatten().copied().collect();
    write_npy_f32(
        &dir.join(format!("{stem}_shear.npy")),
        &[r.shear.len() as u64, 3],
        &sh,
    )?;
    let [w, h] = r.size;
    let depth: Vec<f64> = r.depth.iter().map(|&d| f64::from(d)).collect();
    write_npy_f32(
        &dir.join(format!("{stem}_depth.npy")),
        &[u64::from(h), u64::from(w)],
        &depth,
    )?;
    let png = out.join("png").join(name);
    std::fs::create_dir_all(&png).with_context(|| format!("creating {}", png.display()))?;
    if let Some(d) = desc {
        let rgb = ductile_sim::fem::sensor_image::tactile_image(&d.camera, &r.depth, &d.shading);
        let bytes: Vec<u8> = rgb
            .iter()
            .flat_map(|c| c.map(|v| (v * 255.0).round() as u8))
            .collect();
        let path = png.join(format!("{stem}_tactile.png"));
        image::RgbImage::from_raw(w, h, bytes)
            .context("tactile image size")?
            .save(&path)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let (lo, hi) = r
        .depth
        .iter()
        .filter(|&&d| d > 0.0)
        .fold((f32::INFINITY, 0.0f32), |(lo, hi), &d| {
            (lo.min(d), hi.max(d))
        });
    let gray: Vec<u8> = r
        .depth
        .iter()
        .map(|&d| {
            if d > 0.0 && hi > lo {
                (255.0 * (d - lo) / (hi - lo)).round() as u8
            } else if d > 0.0 {
                128
            } else {
                0
            }
        })
        .collect();
    let path = png.join(format!("{stem}_depth.png"));
    image::GrayImage::from_raw(w, h, gray)
        .context("depth image size")?
        .save(&path)
        .with_context(|| format!("writing {}", path.display()))?;
    let csv = out.join(format!("sensor_{name}.csv"));
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(frame != 0)
        .truncate(frame == 0)
        .open(&csv)
        .with_context(|| format!("writing {}", csv.display()))?;
    if frame == 0 {
        writeln!(file, "frame,fx,fy,fz,tx,ty,tz")
            .with_context(|| format!("writing {}", csv.display()))?;
    }
    writeln!(
        file,
        "{frame},{:e},{:e},{:e},{:e},{:e},{:e}",
        r.force[0], r.force[1], r.force[2], r.torque[0], r.torque[1], r.torque[2]
    )
    .with_context(|| format!("writing {}", csv.display()))?;
    Ok(())
}

/// Writes an f32 array of `shape` as NPY.
pub fn write_npy_f32(path: &Path, shape: &[u64], data: &[f64]) -> Result<()> {
    let mut file = std::io::BufWriter::new(
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
    );
    let mut w = npyz::WriteOptions::<f32>::new()
        .default_dtype()
        .shape(shape)
        .writer(&mut file)
        .begin_nd()
        .with_context(|| format!("writing {}", path.display()))?;
    w.extend(data.iter().map(|&x| x as f32))?;
    w.finish()?;
    Ok(())
}

/// Writes an `n × 3` f32 array as NPY.
pub fn write_npy_vec3(path: &Path, data: &[f64]) -> Result<()> {
    let n = data.len() / 3;
    let mut file = std::io::BufWriter::new(
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
    );
    let mut w = npyz::WriteOptions::<f32>::new()
        .default_dtype()
        .shape(&[n as u64, 3])
        .writer(&mut file)
        .begin_nd()
        .with_context(|| format!("writing {}", path.display()))?;
    w.extend(data.iter().map(|&x| x as f32))?;
    w.finish()?;
    Ok(())
}

/// Writes an `n` u32 array as NPY.
pub fn write_npy_u32(path: &Path, data: &[u32]) -> Result<()> {
    let mut file = std::io::BufWriter::new(
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
    );
    let mut w = npyz::WriteOptions::<u32>::new()
        .default_dtype()
        .shape(&[data.len() as u64])
        .writer(&mut file)
        .begin_nd()
        .with_context(|| format!("writing {}", path.display()))?;
    w.extend(data.iter().copied())?;
    w.finish()?;
    Ok(())
}

/// Writes the tools' poses as a `tools × 7` f64 NPY array: position [m]
/// and rotation quaternion (x, y, z, w) per tool (`frame_NNNNN_tools.npy`,
/// which `ductile view` draws the tools from when it replays a run).
pub fn write_npy_tool_poses(path: &Path, poses: &[ductile_sim::ToolPose]) -> Result<()> {
    let data: Vec<f64> = poses
        .iter()
        .flat_map(|p| {
            let q = p.rotation;
            [p.position.x, p.position.y, p.position.z, q.x, q.y, q.z, q.w]
        })
        .collect();
    ductile_sim::loss::write_npy_f64(path, &[poses.len() as u64, 7], &data)
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.npy");
        write_npy_vec3(&p, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
        assert_eq!(npy.shape(), &[2, 3]);
        let v: Vec<f32> = npy.into_vec().unwrap();
        assert_eq!(v, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    }

    #[test]
    fn ply_header_and_size() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.ply");
        write_ply(&p, &[0.0; 6], &[0.0; 6], &[0, 1]).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        let end = text.find("end_header\n").unwrap() + "end_header\n".len();
        assert!(text.contains("element vertex 2"));
        assert_eq!(bytes.len() - end, 2 * (6 * 4 + 4 + 3));
    }
}
