#!/usr/bin/env python3
"""Writes the task meshes in assets/ as closed, watertight, outward-oriented
triangle meshes (metres):
  glass.obj  an open-top drinking glass, base centre at the origin, axis y;
             the solid is the wall and the bottom (scenes/pouring.ron);
  cone.obj   a solid ice-cream cone, apex at the origin, flat top up
             (scenes/ice_cream.ron).
Run from the repository root: python3 scripts/make_assets.py"""
import math

SEG = 48


def ring(verts, r, y):
    start = len(verts)
    for k in range(SEG):
        a = 2 * math.pi * k / SEG
        verts.append((r * math.cos(a), y, r * math.sin(a)))
    return start


def write(path, header, verts, tris):
    with open(path, "w") as f:
        for line in header:
            f.write("# " + line + "\n")
        f.write(f"# {len(verts)} vertices, {len(tris)} triangles. Made by scripts/make_assets.py.\n")
        for v in verts:
            f.write("v %.6f %.6f %.6f\n" % v)
        for t in tris:
            f.write("f %d %d %d\n" % (t[0] + 1, t[1] + 1, t[2] + 1))


def glass(path, r_out=0.08, r_in=0.055, h=0.14, bottom=0.025):
    verts, tris = [], []
    ob, ot = ring(verts, r_out, 0.0), ring(verts, r_out, h)
    it, ib = ring(verts, r_in, h), ring(verts, r_in, bottom)
    c_out = len(verts)
    verts.append((0.0, 0.0, 0.0))
    c_in = len(verts)
    verts.append((0.0, bottom, 0.0))

    def quad(a, b, c, d):  # counter-clockwise seen from outside the solid
        tris.extend([(a, b, c), (a, c, d)])

    for k in range(SEG):
        n = (k + 1) % SEG
        quad(ob + k, ot + k, ot + n, ob + n)  # outer wall
        quad(ot + k, it + k, it + n, ot + n)  # rim
        quad(it + k, ib + k, ib + n, it + n)  # inner wall
        tris.append((c_out, ob + k, ob + n))  # bottom
        tris.append((c_in, ib + n, ib + k))  # inner floor
    write(path, ["Open-top glass: closed, watertight, outward-oriented triangle mesh (metres).",
                 f"Outer radius {r_out}, inner radius {r_in}, height {h}, bottom thickness {bottom},",
                 "base centre at the origin, axis = y axis. The solid is the wall and the bottom."],
          verts, tris)


def cone(path, r=0.04, h=0.1):
    verts, tris = [(0.0, 0.0, 0.0)], []
    top = ring(verts, r, h)
    c_top = len(verts)
    verts.append((0.0, h, 0.0))
    for k in range(SEG):
        n = (k + 1) % SEG
        tris.append((0, top + k, top + n))  # side, facing outward and down
        tris.append((c_top, top + n, top + k))  # flat top, facing up
    write(path, ["Solid ice-cream cone: closed, watertight, outward-oriented triangle mesh (metres).",
                 f"Top radius {r}, height {h}, apex at the origin, axis = y axis, flat top up."],
          verts, tris)


glass("assets/glass.obj")
cone("assets/cone.obj")
