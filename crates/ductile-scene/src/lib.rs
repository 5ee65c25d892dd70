//! Ductile scene format: RON scene files, their validation with located
//! errors, and the assets they reference.
//!
//! A scene is a RON file describing the simulation domain, time stepping,
//! bodies of MPM matter, kinematic tools and output settings (see
//! [`schema`] and `docs/scene-format.md`). [`load_scene`] reads a file,
//! parses it, checks every value, and loads the meshes it references; every
//! problem is reported as a [`SceneError`] that names the file, line, column,
//! field path, offending value and what is allowed:
//!
//! ```text
//! scenes/foo.ron:12:27: bodies[1].material.youngs_modulus = -5: must be > 0 (Pa)
//! ```
//!
//! Module map: [`schema`] (the types), [`error`] (the error type),
//! [`validate`] (range checks), [`locate`] (field path → line:col),
//! [`mesh`] (OBJ meshes and signed-distance grids), [`sampling`]
//! (particles inside body shapes).

// Doc comments write units in brackets, e.g. `[m/s²]`; they are not links.
#![allow(rustdoc::broken_intra_doc_links)]

pub mod error;
pub mod locate;
pub mod mesh;
pub mod refs;
pub mod sampling;
pub mod schema;
pub mod tetmesh;
pub mod validate;

use std::path::{Path, PathBuf};

pub use error::SceneError;
pub use mesh::{signed_distance_grid, MeshError, SdfGrid, TriMesh};
pub use sampling::{body_volume_per_particle, sample_body};
pub use schema::*;

/// A tool mesh's bounding box may span at most this many `sdf_dx` per axis
/// (leaving room for padding below [`mesh::MAX_SDF_NODES_PER_AXIS`]).
pub const TOOL_SDF_MAX_CELLS_PER_AXIS: u32 = 512;
/// A tool mesh's unpadded SDF grid may have at most this many nodes.
pub const TOOL_SDF_MAX_NODES: u64 = 1 << 24;

/// A parsed, validated scene with its meshes loaded.
#[derive(Clone, Debug)]
pub struct LoadedScene {
    /// The scene.
    pub scene: Scene,
    /// The scene file (or the label given to [`load_scene_from_str`]).
    pub path: PathBuf,
    /// Directory that relative asset paths are resolved against.
    pub base_dir: PathBuf,
    /// The scene's text, for locating later errors with [`SceneError::invalid`].
    pub source: String,
    /// For each body: its mesh in world coordinates (scaled, then
    /// translated) if the shape is `Mesh`, else `None`.
    pub body_meshes: Vec<Option<TriMesh>>,
    /// For each tool: its mesh in the tool's frame (scaled) if the shape is
    /// `Mesh`, else `None`.
    pub tool_meshes: Vec<Option<TriMesh>>,
    /// For each FEM body: its tetrahedral mesh in world coordinates when it
    /// is read from a file (`TetGen`, `Gmsh`), else `None`.
    pub fem_meshes: Vec<Option<tetmesh::TetMesh>>,
}

impl LoadedScene {
    /// The label used for this scene in error messages.
    pub fn file_label(&self) -> String {
        self.path.display().to_string()
    }

    /// Resolves an asset path from the scene against [`Self::base_dir`].
    pub fn resolve(&self, rel: &str) -> PathBuf {
        self.base_dir.join(rel)
    }

    /// Particle positions [m] filling body `index` (see [`sampling`]), using
    /// the already-loaded mesh for mesh bodies, in the order the simulation
    /// stores them: by the base cell of their stencil on this scene's grid
    /// ([`sampling::order_by_stencil_cell`]).
    pub fn sample_body(&self, index: usize) -> Result<Vec<[f64; 3]>, SceneError> {
        let (body, mesh) = self.body_and_mesh(index)?;
        let mut pts = sampling::sample_body_with_mesh(body, self.scene.domain.dx, mesh)?;
        sampling::order_by_stencil_cell(&mut pts, self.scene.domain.origin, self.scene.domain.dx);
        Ok(pts)
    }

    /// The number of particles [`Self::sample_body`] gives body `index`,
    /// counted without storing them.
    pub fn count_body(&self, index: usize) -> Result<u64, SceneError> {
        let (body, mesh) = self.body_and_mesh(index)?;
        sampling::count_body_with_mesh(body, self.scene.domain.dx, mesh)
    }

