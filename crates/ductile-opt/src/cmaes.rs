//! CMA-ES (Hansen's (μ/μ_w, λ) evolution strategy with rank-one and rank-μ
//! covariance updates and cumulative step-size adaptation) on the box
//! [0, 1]ⁿ: samples are projected onto the box and the projected samples
//! drive the update. Ask/tell, seeded, and serialisable so that a run can
//! be resumed exactly.

use ductile_sim::gradcheck::Rng;
use nalgebra::{DMatrix, DVector, SymmetricEigen};
use serde::{Deserialize, Serialize};

/// The search distribution and its evolution paths.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CmaEs {
    /// Dimension.
    pub n: usize,
    /// Samples per generation λ.
    pub lambda: usize,
    /// Mean of the distribution.
    pub mean: Vec<f64>,
    /// Step size σ.
    pub sigma: f64,
    /// Covariance C, row-major n × n.
    pub cov: Vec<f64>,
    /// Evolution path of σ.
    pub p_sigma: Vec<f64>,
    /// Evolution path of C.
    pub p_c: Vec<f64>,
    /// Generations told so far.
    pub generation: usize,
    /// Random generator state.
    pub rng: u64,
}

struct Constants {
    mu: usize,
    weights: Vec<f64>,
    mu_eff: f64,
    c_sigma: f64,
    d_sigma: f64,
    c_c: f64,
    c_1: f64,
    c_mu: f64,
    chi_n: f64,
}

impl CmaEs {
    /// A search around `mean` with step `sigma`, `lambda` samples per
    /// generation (default 4 + ⌊3 ln n⌋) and a seed.
    pub fn new(mean: Vec<f64>, sigma: f64, lambda: Option<usize>, seed: u64) -> Self {
        let n = mean.len();
        let lambda = lambda.unwrap_or(4 + (3.0 * (n.max(1) as f64).ln()).floor() as usize);
        let mut cov = vec![0.0; n * n];
        for i in 0..n {
            cov[i * n + i] = 1.0;
        }
        CmaEs {
            n,
            lambda: lambda.max(2),
            mean,
            sigma,
            cov,
            p_sigma: vec![0.0; n],
            p_c: vec![0.0; n],
            generation: 0,
            rng: seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ 0x1234_5678,
        }
    }

    fn constants(&self) -> Constants {
        let n = self.n as f64;
        let mu = self.lambda / 2;
        let raw: Vec<f64> = (0..mu)
            .map(|i| (mu as f64 + 0.5).ln() - ((i + 1) as f64).ln())
            .collect();
        let s: f64 = raw.iter().sum();
        let weights: Vec<f64> = raw.iter().map(|w| w / s).collect();
        let mu_eff = 1.0 / weights.iter().map(|w| w * w).sum::<f64>();
        let c_sigma = (mu_eff + 2.0) / (n + mu_eff + 5.0);
        let d_sigma = 1.0 + 2.0 * (((mu_eff - 1.0) / (n + 1.0)).sqrt() - 1.0).max(0.0) + c_sigma;
        let c_c = (4.0 + mu_eff / n) / (n + 4.0 + 2.0 * mu_eff / n);
        let c_1 = 2.0 / ((n + 1.3).powi(2) + mu_eff);
        let c_mu =
            (1.0 - c_1).min(2.0 * (mu_eff - 2.0 + 1.0 / mu_eff) / ((n + 2.0).powi(2) + mu_eff));
        let chi_n = n.sqrt() * (1.0 - 1.0 / (4.0 * n) + 1.0 / (21.0 * n * n));
        Constants {
            mu,
            weights,
            mu_eff,
            c_sigma,
            d_sigma,
            c_c,
            c_1,
            c_mu,
            chi_n,
        }
    }

    fn eigen(&self) -> (DMatrix<f64>, DVector<f64>) {
        let c = DMatrix::from_row_slice(self.n, self.n, &self.cov);
        let e = SymmetricEigen::new(c);
        let d = e.eigenvalues.map(|v| v.max(1e-20).sqrt());
        (e.eigenvectors, d)
    }

    /// λ samples of this generation, projected onto [0, 1]ⁿ.
    pub fn ask(&mut self) -> Vec<Vec<f64>> {
        let (b, d) = self.eigen();
        let mut rng = Rng::new(self.rng);
        let samples = (0..self.lambda)
            .map(|_| {
                let z = DVector::from_iterator(self.n, (0..self.n).map(|_| rng.normal()));
                let y = &b * d.component_mul(&z);
                (0..self.n)
                    .map(|i| (self.mean[i] + self.sigma * y[i]).clamp(0.0, 1.0))
                    .collect()
            })
            .collect();
        self.rng = rng.state();
        samples
    }

