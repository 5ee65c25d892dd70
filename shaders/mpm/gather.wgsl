// Per-node gather over particles binned by cell (`mpm/bin*.wgsl`): the sums
// Σ_p w_ip m_p and Σ_p w_ip (q_p + A_p·(x_i − x_p)) over the particles whose
// stencils reach node i, in a fixed order. The payload holds 16 Reals per
// particle in binned order: x [m], m, q (3), A (9, column-major). P2G gathers
// mass and momentum with it (`mpm/p2g.wgsl`); the G2P adjoint gathers
// ∂L/∂v_i from ∂L/∂v_p and ∂L/∂B_p (`mpm/grid_adj.wgsl`).
// The importer binds `params`, `cell_start` and `payload`.

#import common/bspline

// (Σ w (q + A·dpos), Σ w m) at `node`.
fn gather_node(node: vec3<u32>) -> vec4r {
    let cells = vec3<i32>(p_cells());
    let nf = vec3r(node);
    let inv_dx = p_inv_dx();
    let dx = p_dx();
    let origin = p_origin();
    var mass: Real = 0.0;
    var mom = vec3r(0.0);
    let ni = vec3<i32>(node);
    let x_lo = clamp(ni.x - 2, 0, cells.x - 1);
    let x_hi = clamp(ni.x, 0, cells.x - 1);
    for (var dz = 0; dz < 3; dz = dz + 1) {
        let cz = ni.z - dz;
        if (cz < 0 || cz >= cells.z) {
            continue;
        }
        for (var dy = 0; dy < 3; dy = dy + 1) {
            let cy = ni.y - dy;
            if (cy < 0 || cy >= cells.y) {
                continue;
            }
            // The three cells of this row are contiguous in binned order.
            let row = u32(cells.x * (cy + cells.y * cz));
            let s0 = cell_start[row + u32(x_lo)];
            let s1 = cell_start[row + u32(x_hi) + 1u];
            for (var s = s0; s < s1; s = s + 1u) {
                let o = 16u * s;
                let xg = (vec3r(payload[o], payload[o + 1u], payload[o + 2u]) - origin) * inv_dx;
                let w = bspline_node_weight(xg, nf);
                let dpos = (nf - xg) * dx;
                let a = mat3r(
                    payload[o + 7u], payload[o + 8u], payload[o + 9u],
                    payload[o + 10u], payload[o + 11u], payload[o + 12u],
                    payload[o + 13u], payload[o + 14u], payload[o + 15u],
                );
                mass = mass + w * payload[o + 3u];
                mom = mom + w * (vec3r(payload[o + 4u], payload[o + 5u], payload[o + 6u]) + a * dpos);
            }
        }
    }
    return vec4r(mom, mass);
}
