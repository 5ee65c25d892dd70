// Adjoints of MPM's boundary conditions in `mpm/contact.wgsl`: the walls
// here, the tools in `common/tools_adj.wgsl`.

#import mpm/contact
#import common/tools_adj

// Adjoint of `wall_op(node, k, v)`.
fn wall_op_vjp(node: vec3<u32>, k: u32, v: vec3r, gbar: vec3r) -> vec3r {
    let wn = wall_normal(node, k);
    if (wn.w == 0.0) {
        return gbar;
    }
    let n = wn.xyz;
    let kind = p_boundary_kind();
    if (kind == 2u) {
        return vec3r(0.0);
    }
    if (kind == 1u) {
        return gbar - dot(gbar, n) * n;
    }
    return coulomb_vjp(v, n, p_wall_friction(), gbar).rel;
}
