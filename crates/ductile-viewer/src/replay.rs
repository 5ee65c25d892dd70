//! Reading a run directory written by `ductile run` (its `summary.json`,
//! its `npy/` particle frames and every other solver's `ply/SOLVER/`
//! surfaces) for replay in the viewer.

use anyhow::{bail, Context, Result};
use ductile_sim::ToolPose;
use glam::{DQuat, DVec3};
use std::path::{Path, PathBuf};

/// The particle frames of a run, packed for the renderer.
#[derive(Clone, Debug, PartialEq)]
pub struct RunRecording {
    /// The scene the run came from, as `summary.json` names it (if it does).
    pub scene_file: Option<PathBuf>,
    /// Substeps per frame (from `summary.json`; 1 when missing).
    pub frame_substeps: u64,
    /// (frame number, particles as (x, y, z, body index) [m]), in frame order.
    pub frames: Vec<(u64, Vec<[f32; 4]>)>,
    /// The tools' poses at each frame (from `frame_NNNNN_tools.npy`; empty
    /// where the run wrote none).
    pub tool_poses: Vec<Vec<ToolPose>>,
    /// Other solvers' surfaces at each frame (from `ply/SOLVER/frame_NNNNN.ply`).
    pub surfaces: Vec<Vec<SurfaceFrame>>,
}

/// One solver's surface in one frame of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct SurfaceFrame {
    /// The solver's name (its folder under `ply/`).
    pub solver: String,
    /// Vertex positions [m].
    pub vertices: Vec<[f32; 3]>,
    /// Triangles, 3 vertex indices each.
    pub triangles: Vec<u32>,
}

/// Reads a binary little-endian PLY triangle mesh as `ductile run` writes
/// it (float x, y, z per vertex; faces as a uchar count and uint indices).
pub fn read_mesh_ply(path: &Path) -> Result<(Vec<[f32; 3]>, Vec<u32>)> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let end = bytes
        .windows(11)
        .position(|w| w == b"end_header\n")
        .with_context(|| format!("{}: no PLY header", path.display()))?
        + 11;
    let header = String::from_utf8_lossy(&bytes[..end]);
    if !header.contains("format binary_little_endian 1.0") {
        bail!("{}: not a binary little-endian PLY", path.display());
    }
    let count = |element: &str| -> Result<usize> {
        header
            .lines()
            .find_map(|l| l.strip_prefix(&format!("element {element} ")))
            .and_then(|n| n.trim().parse().ok())
            .with_context(|| format!("{}: no `element {element}` count", path.display()))
    };
    let (n, f) = (count("vertex")?, count("face")?);
    let body = &bytes[end..];
    if body.len() != 12 * n + 13 * f {
        bail!(
            "{}: {} bytes of data for {n} vertices of 3 floats and {f} triangles",
            path.display(),
            body.len()
        );
    }
    let float = |o: usize| f32::from_le_bytes([body[o], body[o + 1], body[o + 2], body[o + 3]]);
    let vertices = (0..n)
        .map(|i| [float(12 * i), float(12 * i + 4), float(12 * i + 8)])
        .collect();
    let mut triangles = Vec::with_capacity(3 * f);
    for k in 0..f {
        let o = 12 * n + 13 * k;
        if body[o] != 3 {
            bail!(
                "{}: face {k} has {} corners, not 3",
                path.display(),
                body[o]
            );
        }
        for c in 0..3 {
            let p = o + 1 + 4 * c;
            let i = u32::from_le_bytes([body[p], body[p + 1], body[p + 2], body[p + 3]]);
            if i as usize >= n {
                bail!("{}: face {k} names vertex {i} of {n}", path.display());
            }
            triangles.push(i);
        }
    }
    Ok((vertices, triangles))
}

