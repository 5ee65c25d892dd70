//! The tape's memory plan: how often to checkpoint (uniform schedule) or
//! how many snapshots to keep (binomial, Griewank's Revolve), decided from
//! the stored-state, replay-cache and fixed adjoint sizes before anything is
//! allocated, and refused with the minimum when a budget cannot hold it.

use crate::error::SimError;

/// How the backward pass trades memory for recomputation.
#[derive(Clone, Debug, Default)]
pub struct TapeOptions {
    /// Bytes the tape may use in all (checkpoints, segment states and adjoint buffers).
    /// `None`: K = ⌈√T⌉.
    pub memory_budget_bytes: Option<u64>,
    /// Force the checkpoint interval K (overrides the budget).
    pub checkpoint_every: Option<usize>,
    /// Bytes of checkpoints kept on the GPU; the rest spill to host memory.
    /// `None`: 2 GiB.
    pub gpu_checkpoint_bytes: Option<u64>,
    /// Checkpoint schedule.
    pub schedule: Schedule,
    /// Binomial schedule only: snapshot slots (default: from the budget, else ⌈log₂T⌉ + 1).
    pub snapshots: Option<usize>,
}

/// How the backward pass places checkpoints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Schedule {
    /// A checkpoint every K substeps; each segment is replayed once
    /// (T extra substeps, memory ∝ T/K + K).
    #[default]
    Uniform,
    /// Binomial checkpointing (Griewank's Revolve): s snapshot slots reverse
    /// T ≤ C(s + r, s) substeps with about r·T extra substeps; for very long
    /// horizons in little memory.
    Binomial,
}

/// C(s + r, s): substeps that `s` snapshots reverse with `r` repetitions.
pub fn binomial_capacity(s: usize, r: usize) -> u128 {
    let mut c: u128 = 1;
    for i in 1..=s as u128 {
        c = c * (r as u128 + i) / i;
        if c > u64::MAX as u128 {
            return c;
        }
    }
    c
}

/// Binomial split of `[a, b)` with `s` free snapshots: the first substep to
/// store, such that `[a, m)` is reversed with s snapshots and `[m, b)` with s − 1.
pub(crate) fn binomial_split(a: usize, b: usize, s: usize) -> usize {
    let n = b - a;
    let mut r = 0;
    while binomial_capacity(s, r) < n as u128 {
        r += 1;
    }
    let right = binomial_capacity(s - 1, r).min(n as u128 - 1) as usize;
    let left_max = if r == 0 {
        1
    } else {
        binomial_capacity(s, r - 1).min(n as u128) as usize
    };
    (b - right).clamp(a + 1, a + left_max.max(1))
}

/// Forward substeps a binomial reversal of `n` substeps with `s` snapshots replays.
fn binomial_replays(n: usize, s: usize) -> usize {
    if n <= 1 {
        return 0;
    }
    if s == 0 {
        // Replay from the start for each substep.
        return n * (n - 1) / 2;
    }
    let m = binomial_split(0, n, s);
    m + binomial_replays(n - m, s - 1) + binomial_replays(m, s)
}

/// What a backward pass will allocate, decided before anything is allocated.
#[derive(Clone, Debug, PartialEq)]
pub struct MemoryPlan {
    /// The schedule.
    pub schedule: Schedule,
    /// Substeps T.
    pub steps: usize,
    /// Forward substeps the backward pass replays.
    pub replayed_substeps: usize,
    /// Checkpoint interval K.
    pub checkpoint_every: usize,
    /// Checkpoints ⌈T/K⌉.
    pub checkpoints: usize,
    /// Checkpoints that live in host memory.
    pub host_checkpoints: usize,
    /// States stored while a segment is replayed (K).
    pub segment_states: usize,
    /// Bytes of one stored state.
    pub state_bytes: u64,
    /// P2G results (binning and grids) stored while a segment is replayed,
    /// so that the backward pass needs no P2G recomputation: K with the
    /// uniform schedule unless a memory budget leaves no room, else 0.
    pub stored_grids: usize,
    /// Bytes of one stored P2G result.
    pub grid_bytes: u64,
    /// Bytes of the adjoint buffers (independent of T).
    pub fixed_bytes: u64,
    /// GPU bytes of the tape: fixed + GPU checkpoints + segment states.
    pub gpu_bytes: u64,
    /// Host bytes of spilled checkpoints.
    pub host_bytes: u64,
}

