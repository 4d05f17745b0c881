//! Collaborative filtering with EASE (Steck, "Embarrassingly Shallow Autoencoders for Sparse
//! Data", 2019): an item-item weight matrix `B = I - P / diag(P)` with `P = (XᵀX + λI)⁻¹`, in
//! closed form. Chosen by the offline table in bench/RESULTS.md (it beats item KNN and the
//! factor models there, trains in seconds, and has one hyper-parameter). The inverse is of the
//! item-item Gram matrix, so the model covers the most interacted-with items only
//! ([`EaseConfig::max_items`]); the other candidate sources cover the rest.

use std::collections::HashMap;
use std::hash::Hash;

use nalgebra::DMatrix;

/// Training settings.
#[derive(Clone, Copy, Debug)]
pub struct EaseConfig {
    /// L2 regularisation (λ).
    pub lambda: f64,
    /// Dropout-emphasised regularisation (EDLAE, Steck 2020): each item's diagonal also gets
    /// `p / (1 - p)` times its own count, so popular items are regularised more. 0 is plain
    /// EASE.
    pub dropout: f64,
    /// Items in the model at most (the most interacted-with).
    pub max_items: usize,
}

impl Default for EaseConfig {
    fn default() -> Self {
        Self {
            lambda: 500.0,
            dropout: 0.0,
            max_items: 3000,
        }
    }
}

/// A trained model over items of type `K`.
#[derive(Clone, Debug)]
pub struct Ease<K> {
    items: Vec<K>,
    index: HashMap<K, usize>,
    /// Row-major `B` (`items × items`), zero diagonal.
    weights: Vec<f32>,
    /// Users the model was trained on.
    pub users: usize,
}

impl<K> Default for Ease<K> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            index: HashMap::new(),
            weights: Vec::new(),
            users: 0,
        }
    }
}

impl<K: Hash + Eq + Clone> Ease<K> {
    /// Trains on each user's interacted items (implicit, binary). `None` when the Gram matrix
    /// is not invertible (cannot happen with λ > 0, but the type says so).
    pub fn train<'a, I>(histories: I, config: EaseConfig) -> Option<Self>
    where
        I: IntoIterator<Item = &'a [K]>,
        K: 'a,
    {
        let histories: Vec<&[K]> = histories.into_iter().collect();
        let mut counts: HashMap<&K, u32> = HashMap::new();
        for h in &histories {
            for item in h.iter() {
                *counts.entry(item).or_default() += 1;
            }
        }
        let mut ranked: Vec<(&K, u32)> = counts.into_iter().collect();
        // Most interacted-with first; ties broken by first appearance is not stable across
        // runs, so by count only and then truncated (ties at the cut may differ; harmless).
        ranked.sort_by_key(|r| std::cmp::Reverse(r.1));
        ranked.truncate(config.max_items);
        let items: Vec<K> = ranked.iter().map(|(k, _)| (*k).clone()).collect();
        let index: HashMap<K, usize> = items
            .iter()
            .enumerate()
            .map(|(i, k)| (k.clone(), i))
            .collect();
        let n = items.len();
        let mut gram = DMatrix::<f64>::zeros(n, n);
        let mut row: Vec<usize> = Vec::new();
        for h in &histories {
            row.clear();
            row.extend(h.iter().filter_map(|k| index.get(k).copied()));
            row.sort_unstable();
            row.dedup();
            for &a in &row {
                for &b in &row {
                    gram[(a, b)] += 1.0;
                }
            }
        }
        let emphasis = if config.dropout > 0.0 && config.dropout < 1.0 {
            config.dropout / (1.0 - config.dropout)
        } else {
            0.0
        };
        for i in 0..n {
            let count = gram[(i, i)];
            gram[(i, i)] += config.lambda + emphasis * count;
        }
        let p = gram.cholesky()?.inverse();
        let mut weights = vec![0.0f32; n * n];
        for j in 0..n {
            let d = p[(j, j)];
            for i in 0..n {
                if i != j {
                    weights[i * n + j] = (-p[(i, j)] / d) as f32;
                }
            }
        }
        Some(Self {
            items,
            index,
            weights,
            users: histories.len(),
        })
    }

    /// Items in the model.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when the model knows no item.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The item at a model index.
    pub fn item(&self, i: usize) -> &K {
        &self.items[i]
    }

    /// A model index.
    pub fn index_of(&self, item: &K) -> Option<usize> {
        self.index.get(item).copied()
    }

    /// Scores of every model item for a user who interacted with `history` (by model index).
    pub fn scores(&self, history: &[K]) -> Vec<f32> {
        let n = self.items.len();
        let mut scores = vec![0.0f32; n];
        for i in history.iter().filter_map(|k| self.index.get(k)) {
            let row = &self.weights[i * n..(i + 1) * n];
            for (s, w) in scores.iter_mut().zip(row) {
                *s += w;
            }
        }
        scores
    }

    /// The weight from `a` to `b` (how much liking `a` predicts `b`).
    pub fn similarity(&self, a: &K, b: &K) -> f32 {
        match (self.index.get(a), self.index.get(b)) {
            (Some(&i), Some(&j)) => self.weights[i * self.items.len() + j],
            _ => 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_watched_together_predict_each_other() {
        // Users like either {1,2,3} or {4,5,6}; a user with 1 and 2 should get 3 first.
        let mut histories: Vec<Vec<u32>> = Vec::new();
        for u in 0..40 {
            if u % 2 == 0 {
                histories.push(vec![1, 2, 3]);
            } else {
                histories.push(vec![4, 5, 6]);
            }
        }
        let model = Ease::train(
            histories.iter().map(Vec::as_slice),
            EaseConfig {
                lambda: 10.0,
                dropout: 0.0,
                max_items: 100,
            },
        )
        .unwrap();
        assert_eq!(model.len(), 6);
        let scores = model.scores(&[1, 2]);
        let best = (0..6)
            .filter(|&i| ![1, 2].contains(model.item(i)))
            .max_by(|&a, &b| scores[a].total_cmp(&scores[b]))
            .unwrap();
        assert_eq!(*model.item(best), 3);
        assert!(model.similarity(&1, &3) > 0.0 && model.similarity(&1, &4) <= 0.0);
    }
}
