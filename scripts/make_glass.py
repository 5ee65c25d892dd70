#!/usr/bin/env python3
"""Writes assets/glass.obj: an open-top drinking glass as a closed,
watertight, outward-oriented triangle mesh (metres), base centre at the
origin, axis = y. The solid is the wall and the bottom."""
import math, sys

R_OUT, R_IN, H, BOTTOM, SEG = 0.08, 0.055, 0.14, 0.025, 48

verts, tris = [], []
def ring(r, y):
    start = len(verts)
    for k in range(SEG):
        a = 2 * math.pi * k / SEG
        verts.append((r * math.cos(a), y, r * math.sin(a)))
    return start
ob = ring(R_OUT, 0.0)      # outer bottom
ot = ring(R_OUT, H)        # outer top (rim, outside)
it = ring(R_IN, H)         # inner top (rim, inside)
ib = ring(R_IN, BOTTOM)    # inner bottom
c_out = len(verts); verts.append((0.0, 0.0, 0.0))
c_in = len(verts); verts.append((0.0, BOTTOM, 0.0))
def quad(a, b, c, d):  # a b c d counter-clockwise seen from outside
    tris.append((a, b, c)); tris.append((a, c, d))
for k in range(SEG):
    n = (k + 1) % SEG
    quad(ob + k, ot + k, ot + n, ob + n)      # outer wall, normal outward
    quad(ot + k, it + k, it + n, ot + n)      # rim, normal up
    quad(it + k, ib + k, ib + n, it + n)      # inner wall, normal toward axis
    tris.append((c_out, ob + k, ob + n))      # bottom, normal down
    tris.append((c_in, ib + n, ib + k))       # inner floor, normal up

out = sys.argv[1] if len(sys.argv) > 1 else "assets/glass.obj"
with open(out, "w") as f:
    f.write("# Open-top glass: closed, watertight, outward-oriented triangle mesh (metres).\n")
    f.write(f"# Outer radius {R_OUT}, inner radius {R_IN}, height {H}, bottom thickness {BOTTOM},\n")
    f.write(f"# base centre at the origin, axis = y axis, {SEG} segments. Made by scripts/make_glass.py.\n")
    f.write(f"# {len(verts)} vertices, {len(tris)} triangles\n")
    for v in verts:
        f.write("v %.6f %.6f %.6f\n" % v)
    for t in tris:
        f.write("f %d %d %d\n" % (t[0] + 1, t[1] + 1, t[2] + 1))
