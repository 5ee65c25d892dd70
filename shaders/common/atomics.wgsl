// Concurrent float accumulation into `accum: array<...>` (binding declared by
// the importing module as `accum_buf`). With FLOAT_ATOMICS the buffer holds
// `atomic<f32>` and adds are native; otherwise it holds `atomic<u32>` with the
// float's bits and adds are a compare-and-swap loop. Both store f32 values,
// so the host reads the same layout either way.

#if FLOAT_ATOMICS
fn accum_add(i: u32, value: f32) {
    atomicAdd(&accum_buf[i], value);
}
#else
fn accum_add(i: u32, value: f32) {
    var old = atomicLoad(&accum_buf[i]);
    loop {
        let desired = bitcast<u32>(bitcast<f32>(old) + value);
        let r = atomicCompareExchangeWeak(&accum_buf[i], old, desired);
        if (r.exchanged) {
            break;
        }
        old = r.old_value;
    }
}
#endif