    /// Body `index` and its loaded mesh (mesh bodies only).
    fn body_and_mesh(&self, index: usize) -> Result<(&Body, Option<&TriMesh>), SceneError> {
        let body = self
            .scene
            .bodies
            .get(index)
            .ok_or_else(|| SceneError::Sampling {
                body: format!("#{index}"),
                message: format!("no such body (the scene has {})", self.scene.bodies.len()),
            })?;
        Ok((body, self.body_meshes.get(index).and_then(Option::as_ref)))
    }

    /// The signed-distance grid of mesh tool `index` at its `sdf_dx`, with
    /// `padding_cells` cells of margin around the mesh. `Ok(None)` if the
    /// tool is not a mesh.
    pub fn tool_sdf(
        &self,
        index: usize,
        padding_cells: u32,
    ) -> Result<Option<SdfGrid>, SceneError> {
        let (Some(tool), Some(Some(mesh))) =
            (self.scene.tools.get(index), self.tool_meshes.get(index))
        else {
            return Ok(None);
        };
        let ToolShape::Mesh { path, sdf_dx, .. } = &tool.shape else {
            return Ok(None);
        };
        mesh::try_signed_distance_grid(mesh, *sdf_dx, padding_cells)
            .map(Some)
            .map_err(|e| {
                mesh_error(
                    &self.source,
                    &self.file_label(),
                    format!("tools[{index}].shape.sdf_dx"),
                    self.resolve(path),
                    e.to_string(),
                )
            })
    }
}

/// Parses and validates scene text. `file_label` names the text in error
/// messages (usually its path). Meshes are not loaded.
pub fn parse_scene_str(src: &str, file_label: &str) -> Result<Scene, SceneError> {
    // Body and tool references may be names: read the names first.
    let scene: Scene = refs::with_names(refs::probe_names(src), || {
        ron::Options::default().from_str(src)
    })
    .map_err(|e| SceneError::from_ron(src, file_label, &e))?;
    validate::validate_scene(&scene, src, file_label)?;
    let mut scene = scene;
    scene.expand_grippers();
    Ok(scene)
}

/// Reads, parses and validates the scene file at `path`, and loads the
/// meshes it references (relative to the file's directory).
pub fn load_scene(path: &Path) -> Result<LoadedScene, SceneError> {
    let label = path.display().to_string();
    let src = std::fs::read_to_string(path).map_err(|source| SceneError::Io {
        file: label.clone(),
        source,
    })?;
    let base_dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    load_scene_from_str(&src, &label, &base_dir)
}

