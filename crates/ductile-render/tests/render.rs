//! Renders small scenes on the default adapter (lavapipe in CI) and checks pixels.

use ductile_gpu::GpuContext;
use ductile_render::{shapes, Camera, ColorMode, MeshInstance, ParticleView, Renderer};
use glam::Vec3;
use image::{Rgba, RgbaImage};
use wgpu::util::DeviceExt;

fn ctx() -> GpuContext {
    GpuContext::from_env().expect("a Vulkan adapter (lavapipe) is needed for render tests")
}

/// Saves `img` under `$DUCTILE_RENDER_TEST_OUT` when set, for eyeballing.
fn save(img: &RgbaImage, name: &str) {
    if let Ok(dir) = std::env::var("DUCTILE_RENDER_TEST_OUT") {
        img.save(std::path::Path::new(&dir).join(format!("{name}.png")))
            .unwrap();
    }
}

fn camera(width: u32, height: u32) -> Camera {
    Camera::framing(Vec3::splat(-0.5), Vec3::splat(0.5), width, height)
}

fn particle_buffer(ctx: &GpuContext, points: &[[f32; 4]]) -> wgpu::Buffer {
    ctx.device
        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("test particles"),
            contents: bytemuck::cast_slice(points),
            usage: wgpu::BufferUsages::STORAGE,
        })
}

/// A 10x10x10 lattice filling the cube of half side `half` at the origin, all with colour value `c`.
fn lattice(half: f32, c: f32) -> Vec<[f32; 4]> {
    let mut out = Vec::with_capacity(1000);
    for i in 0..1000 {
        let f = |k: u32| -half + 2.0 * half * (k as f32 + 0.5) / 10.0;
        out.push([f(i % 10), f(i / 10 % 10), f(i / 100), c]);
    }
    out
}

fn view(buffer: &wgpu::Buffer, count: u32, radius: f32, color_mode: ColorMode) -> ParticleView<'_> {
    ParticleView {
        buffer,
        count,
        radius,
        stride: 1,
        color_mode,
        palette: Vec::new(),
    }
}

fn corners(img: &RgbaImage) -> [Rgba<u8>; 4] {
    let (w, h) = img.dimensions();
    [(0, 0), (w - 1, 0), (0, h - 1), (w - 1, h - 1)].map(|(x, y)| *img.get_pixel(x, y))
}

fn centre(img: &RgbaImage) -> Rgba<u8> {
    *img.get_pixel(img.width() / 2, img.height() / 2)
}

#[test]
fn particles_cover_the_centre_and_leave_the_corners() {
    let ctx = ctx();
    let cam = camera(160, 120);
    let mut r = Renderer::new(&ctx.device, 160, 120);
    let background = r.render(&ctx.device, &ctx.queue, &[], &[], &cam).unwrap();
    let points = lattice(0.1, 0.0);
    let buf = particle_buffer(&ctx, &points);
    let views = [view(&buf, 1000, 0.012, ColorMode::Categorical)];
    let img = r
        .render(&ctx.device, &ctx.queue, &views, &[], &cam)
        .unwrap();
    save(&img, "particles");
    assert_ne!(centre(&img), centre(&background));
    assert_eq!(corners(&img), corners(&background));
    // The gradient runs from darker (top) to lighter (bottom) and is opaque.
    let [top, _, bottom, _] = corners(&background);
    assert!(top[2] < bottom[2] && top[3] == 255, "{top:?} {bottom:?}");
}