/// The surfaces of every solver folder under `dir/ply/` at frame `n`.
fn read_surfaces(dir: &Path, n: u64) -> Result<Vec<SurfaceFrame>> {
    let ply = dir.join("ply");
    let Ok(entries) = std::fs::read_dir(&ply) else {
        return Ok(Vec::new());
    };
    let mut solvers: Vec<(String, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .collect();
    solvers.sort();
    let mut out = Vec::new();
    for (solver, path) in solvers {
        let file = path.join(format!("frame_{n:05}.ply"));
        if file.is_file() {
            let (vertices, triangles) = read_mesh_ply(&file)?;
            out.push(SurfaceFrame {
                solver,
                vertices,
                triangles,
            });
        }
    }
    Ok(out)
}

/// Reads a `tools × 7` array (position [m], quaternion x, y, z, w) of tool poses.
fn read_tool_poses(path: &Path) -> Result<Vec<ToolPose>> {
    let (shape, v) = read_npy::<f64>(path)?;
    if shape.len() != 2 || shape[1] != 7 {
        bail!("{}: shape {shape:?}, expected [tools, 7]", path.display());
    }
    Ok(v.chunks_exact(7)
        .map(|r| ToolPose {
            position: DVec3::new(r[0], r[1], r[2]),
            rotation: DQuat::from_xyzw(r[3], r[4], r[5], r[6]),
            linear: DVec3::ZERO,
            angular: DVec3::ZERO,
        })
        .collect())
}

fn read_npy<T: npyz::Deserialize>(path: &Path) -> Result<(Vec<u64>, Vec<T>)> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let npy = npyz::NpyFile::new(&bytes[..])
        .with_context(|| format!("{}: not an NPY file", path.display()))?;
    let shape = npy.shape().to_vec();
    let data = npy
        .into_vec::<T>()
        .with_context(|| format!("{}: unexpected element type", path.display()))?;
    Ok((shape, data))
}

/// Reads the run in `dir`. Needs `npy/body.npy` and at least one
/// `npy/frame_NNNNN_x.npy` (the run's `npy` output on).
pub fn load_run(dir: &Path) -> Result<RunRecording> {
    let summary_path = dir.join("summary.json");
    let (scene_file, frame_substeps) = match std::fs::read_to_string(&summary_path) {
        Ok(text) => {
            let v: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("{}: not JSON", summary_path.display()))?;
            let scene = v["scene_file"].as_str().map(PathBuf::from);
            let substeps = v["substeps"].as_u64().unwrap_or(0);
            let frames = v["frames_completed"].as_u64().unwrap_or(0).max(1);
            (scene, (substeps / frames).max(1))
        }
        Err(_) => (None, 1),
    };
    let npy = dir.join("npy");
    let (_, body) = read_npy::<u32>(&npy.join("body.npy")).with_context(|| {
        format!(
            "{} holds no particle frames (run with npy output on)",
            dir.display()
        )
    })?;
    let mut names: Vec<(u64, PathBuf)> = std::fs::read_dir(&npy)
        .with_context(|| format!("reading {}", npy.display()))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let n = name
                .strip_prefix("frame_")?
                .strip_suffix("_x.npy")?
                .parse()
                .ok()?;
            Some((n, e.path()))
        })
        .collect();
    names.sort();
    if names.is_empty() {
        bail!("{}: no frame_NNNNN_x.npy files", npy.display());
    }
    let mut frames = Vec::with_capacity(names.len());
    let mut tool_poses = Vec::with_capacity(names.len());
    let mut surfaces = Vec::with_capacity(names.len());
    for (n, path) in names {
        surfaces.push(read_surfaces(dir, n)?);
        let tools = npy.join(format!("frame_{n:05}_tools.npy"));
        tool_poses.push(if tools.is_file() {
            read_tool_poses(&tools)?
        } else {
            Vec::new()
        });
        let (shape, x) = read_npy::<f32>(&path)?;
        if shape != [body.len() as u64, 3] {
            bail!(
                "{}: shape {:?}, expected [{}, 3] (one row per particle of body.npy)",
                path.display(),
                shape,
                body.len()
            );
        }
        let packed = x
            .chunks_exact(3)
            .zip(&body)
            .map(|(p, &b)| [p[0], p[1], p[2], b as f32])
            .collect();
        frames.push((n, packed));
    }
    Ok(RunRecording {
        scene_file,
        frame_substeps,
        frames,
        tool_poses,
        surfaces,
    })
}

/// The loss curve of an optimisation, (iteration, loss) per row of its
/// `loss.csv`, for a directory written by `ductile optimize` or one of its
/// `render_*` subdirectories. `None` when there is no readable curve.
pub fn load_loss_curve(dir: &Path) -> Option<Vec<[f64; 2]>> {
    let path = [dir.join("loss.csv"), dir.parent()?.join("loss.csv")]
        .into_iter()
        .find(|p| p.is_file())?;
    let text = std::fs::read_to_string(path).ok()?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next()?.split(',').collect();
    let it = header.iter().position(|h| *h == "iteration")?;
    let loss = header.iter().position(|h| *h == "loss")?;
    let points: Vec<[f64; 2]> = lines
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            Some([f.get(it)?.parse().ok()?, f.get(loss)?.parse().ok()?])
        })
        .collect();
    (!points.is_empty()).then_some(points)
}