impl MemoryPlan {
    /// Chooses K for `steps` substeps, states of `state_bytes` and P2G
    /// results of `grid_bytes`. The uniform schedule stores, for each
    /// substep of the segment being reversed, its state and its P2G result
    /// (no P2G recomputation), with K minimising the memory; under a memory
    /// budget it takes the smallest K that fits, and drops the stored P2G
    /// results (recomputing P2G instead) when nothing else fits. Errors when
    /// a budget cannot hold the smallest schedule, naming the minimum.
    pub fn new(
        steps: usize,
        state_bytes: u64,
        grid_bytes: u64,
        fixed_bytes: u64,
        opts: &TapeOptions,
    ) -> Result<Self, SimError> {
        let t = steps.max(1);
        if opts.schedule == Schedule::Binomial {
            return Self::binomial(t, state_bytes, fixed_bytes, opts);
        }
        // Memory with interval k, storing P2G results or not.
        let mem = |k: usize, grids: bool| {
            let per = state_bytes + if grids { grid_bytes } else { 0 };
            fixed_bytes + t.div_ceil(k) as u64 * state_bytes + k as u64 * per
        };
        // Least memory; among equals, the interval nearest √T.
        let sqrt_t = (t as f64).sqrt().round() as usize;
        let best = |grids: bool| {
            (1..=t)
                .min_by_key(|&k| (mem(k, grids), k.abs_diff(sqrt_t)))
                .unwrap_or(1)
        };
        let (k, grids) = if let Some(k) = opts.checkpoint_every {
            if k == 0 {
                return Err(SimError::Other(
                    "checkpoint interval K must be at least 1".into(),
                ));
            }
            (k.min(t), true)
        } else if let Some(budget) = opts.memory_budget_bytes {
            // Smallest K that fits (fewest replayed substeps), storing P2G results if possible.
            let fit = |grids: bool| (1..=best(grids)).find(|&k| mem(k, grids) <= budget);
            match (fit(true), fit(false)) {
                (Some(k), _) => (k, true),
                (None, Some(k)) => (k, false),
                (None, None) => {
                    let b = best(false);
                    return Err(SimError::Other(format!(
                        "memory budget {} cannot hold the backward pass of {t} substeps: the smallest \
                         schedule (checkpoint every {b} substeps) needs {} ({} per state, {} fixed)",
                        human_bytes(budget),
                        human_bytes(mem(b, false)),
                        human_bytes(state_bytes),
                        human_bytes(fixed_bytes)
                    )));
                }
            }
        } else {
            (best(true), true)
        };
        let stored_grids = if grids && grid_bytes > 0 { k } else { 0 };
        let checkpoints = t.div_ceil(k);
        let gpu_limit = opts.gpu_checkpoint_bytes.unwrap_or(2 << 30);
        let on_gpu = ((gpu_limit / state_bytes.max(1)) as usize).min(checkpoints);
        let host_checkpoints = checkpoints - on_gpu;
        Ok(MemoryPlan {
            schedule: Schedule::Uniform,
            steps: t,
            replayed_substeps: t - checkpoints,
            checkpoint_every: k,
            checkpoints,
            host_checkpoints,
            segment_states: k,
            state_bytes,
            stored_grids,
            grid_bytes,
            fixed_bytes,
            gpu_bytes: fixed_bytes
                + (on_gpu + k) as u64 * state_bytes
                + stored_grids as u64 * grid_bytes,
            host_bytes: host_checkpoints as u64 * state_bytes,
        })
    }

    fn binomial(
        t: usize,
        state_bytes: u64,
        fixed_bytes: u64,
        opts: &TapeOptions,
    ) -> Result<Self, SimError> {
        let slots = if let Some(s) = opts.snapshots {
            s
        } else if let Some(budget) = opts.memory_budget_bytes {
            let need = fixed_bytes + 2 * state_bytes;
            if budget < need {
                return Err(SimError::Other(format!(
                    "memory budget {} cannot hold the binomial backward pass: it needs at least {} \
                     (one snapshot and the initial state of {} each, plus {} fixed)",
                    human_bytes(budget),
                    human_bytes(need),
                    human_bytes(state_bytes),
                    human_bytes(fixed_bytes)
                )));
            }
            (((budget - fixed_bytes) / state_bytes.max(1)) as usize - 1).min(t)
        } else {
            (usize::BITS - t.leading_zeros()) as usize + 1
        };
        if slots == 0 {
            return Err(SimError::Other(
                "the binomial schedule needs at least 1 snapshot".into(),
            ));
        }
        let slots = slots.min(t);
        Ok(MemoryPlan {
            schedule: Schedule::Binomial,
            steps: t,
            replayed_substeps: binomial_replays(t, slots),
            checkpoint_every: 0,
            checkpoints: 0,
            host_checkpoints: 0,
            segment_states: slots,
            state_bytes,
            stored_grids: 0,
            grid_bytes: 0,
            fixed_bytes,
            gpu_bytes: fixed_bytes + slots as u64 * state_bytes,
            host_bytes: 0,
        })
    }

