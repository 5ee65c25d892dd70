//! Gradient steps on the scaled coordinates: Adam (Kingma & Ba 2015) and
//! plain gradient descent, gradient clipping by value and by norm, and
//! projection onto the bounds [0, 1].

use serde::{Deserialize, Serialize};

/// Euclidean norm.
pub fn norm(g: &[f64]) -> f64 {
    g.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// Clips every component to [-value, value], then scales the whole vector
/// down to `max_norm` if it is longer.
pub fn clip(g: &mut [f64], value: Option<f64>, max_norm: Option<f64>) {
    if let Some(c) = value {
        g.iter_mut().for_each(|x| *x = x.clamp(-c, c));
    }
    if let Some(c) = max_norm {
        let n = norm(g);
        if n > c {
            g.iter_mut().for_each(|x| *x *= c / n);
        }
    }
}

/// Adam's moment estimates (unused by gradient descent) and the step count.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GradientState {
    /// First-moment estimate.
    pub m1: Vec<f64>,
    /// Second-moment estimate.
    pub m2: Vec<f64>,
    /// Steps taken.
    pub steps: usize,
}

impl GradientState {
    /// Zero moments for `n` coordinates.
    pub fn new(n: usize) -> Self {
        GradientState {
            m1: vec![0.0; n],
            m2: vec![0.0; n],
            steps: 0,
        }
    }

    /// One step of Adam (`adam`) or gradient descent with rate `lr` along
    /// `-g`, then projection of `u` onto [0, 1]. Entries with zero gradient
    /// and zero moments (masked or frozen) do not move.
    pub fn step(&mut self, u: &mut [f64], g: &[f64], lr: f64, adam: bool) {
        let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-12);
        let k = self.steps as i32 + 1;
        for i in 0..u.len() {
            let step = if adam {
                self.m1[i] = b1 * self.m1[i] + (1.0 - b1) * g[i];
                self.m2[i] = b2 * self.m2[i] + (1.0 - b2) * g[i] * g[i];
                let mh = self.m1[i] / (1.0 - b1.powi(k));
                let vh = self.m2[i] / (1.0 - b2.powi(k));
                lr * mh / (vh.sqrt() + eps)
            } else {
                lr * g[i]
            };
            u[i] = (u[i] - step).clamp(0.0, 1.0);
        }
        self.steps += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clipping_by_value_then_norm() {
        let mut g = vec![3.0, -4.0, 0.5];
        clip(&mut g, Some(1.0), None);
        assert_eq!(g, vec![1.0, -1.0, 0.5]);
        clip(&mut g, None, Some(0.75));
        assert!((norm(&g) - 0.75).abs() < 1e-15);
        assert!((g[0] / g[2] - 2.0).abs() < 1e-12, "direction kept");
    }

    #[test]
    fn adam_and_descent_converge_and_respect_bounds() {
        // f(u) = Σ (u_i − t_i)², with one target outside [0, 1].
        let t = [0.3, 1.4];
        for adam in [true, false] {
            let mut u = vec![0.9, 0.5];
            let mut s = GradientState::new(2);
            for _ in 0..500 {
                let g: Vec<f64> = (0..2).map(|i| 2.0 * (u[i] - t[i])).collect();
                s.step(&mut u, &g, if adam { 0.01 } else { 0.1 }, adam);
            }
            assert!((u[0] - 0.3).abs() < 1e-3, "adam {adam}: {u:?}");
            assert_eq!(u[1], 1.0, "projected onto the bound");
        }
    }
}