/// Like [`load_scene`] for text already in memory: parses and validates
/// `src`, then loads meshes relative to `base_dir`.
pub fn load_scene_from_str(
    src: &str,
    file_label: &str,
    base_dir: &Path,
) -> Result<LoadedScene, SceneError> {
    let scene = parse_scene_str(src, file_label)?;
    let invalid = |path: String, value: String, allowed: String| {
        SceneError::invalid(src, file_label, path, value, allowed)
    };
    let (lo, hi) = validate::domain_bounds(&scene.domain);
    let tol = 1e-9 * (1.0 + (0..3).map(|k| hi[k] - lo[k]).fold(0.0, f64::max));

    let mut body_meshes = Vec::with_capacity(scene.bodies.len());
    for (i, body) in scene.bodies.iter().enumerate() {
        let BodyShape::Mesh {
            path,
            scale,
            translation,
        } = &body.shape
        else {
            body_meshes.push(None);
            continue;
        };
        let file = base_dir.join(path);
        let mesh = TriMesh::load_obj(&file)
            .map_err(|e| {
                mesh_error(
                    src,
                    file_label,
                    format!("bodies[{i}].shape.path"),
                    file.clone(),
                    e.to_string(),
                )
            })?
            .scaled(*scale)
            .translated(*translation);
        let (mlo, mhi) = mesh.aabb();
        if (0..3).any(|k| mlo[k] < lo[k] - tol || mhi[k] > hi[k] + tol) {
            return Err(invalid(
                format!("bodies[{i}].shape"),
                format!(
                    "mesh spanning [{}, {}]",
                    validate::fmt_vec3(mlo),
                    validate::fmt_vec3(mhi)
                ),
                format!(
                    "inside the domain [{}, {}] (m); adjust scale or translation",
                    validate::fmt_vec3(lo),
                    validate::fmt_vec3(hi)
                ),
            ));
        }
        if let Some(v) = validate::particle_count_violation(
            &format!("bodies[{i}].shape"),
            mesh.signed_volume().abs(),
            scene.domain.dx,
            body.particles_per_cell,
        ) {
            return Err(v.into_error(src, file_label));
        }
        body_meshes.push(Some(mesh));
    }

    let mut tool_meshes = Vec::with_capacity(scene.tools.len());
    for (i, tool) in scene.tools.iter().enumerate() {
        let ToolShape::Mesh {
            path,
            scale,
            sdf_dx,
        } = &tool.shape
        else {
            tool_meshes.push(None);
            continue;
        };
        let file = base_dir.join(path);
        let mesh = TriMesh::load_obj(&file)
            .map_err(|e| {
                mesh_error(
                    src,
                    file_label,
                    format!("tools[{i}].shape.path"),
                    file.clone(),
                    e.to_string(),
                )
            })?
            .scaled(*scale);
        let dims = mesh::sdf_grid_dims(&mesh, *sdf_dx, 0);
        let fits = dims.is_some_and(|d| {
            d.iter().all(|&n| n <= TOOL_SDF_MAX_CELLS_PER_AXIS + 1)
                && d.iter().map(|&n| u64::from(n)).product::<u64>() <= TOOL_SDF_MAX_NODES
        });
        if !fits {
            let (mlo, mhi) = mesh.aabb();
            let extent = (0..3).map(|k| mhi[k] - mlo[k]).fold(0.0, f64::max);
            return Err(invalid(
                format!("tools[{i}].shape.sdf_dx"),
                validate::fmt_f64(*sdf_dx),
                format!(
                    ">= {} (m) so the SDF grid has at most {TOOL_SDF_MAX_CELLS_PER_AXIS} cells \
                     per axis and {TOOL_SDF_MAX_NODES} nodes (the mesh spans {} m)",
                    validate::fmt_f64(extent / f64::from(TOOL_SDF_MAX_CELLS_PER_AXIS)),
                    validate::fmt_f64(extent)
                ),
            ));
        }
        tool_meshes.push(Some(mesh));
    }

    // FEM bodies' tetrahedral meshes read from files, checked to lie inside the domain.
    let mut fem_meshes = Vec::with_capacity(scene.fem.len());
    for (i, b) in scene.fem.iter().enumerate() {
        let (read, path, scale, translation): (MeshReader, _, _, _) = match &b.mesh {
            FemMesh::Box { .. } | FemMesh::Pad { .. } | FemMesh::Dome { .. } => {
                fem_meshes.push(None);
                continue;
            }
            FemMesh::TetGen {
                path,
                scale,
                translation,
            } => (tetmesh::load_tetgen, path, *scale, *translation),
            FemMesh::Gmsh {
                path,
                scale,
                translation,
            } => (tetmesh::load_gmsh, path, *scale, *translation),
        };
        let file = base_dir.join(path);
        let mesh = read(&file)
            .map_err(|e| {
                mesh_error(
                    src,
                    file_label,
                    format!("fem[{i}].mesh.path"),
                    file.clone(),
                    e,
                )
            })?
            .transformed(scale, translation);
        let (mlo, mhi) = mesh.aabb();
        if (0..3).any(|k| mlo[k] < lo[k] - tol || mhi[k] > hi[k] + tol) {
            return Err(mesh_error(
                src,
                file_label,
                format!("fem[{i}].mesh.path"),
                file,
                format!(
                    "the mesh spans {} .. {} m after scale and translation, outside the domain {} .. {}",
                    validate::fmt_vec3(mlo),
                    validate::fmt_vec3(mhi),
                    validate::fmt_vec3(lo),
                    validate::fmt_vec3(hi)
                ),
            ));
        }
        fem_meshes.push(Some(mesh));
    }

    Ok(LoadedScene {
        scene,
        path: PathBuf::from(file_label),
        base_dir: base_dir.to_path_buf(),
        source: src.to_string(),
        body_meshes,
        tool_meshes,
        fem_meshes,
    })
}

/// A reader of a tetrahedral mesh file.
type MeshReader = fn(&Path) -> Result<tetmesh::TetMesh, String>;

/// A [`SceneError::Mesh`] located at field `path` of the scene text.
fn mesh_error(
    src: &str,
    file: &str,
    path: String,
    mesh_file: PathBuf,
    message: String,
) -> SceneError {
    let at = locate::locate(src, &path).pos;
    SceneError::Mesh {
        file: file.to_string(),
        line: at.line,
        col: at.col,
        path,
        mesh_file,
        message,
    }
}
