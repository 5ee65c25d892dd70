// Exclusive prefix sum of `scan_in` (u32) into `scan_out`, in three passes:
// `scan_local` scans 16384-element tiles and writes tile sums, `scan_tiles`
// scans the tile sums in one workgroup, `scan_add` adds each tile's offset.
// `scan_out` has one more element than `scan_in`: its last entry is the total.

@group(0) @binding(0) var<storage, read> scan_in: array<u32>;
@group(0) @binding(1) var<storage, read_write> scan_out: array<u32>;
@group(0) @binding(2) var<storage, read_write> tile_sums: array<u32>;
@group(0) @binding(3) var<storage, read> scan_len: array<u32>; // [n]

#import common/index

// Elements per invocation, scanned serially: CPU drivers such as lavapipe run
// every workgroup barrier as a switch of all 256 invocations, so fewer, larger
// tiles make the scan cheaper there (64³ cells: 19.3 ms per scan with 4 per
// invocation, 6.5 ms with 16, 3.4 ms with 64, on llvmpipe with 2 cores).
const PER_THREAD: u32 = 64u;
const TILE: u32 = 256u * PER_THREAD;
var<workgroup> tile: array<u32, 256>;

@compute @workgroup_size(256)
fn scan_local(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let n = scan_len[0];
    let t = flat_workgroup(wid, nwg);
    let base = t * TILE + li * PER_THREAD;
    var sum = 0u;
    for (var k = 0u; k < PER_THREAD; k = k + 1u) {
        let i = base + k;
        if (i < n) {
            sum = sum + scan_in[i];
        }
    }
    tile[li] = sum;
    workgroupBarrier();
    // Hillis–Steele inclusive scan of the 256 thread sums.
    for (var off = 1u; off < 256u; off = off * 2u) {
        let add = select(0u, tile[max(li, off) - off], li >= off);
        workgroupBarrier();
        tile[li] = tile[li] + add;
        workgroupBarrier();
    }
    var run = tile[li] - sum;
    for (var k = 0u; k < PER_THREAD; k = k + 1u) {
        let i = base + k;
        if (i < n) {
            scan_out[i] = run;
            run = run + scan_in[i];
        }
    }
    if (li == 255u) {
        tile_sums[t] = tile[255];
    }
}

@compute @workgroup_size(256)
fn scan_tiles(@builtin(local_invocation_index) li: u32) {
    let n = scan_len[0];
    let tiles = (n + TILE - 1u) / TILE;
    var carry = 0u;
    for (var start = 0u; start < tiles; start = start + 256u) {
        let i = start + li;
        let x = select(0u, tile_sums[min(i, tiles - 1u)], i < tiles);
        tile[li] = x;
        workgroupBarrier();
        for (var off = 1u; off < 256u; off = off * 2u) {
            let add = select(0u, tile[max(li, off) - off], li >= off);
            workgroupBarrier();
            tile[li] = tile[li] + add;
            workgroupBarrier();
        }
        if (i < tiles) {
            tile_sums[i] = carry + tile[li] - x;
        }
        let total = tile[255];
        workgroupBarrier();
        carry = carry + total;
    }
    if (li == 0u) {
        scan_out[n] = carry;
    }
}

@compute @workgroup_size(256)
fn scan_add(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let n = scan_len[0];
    let t = flat_workgroup(wid, nwg);
    let off = tile_sums[t];
    for (var k = 0u; k < PER_THREAD; k = k + 1u) {
        let i = t * TILE + li * PER_THREAD + k;
        if (i < n) {
            scan_out[i] = scan_out[i] + off;
        }
    }
}
