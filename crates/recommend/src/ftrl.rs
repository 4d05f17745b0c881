//! Logistic regression learned online with FTRL-Proximal (McMahan et al., "Ad Click
//! Prediction: a View from the Trenches", 2013): per-coordinate learning rates, L1 and L2,
//! one update per labelled impression.

use serde::{Deserialize, Serialize};

/// Number of ranking features (see [`crate::rank::Features`]).
pub const DIM: usize = crate::rank::FEATURES;

/// The model: FTRL's `z` and `n` per coordinate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ftrl {
    z: Vec<f64>,
    n: Vec<f64>,
    /// Labelled examples learned from.
    pub examples: u64,
    alpha: f64,
    beta: f64,
    l1: f64,
    l2: f64,
}

impl Default for Ftrl {
    fn default() -> Self {
        Self {
            z: vec![0.0; DIM],
            n: vec![0.0; DIM],
            examples: 0,
            alpha: 0.1,
            beta: 1.0,
            l1: 0.01,
            l2: 1.0,
        }
    }
}

impl Ftrl {
    /// The current weights.
    pub fn weights(&self) -> [f64; DIM] {
        let mut w = [0.0; DIM];
        for (i, wi) in w.iter_mut().enumerate() {
            let z = self.z.get(i).copied().unwrap_or(0.0);
            let n = self.n.get(i).copied().unwrap_or(0.0);
            if z.abs() > self.l1 {
                *wi = -(z - z.signum() * self.l1) / ((self.beta + n.sqrt()) / self.alpha + self.l2);
            }
        }
        w
    }

    /// The learned log-odds of `x`.
    pub fn logit(&self, x: &[f32; DIM]) -> f64 {
        self.weights()
            .iter()
            .zip(x)
            .map(|(w, x)| w * f64::from(*x))
            .sum()
    }

    /// Learns from one example: features `x` and what followed (`true` = watched).
    /// `prior` is the log-odds the model corrects (the hand-set prior score).
    pub fn learn(&mut self, x: &[f32; DIM], prior: f64, label: bool) {
        // Checkpoints from a build with fewer features grow with zeros.
        self.z.resize(DIM, 0.0);
        self.n.resize(DIM, 0.0);
        let w = self.weights();
        let p = sigmoid(prior + self.logit(x));
        let y = if label { 1.0 } else { 0.0 };
        for i in 0..DIM {
            let g = (p - y) * f64::from(x[i]);
            if g == 0.0 {
                continue;
            }
            let sigma = ((self.n[i] + g * g).sqrt() - self.n[i].sqrt()) / self.alpha;
            self.z[i] += g - sigma * w[i];
            self.n[i] += g * g;
        }
        self.examples += 1;
    }
}

/// The logistic function.
pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_which_feature_predicts_the_label() {
        let mut m = Ftrl::default();
        let mut yes = [0.0f32; DIM];
        yes[0] = 1.0;
        yes[1] = 1.0;
        let mut no = [0.0f32; DIM];
        no[0] = 1.0;
        no[2] = 1.0;
        for _ in 0..500 {
            m.learn(&yes, 0.0, true);
            m.learn(&no, 0.0, false);
        }
        let w = m.weights();
        assert!(w[1] > 0.5 && w[2] < -0.5, "{w:?}");
        let (p_yes, p_no) = (sigmoid(m.logit(&yes)), sigmoid(m.logit(&no)));
        assert!(p_yes > 0.7 && p_no < 0.3, "{p_yes} {p_no}");
        assert_eq!(m.examples, 1000);
    }
}