/// Level of detail: drawing one particle in 8 of a lattice with twice the
/// radius (∛8) draws a different picture over about the same area, and
/// leaves the corners alone; stride 1 is the full picture. At stride 10,
/// the lattice's row length, the picture still covers the cube.
#[test]
fn stride_draws_fewer_larger_particles_over_the_same_area() {
    let ctx = ctx();
    let cam = camera(160, 120);
    let mut r = Renderer::new(&ctx.device, 160, 120);
    let background = r.render(&ctx.device, &ctx.queue, &[], &[], &cam).unwrap();
    let points = lattice(0.2, 0.0);
    let buf = particle_buffer(&ctx, &points);
    let mut render = |stride: u32| {
        let mut v = view(&buf, 1000, 0.02, ColorMode::Categorical);
        v.stride = stride;
        r.render(&ctx.device, &ctx.queue, &[v], &[], &cam).unwrap()
    };
    let (full, coarse) = (render(1), render(8));
    save(&coarse, "particles_stride8");
    let covered = |img: &RgbaImage| {
        img.enumerate_pixels()
            .filter(|(x, y, p)| *p != background.get_pixel(*x, *y))
            .count() as f64
    };
    let (a, b) = (covered(&full), covered(&coarse));
    assert!(a > 1000.0, "{a} pixels drawn");
    assert!(
        (b / a - 1.0).abs() < 0.25,
        "stride 8 covers {b} pixels, stride 1 {a}"
    );
    let differing = full
        .pixels()
        .zip(coarse.pixels())
        .filter(|(p, q)| p != q)
        .count();
    assert!(differing > 100, "only {differing} pixels differ");
    assert_eq!(corners(&coarse), corners(&background));
    // Stride 10 on a lattice stored x fastest, 10 to a row: every 10th
    // particle would be the same column of x, one slab of the cube; the hashed
    // pick within each block of 10 spreads the drawn particles over the cube.
    let striped = render(10);
    save(&striped, "particles_stride10");
    let c = covered(&striped);
    assert!(
        (c / a - 1.0).abs() < 0.25,
        "stride 10 covers {c} pixels, stride 1 {a}"
    );
}

#[test]
fn box_mesh_covers_its_projection_only() {
    let ctx = ctx();
    let cam = camera(128, 96);
    let mut r = Renderer::new(&ctx.device, 128, 96);
    let background = r.render(&ctx.device, &ctx.queue, &[], &[], &cam).unwrap();
    let (positions, indices) = shapes::box_mesh([0.2, 0.2, 0.2]);
    let mesh = MeshInstance {
        positions,
        indices,
        color: [0.8, 0.3, 0.2, 1.0],
    };
    let img = r
        .render(
            &ctx.device,
            &ctx.queue,
            &[],
            std::slice::from_ref(&mesh),
            &cam,
        )
        .unwrap();
    save(&img, "box");
    // Pixel bounds of the projected corners.
    let m = cam.view_proj();
    let (mut lo, mut hi) = (Vec3::splat(f32::MAX), Vec3::splat(f32::MIN));
    for p in &mesh.positions {
        let ndc = m.project_point3(Vec3::from(*p));
        let px = Vec3::new((ndc.x + 1.0) * 0.5 * 128.0, (1.0 - ndc.y) * 0.5 * 96.0, 0.0);
        lo = lo.min(px);
        hi = hi.max(px);
    }
    let mut inside = 0;
    for (x, y, p) in img.enumerate_pixels() {
        let (fx, fy) = (x as f32 + 0.5, y as f32 + 0.5);
        let out = fx < lo.x - 1.0 || fx > hi.x + 1.0 || fy < lo.y - 1.0 || fy > hi.y + 1.0;
        if out {
            assert_eq!(
                p,
                background.get_pixel(x, y),
                "pixel ({x}, {y}) outside the box changed"
            );
        } else if p != background.get_pixel(x, y) {
            inside += 1;
        }
    }
    let area = (hi.x - lo.x) * (hi.y - lo.y);
    assert!(
        inside as f32 > 0.5 * area,
        "{inside} of {area} pixels drawn"
    );
    assert!(
        centre(&img)[0] > centre(&img)[2],
        "lit box keeps its reddish colour"
    );
}

#[test]
fn scalar_mode_maps_zero_to_blue_and_one_to_red() {
    let ctx = ctx();
    let cam = camera(96, 96);
    let mut r = Renderer::new(&ctx.device, 96, 96);
    let mut colour = |c: f32| {
        let buf = particle_buffer(&ctx, &lattice(0.15, c));
        let img = r
            .render(
                &ctx.device,
                &ctx.queue,
                &[view(&buf, 1000, 0.02, ColorMode::Scalar)],
                &[],
                &cam,
            )
            .unwrap();
        centre(&img)
    };
    let (low, high) = (colour(0.0), colour(1.0));
    assert!(low[2] > low[0] + 40, "c = 0 is blue: {low:?}");
    assert!(high[0] > high[2] + 40, "c = 1 is red: {high:?}");
}

#[test]
fn output_matches_camera_size_and_follows_resizes() {
    let ctx = ctx();
    let mut r = Renderer::new(&ctx.device, 64, 64);
    for (w, h) in [(203, 97), (64, 64), (1, 1)] {
        let img = r
            .render(&ctx.device, &ctx.queue, &[], &[], &camera(w, h))
            .unwrap();
        assert_eq!(img.dimensions(), (w, h));
        assert_eq!(r.size(), (w, h));
    }
    assert!(r
        .render(&ctx.device, &ctx.queue, &[], &[], &camera(0, 10))
        .is_err());
}