    /// Updates the distribution from this generation's samples and their losses.
    pub fn tell(&mut self, samples: &[Vec<f64>], losses: &[f64]) {
        let k = self.constants();
        let n = self.n;
        let mut order: Vec<usize> = (0..samples.len()).collect();
        order.sort_by(|&a, &b| losses[a].total_cmp(&losses[b]));
        let ys: Vec<DVector<f64>> = order[..k.mu]
            .iter()
            .map(|&i| {
                DVector::from_iterator(
                    n,
                    (0..n).map(|j| (samples[i][j] - self.mean[j]) / self.sigma),
                )
            })
            .collect();
        let mut y_w = DVector::zeros(n);
        for (w, y) in k.weights.iter().zip(&ys) {
            y_w += *w * y;
        }
        for j in 0..n {
            self.mean[j] = (self.mean[j] + self.sigma * y_w[j]).clamp(0.0, 1.0);
        }
        // C^{-1/2} y_w
        let (b, d) = self.eigen();
        let inv_sqrt = &b * DMatrix::from_diagonal(&d.map(|v| 1.0 / v)) * b.transpose();
        let ps = DVector::from_vec(self.p_sigma.clone()) * (1.0 - k.c_sigma)
            + (k.c_sigma * (2.0 - k.c_sigma) * k.mu_eff).sqrt() * (&inv_sqrt * &y_w);
        let g = (self.generation + 1) as f64;
        let h_sigma = ps.norm() / (1.0 - (1.0 - k.c_sigma).powf(2.0 * g)).sqrt()
            < (1.4 + 2.0 / (n as f64 + 1.0)) * k.chi_n;
        let hs = if h_sigma { 1.0 } else { 0.0 };
        let pc = DVector::from_vec(self.p_c.clone()) * (1.0 - k.c_c)
            + hs * (k.c_c * (2.0 - k.c_c) * k.mu_eff).sqrt() * &y_w;
        let mut c = DMatrix::from_row_slice(n, n, &self.cov);
        let old = c.clone();
        c *= 1.0 - k.c_1 - k.c_mu;
        c += k.c_1 * (&pc * pc.transpose() + (1.0 - hs) * k.c_c * (2.0 - k.c_c) * &old);
        for (w, y) in k.weights.iter().zip(&ys) {
            c += k.c_mu * *w * (y * y.transpose());
        }
        // Keep C exactly symmetric.
        let c = (&c + c.transpose()) * 0.5;
        self.cov = c.transpose().as_slice().to_vec();
        self.sigma *= ((k.c_sigma / k.d_sigma) * (ps.norm() / k.chi_n - 1.0)).exp();
        self.sigma = self.sigma.min(1.0);
        self.p_sigma = ps.as_slice().to_vec();
        self.p_c = pc.as_slice().to_vec();
        self.generation += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(f: impl Fn(&[f64]) -> f64, x0: Vec<f64>, gens: usize) -> f64 {
        let mut es = CmaEs::new(x0, 0.2, None, 7);
        let mut best = f64::INFINITY;
        for _ in 0..gens {
            let s = es.ask();
            let l: Vec<f64> = s.iter().map(|x| f(x)).collect();
            best = l.iter().cloned().fold(best, f64::min);
            es.tell(&s, &l);
        }
        best
    }

    #[test]
    fn minimises_an_ill_conditioned_quadratic_and_rosenbrock() {
        // Rotated, condition number 1e4, minimum at 0.3.
        let quad = |x: &[f64]| {
            let a = x[0] - 0.3 + x[1] - 0.3;
            let b = x[0] - x[1];
            a * a + 1e4 * b * b + (x[2] - 0.3).powi(2) + 100.0 * (x[3] - 0.3).powi(2)
        };
        let q = run(quad, vec![0.8; 4], 200);
        assert!(q < 1e-10, "quadratic: {q}");
        // Rosenbrock in [0,1]², minimum 0 at (1, 1) on the box's corner... scaled to (0.5, 0.5).
        let rosen = |x: &[f64]| {
            let (a, b) = (4.0 * x[0] - 1.0, 4.0 * x[1] - 1.0);
            (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2)
        };
        let r = run(rosen, vec![0.1, 0.9], 300);
        assert!(r < 1e-8, "rosenbrock: {r}");
    }

    #[test]
    fn resumes_exactly_from_its_serialised_state() {
        let f = |x: &[f64]| x.iter().map(|v| (v - 0.6).powi(2)).sum::<f64>();
        let mut a = CmaEs::new(vec![0.1; 3], 0.3, None, 3);
        for _ in 0..5 {
            let s = a.ask();
            let l: Vec<f64> = s.iter().map(|x| f(x)).collect();
            a.tell(&s, &l);
        }
        let mut b: CmaEs = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        assert_eq!(a.ask(), b.ask());
    }
}