    /// One-line description for users.
    pub fn describe(&self) -> String {
        if self.schedule == Schedule::Binomial {
            return format!(
                "{} substeps, binomial schedule with {} snapshots ({} replayed substeps), {} per state: {} on the GPU",
                self.steps,
                self.segment_states,
                self.replayed_substeps,
                human_bytes(self.state_bytes),
                human_bytes(self.gpu_bytes)
            );
        }
        let grids = if self.stored_grids > 0 {
            format!(
                ", {} P2G results of {} kept",
                self.stored_grids,
                human_bytes(self.grid_bytes)
            )
        } else {
            ", P2G recomputed".to_string()
        };
        format!(
            "{} substeps, checkpoint every {} ({} checkpoints, {} on the host, {} replayed substeps{grids}), \
             {} per state: {} on the GPU, {} on the host",
            self.steps,
            self.checkpoint_every,
            self.checkpoints,
            self.host_checkpoints,
            self.replayed_substeps,
            human_bytes(self.state_bytes),
            human_bytes(self.gpu_bytes),
            human_bytes(self.host_bytes)
        )
    }
}

/// Bytes as KiB/MiB/GiB.
pub fn human_bytes(b: u64) -> String {
    let f = b as f64;
    if f >= (1u64 << 30) as f64 {
        format!("{:.2} GiB", f / (1u64 << 30) as f64)
    } else if f >= (1u64 << 20) as f64 {
        format!("{:.1} MiB", f / (1u64 << 20) as f64)
    } else {
        format!("{:.1} KiB", f / 1024.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_interval_is_about_sqrt_t() {
        let p = MemoryPlan::new(10_000, 1000, 0, 0, &TapeOptions::default()).unwrap();
        assert_eq!(p.checkpoint_every, 100);
        assert_eq!(p.checkpoints, 100);
        // (T/K + K is flat near √1000 ≈ 31.6: any K in 30..=34 needs 64 states.)
        let p = MemoryPlan::new(1000, 1000, 0, 0, &TapeOptions::default()).unwrap();
        assert!(
            (30..=34).contains(&p.checkpoint_every),
            "{}",
            p.checkpoint_every
        );
        assert_eq!(p.checkpoints + p.segment_states, 64);
    }

    #[test]
    fn budget_picks_the_smallest_interval_that_fits_and_refuses_too_little() {
        let opts = TapeOptions {
            memory_budget_bytes: Some(1_000_000),
            ..Default::default()
        };
        // 100 substeps of 1 kB states: storing every state needs 101 kB.
        let p = MemoryPlan::new(100, 1000, 0, 0, &opts).unwrap();
        assert_eq!(p.checkpoint_every, 1);
        let opts = TapeOptions {
            memory_budget_bytes: Some(15_000),
            ..Default::default()
        };
        let e = MemoryPlan::new(100, 1000, 0, 0, &opts)
            .unwrap_err()
            .to_string();
        assert!(e.contains("needs 19.5 KiB"), "{e}");
    }

    #[test]
    fn p2g_results_are_kept_unless_the_budget_has_no_room() {
        // States of 1 kB, P2G results of 3 kB: K = √(T·1/(1 + 3)) = 50.
        let p = MemoryPlan::new(10_000, 1000, 3000, 0, &TapeOptions::default()).unwrap();
        assert_eq!(p.checkpoint_every, 50);
        assert_eq!(p.stored_grids, 50);
        assert_eq!(p.gpu_bytes, (200 + 50) * 1000 + 50 * 3000);
        // That plan needs 400 kB; 300 kB fits only without the P2G results.
        let opts = TapeOptions {
            memory_budget_bytes: Some(300_000),
            ..Default::default()
        };
        let p = MemoryPlan::new(10_000, 1000, 3000, 0, &opts).unwrap();
        assert_eq!(p.stored_grids, 0);
        assert!(p.gpu_bytes <= 300_000);
    }

    #[test]
    fn binomial_schedule_uses_few_snapshots() {
        let opts = TapeOptions {
            schedule: Schedule::Binomial,
            snapshots: Some(4),
            ..Default::default()
        };
        let p = MemoryPlan::new(1000, 1000, 0, 0, &opts).unwrap();
        assert_eq!(p.segment_states, 4);
        // C(4 + r, 4) >= 1000 needs r = 10 (C(14, 4) = 1001): at most r·T replayed substeps.
        assert!(binomial_capacity(4, 10) >= 1000 && binomial_capacity(4, 9) < 1000);
        assert!(p.replayed_substeps <= 10 * 1000, "{}", p.replayed_substeps);
        for (a, b, s) in [(0usize, 10usize, 2usize), (3, 40, 3), (0, 1000, 4)] {
            let m = binomial_split(a, b, s);
            assert!(m > a && m < b, "{a} {b} {s} -> {m}");
        }
    }

    #[test]
    fn checkpoints_spill_to_host_beyond_the_gpu_limit() {
        let opts = TapeOptions {
            gpu_checkpoint_bytes: Some(5000),
            ..Default::default()
        };
        let p = MemoryPlan::new(100, 1000, 0, 0, &opts).unwrap();
        assert_eq!(p.checkpoints, 10);
        assert_eq!(p.host_checkpoints, 5);
        assert_eq!(p.host_bytes, 5000);
    }
}
