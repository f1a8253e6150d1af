//! The feature table of a fidelity run, as the reports show it: per feature, its outcome
//! through the gateway (preserved / added / altered / dropped / not supported), the
//! differences, and the conversation held directly and through the gateway side by side.

use serde::Serialize;

use super::compare::Outcome;
use crate::verdict::Verdict;

/// One row: one feature.
#[derive(Debug, Clone, Serialize)]
pub struct FeatureRow {
    pub id: String,
    pub title: String,
    pub spec: String,
    pub outcome: Outcome,
    pub verdict: Verdict,
    /// One line per difference (at most `compare::MAX_DIFFERENCES` per step).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub differences: Vec<String>,
    /// The conversation with the upstream directly, as HTTP-like text (bodies clipped).
    pub direct: String,
    /// The same conversation through the gateway.
    pub through: String,
}

/// Every feature of a run, and the latency the gateway added.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FeatureTable {
    pub features: Vec<FeatureRow>,
    /// Per request kind (empty when not measured).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub overhead: Vec<super::overhead::Overhead>,
}

impl FeatureTable {
    /// How many features had each outcome, in column order.
    pub fn counts(&self) -> Vec<(Outcome, usize)> {
        [
            Outcome::Preserved,
            Outcome::Added,
            Outcome::Altered,
            Outcome::Dropped,
            Outcome::NotSupported,
        ]
        .into_iter()
        .map(|o| (o, self.features.iter().filter(|f| f.outcome == o).count()))
        .collect()
    }
}