#[test]
fn depth_orders_particles_and_meshes() {
    let ctx = ctx();
    let cam = camera(64, 64);
    let mut r = Renderer::new(&ctx.device, 64, 64);
    let buf = particle_buffer(&ctx, &[[0.0, 0.0, 0.0, 0.0]]);
    let mut sphere = view(&buf, 1, 0.1, ColorMode::Categorical);
    sphere.palette = vec![[1.0, 0.0, 0.0]];
    let green_box = |half: f32| {
        let (positions, indices) = shapes::box_mesh([half; 3]);
        MeshInstance {
            positions,
            indices,
            color: [0.0, 1.0, 0.0, 1.0],
        }
    };
    // A small box inside the sphere is hidden; a large box around it hides the sphere.
    let img = r
        .render(
            &ctx.device,
            &ctx.queue,
            std::slice::from_ref(&sphere),
            &[green_box(0.05)],
            &cam,
        )
        .unwrap();
    assert!(
        centre(&img)[0] > 60 && centre(&img)[1] == 0,
        "{:?}",
        centre(&img)
    );
    let img = r
        .render(
            &ctx.device,
            &ctx.queue,
            std::slice::from_ref(&sphere),
            &[green_box(0.2)],
            &cam,
        )
        .unwrap();
    assert!(
        centre(&img)[1] > 60 && centre(&img)[0] == 0,
        "{:?}",
        centre(&img)
    );
    // A transparent box lets the sphere show through, tinted.
    let mut glass = green_box(0.2);
    glass.color[3] = 0.5;
    let img = r
        .render(
            &ctx.device,
            &ctx.queue,
            std::slice::from_ref(&sphere),
            &[glass],
            &cam,
        )
        .unwrap();
    let c = centre(&img);
    assert!(c[0] > 30 && c[1] > 30 && c[3] == 255, "{c:?}");
}

#[test]
fn a_million_particles() {
    let ctx = ctx();
    let n = 1_000_000u32;
    let points: Vec<[f32; 4]> = (0..n)
        .map(|i| {
            let f = |k: u32| -0.4 + 0.8 * (k as f32 + 0.5) / 100.0;
            [
                f(i % 100),
                f(i / 100 % 100),
                f(i / 10_000),
                (i / 10_000) as f32 / 99.0,
            ]
        })
        .collect();
    let buf = particle_buffer(&ctx, &points);
    let cam = camera(256, 192);
    let mut r = Renderer::new(&ctx.device, 256, 192);
    let t = std::time::Instant::now();
    let img = r
        .render(
            &ctx.device,
            &ctx.queue,
            &[view(&buf, n, 0.004, ColorMode::Scalar)],
            &[],
            &cam,
        )
        .unwrap();
    eprintln!(
        "1M particles at 256x192: {:.2} s",
        t.elapsed().as_secs_f32()
    );
    save(&img, "million");
    let background = r.render(&ctx.device, &ctx.queue, &[], &[], &cam).unwrap();
    assert_ne!(centre(&img), centre(&background));
}