#[cfg(test)]
mod tests {
    use super::*;
    use npyz::WriterBuilder;

    fn write<T: npyz::Serialize + npyz::AutoSerialize + Copy>(
        path: &Path,
        shape: &[u64],
        data: &[T],
    ) {
        let mut f = std::fs::File::create(path).unwrap();
        let mut w = npyz::WriteOptions::<T>::new()
            .default_dtype()
            .shape(shape)
            .writer(&mut f)
            .begin_nd()
            .unwrap();
        w.extend(data.iter().copied()).unwrap();
        w.finish().unwrap();
    }

    #[test]
    fn reads_frames_in_order_and_names_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        let npy = dir.path().join("npy");
        std::fs::create_dir(&npy).unwrap();
        write(&npy.join("body.npy"), &[2], &[0u32, 1]);
        write(
            &npy.join("frame_00002_x.npy"),
            &[2, 3],
            &[2.0f32, 0., 0., 2., 1., 0.],
        );
        write(
            &npy.join("frame_00000_x.npy"),
            &[2, 3],
            &[0.0f32, 0., 0., 0., 1., 0.],
        );
        std::fs::write(
            dir.path().join("summary.json"),
            r#"{"scene_file": "scenes/x.ron", "substeps": 100, "frames_completed": 2}"#,
        )
        .unwrap();
        let r = load_run(dir.path()).unwrap();
        assert_eq!(r.scene_file, Some(PathBuf::from("scenes/x.ron")));
        assert_eq!(r.frame_substeps, 50);
        assert_eq!(r.frames.len(), 2);
        assert_eq!(r.frames[0].0, 0);
        assert_eq!(r.frames[1].1[1], [2.0, 1.0, 0.0, 1.0]);
        assert!(r.surfaces.iter().all(|s| s.is_empty()));
        // Tool poses where the run wrote them, none where it did not.
        assert!(r.tool_poses.iter().all(|p| p.is_empty()));
        write(
            &npy.join("frame_00002_tools.npy"),
            &[1, 7],
            &[0.1f64, 0.2, 0.3, 0.0, 0.0, 0.6, 0.8],
        );
        let r = load_run(dir.path()).unwrap();
        assert!(r.tool_poses[0].is_empty());
        assert_eq!(r.tool_poses[1].len(), 1);
        assert_eq!(r.tool_poses[1][0].position, DVec3::new(0.1, 0.2, 0.3));
        assert_eq!(
            r.tool_poses[1][0].rotation,
            DQuat::from_xyzw(0.0, 0.0, 0.6, 0.8)
        );
        write(&npy.join("frame_00002_tools.npy"), &[1, 6], &[0.0f64; 6]);
        let e = format!("{:#}", load_run(dir.path()).unwrap_err());
        assert!(e.contains("frame_00002_tools.npy"), "{e}");
        std::fs::remove_file(npy.join("frame_00002_tools.npy")).unwrap();
        write(&npy.join("frame_00003_x.npy"), &[3, 3], &[0.0f32; 9]);
        let e = format!("{:#}", load_run(dir.path()).unwrap_err());
        assert!(
            e.contains("frame_00003_x.npy") && e.contains("[3, 3]"),
            "{e}"
        );
    }

    #[test]
    fn a_directory_without_frames_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let e = format!("{:#}", load_run(dir.path()).unwrap_err());
        assert!(e.contains("npy output"), "{e}");
    }

    #[test]
    fn loss_curve_is_read_from_the_optimisation_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("loss.csv"),
            "iteration,stage,loss,grad_norm\n0,Gradient,3.5e-2,0.7\n1,Gradient,3.5e-3,0.2\n",
        )
        .unwrap();
        let sub = dir.path().join("render_best");
        std::fs::create_dir(&sub).unwrap();
        let want = vec![[0.0, 3.5e-2], [1.0, 3.5e-3]];
        assert_eq!(load_loss_curve(dir.path()), Some(want.clone()));
        assert_eq!(load_loss_curve(&sub), Some(want));
        assert_eq!(load_loss_curve(&sub.join("none")), None);
    }
}