/// A deforming mesh drawn from GPU buffers (as a solver's surface is): a
/// red square facing the camera covers the centre in red and leaves the
/// corners to the background; moving its vertices in the buffer, with no
/// other change, moves what is drawn; and a view asking for more triangles
/// than its index buffer holds is refused.
#[test]
fn gpu_meshes_draw_from_storage_buffers() {
    use ductile_render::{Frame, GpuMeshView, RenderError};
    let ctx = ctx();
    let cam = camera(160, 120);
    let mut r = Renderer::new(&ctx.device, 160, 120);
    let background = r.render(&ctx.device, &ctx.queue, &[], &[], &cam).unwrap();
    // A square of half side 0.15 through the origin, normal towards the camera.
    let n = (cam.eye - cam.target).normalize();
    let u = n.cross(Vec3::Y).normalize();
    let v = u.cross(n);
    let corner = |a: f32, b: f32| {
        let p = (u * a + v * b) * 0.15;
        [p.x, p.y, p.z, 0.0]
    };
    let square = [
        corner(-1.0, -1.0),
        corner(1.0, -1.0),
        corner(1.0, 1.0),
        corner(-1.0, 1.0),
    ];
    let vertices = ctx
        .device
        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("test GPU mesh vertices"),
            contents: bytemuck::cast_slice(&square),
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
        });
    let indices = ctx
        .device
        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("test GPU mesh indices"),
            contents: bytemuck::cast_slice(&[0u32, 1, 2, 0, 2, 3]),
            usage: wgpu::BufferUsages::STORAGE,
        });
    let mut draw = |triangles: u32| {
        let mesh = [GpuMeshView {
            vertices: &vertices,
            indices: &indices,
            triangles,
            color: [0.9, 0.1, 0.1, 1.0],
            color_mode: ColorMode::Categorical,
        }];
        let frame = Frame {
            gpu_meshes: &mesh,
            ..Default::default()
        };
        r.render_frame(&ctx.device, &ctx.queue, &frame, &cam)
    };
    let img = draw(2).unwrap();
    save(&img, "gpu_mesh");
    let is_red = |p: &Rgba<u8>| {
        u32::from(p[0]) > 2 * u32::from(p[1]) && u32::from(p[0]) > 2 * u32::from(p[2])
    };
    let c = centre(&img);
    assert!(is_red(&c), "centre {c:?} is not red");
    assert_eq!(corners(&img), corners(&background));
    // Move the square to the right in the buffer only.
    let shifted: Vec<[f32; 4]> = square
        .iter()
        .map(|p| {
            let q = Vec3::new(p[0], p[1], p[2]) + u * 0.3;
            [q.x, q.y, q.z, 0.0]
        })
        .collect();
    ctx.queue
        .write_buffer(&vertices, 0, bytemuck::cast_slice(&shifted));
    let moved = draw(2).unwrap();
    assert_eq!(
        centre(&moved),
        centre(&background),
        "the square left the centre"
    );
    let red = |img: &RgbaImage| img.pixels().filter(|p| is_red(p)).count();
    assert!(
        red(&moved) > 100,
        "{} red pixels after the move",
        red(&moved)
    );
    assert!(matches!(
        draw(3),
        Err(RenderError::GpuMeshBuffer {
            triangles: 3,
            capacity: 2
        })
    ));
}

/// Tubes drawn from GPU buffers (as a rod's centreline is): a horizontal
/// segment through the origin, 3 cm in radius, covers the centre in its
/// colour over a band a few pixels thick (the tube's width at this camera),
/// leaves the corners to the background; a view asking for more segments
/// than its buffer holds is refused.
#[test]
fn tubes_draw_from_storage_buffers() {
    use ductile_render::{Frame, GpuTubeView, RenderError};
    let ctx = ctx();
    let cam = camera(160, 120);
    let mut r = Renderer::new(&ctx.device, 160, 120);
    let background = r.render(&ctx.device, &ctx.queue, &[], &[], &cam).unwrap();
    let n = (cam.eye - cam.target).normalize();
    let u = n.cross(Vec3::Y).normalize();
    let end = |s: f32| {
        let p = u * 0.25 * s;
        [p.x, p.y, p.z, 0.03]
    };
    let vertices = ctx
        .device
        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("test tube vertices"),
            contents: bytemuck::cast_slice(&[end(-1.0), end(1.0)]),
            usage: wgpu::BufferUsages::STORAGE,
        });
    let segments = ctx
        .device
        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("test tube segments"),
            contents: bytemuck::cast_slice(&[0u32, 1]),
            usage: wgpu::BufferUsages::STORAGE,
        });
    let mut draw = |count: u32| {
        let tubes = [GpuTubeView {
            vertices: &vertices,
            segments: &segments,
            count,
            color: [0.1, 0.2, 0.9, 1.0],
        }];
        let frame = Frame {
            tubes: &tubes,
            ..Default::default()
        };
        r.render_frame(&ctx.device, &ctx.queue, &frame, &cam)
    };
    let img = draw(1).unwrap();
    save(&img, "tube");
    let c = centre(&img);
    assert!(
        u32::from(c[2]) > 2 * u32::from(c[0]),
        "centre {c:?} is not blue"
    );
    assert_eq!(corners(&img), corners(&background));
    // Across the tube (vertical in the image), the blue band is the tube's width.
    let x = img.width() / 2;
    let blue: Vec<u32> = (0..img.height())
        .filter(|&y| {
            let p = img.get_pixel(x, y);
            u32::from(p[2]) > 2 * u32::from(p[0])
        })
        .collect();
    assert!(
        blue.len() >= 3 && blue.len() < 40,
        "{} blue rows",
        blue.len()
    );
    assert!(matches!(
        draw(2),
        Err(RenderError::GpuTubeBuffer {
            count: 2,
            capacity: 1
        })
    ));
}
