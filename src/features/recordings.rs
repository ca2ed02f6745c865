//! A recordings declaration (issue 23): which recorded sessions form each trajectory, which
//! epoch each stands for, and which units form each "layer" — what `lrx import` reads. It is
//! written as `recording` blocks of a recordings spec (`lrx check` checks it,
//! `check::check_recordings_path`) or, for tools that generate it, as the JSON form of these
//! types (docs/reference/recordings.md).

use super::observable::LayerPosition;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The rule label of a recording whose learning rule is not known.
pub const UNKNOWN_RULE: &str = "unknown";

/// A recordings file: the recordings to import and the observables to compute.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordingsFile {
    /// `act` observables by name (`actraw_mean`, ...); default: the 21 `act` candidates.
    #[serde(default)]
    pub observables: Option<Vec<String>>,
    /// The recordings, one trajectory each.
    pub recordings: Vec<Recording>,
    /// The spec hash of a checked recordings spec (`check::check_recordings_path`); empty for
    /// the JSON form, whose hash is the SHA-256 of its bytes.
    #[serde(skip)]
    pub spec_hash: String,
}

/// One recorded trajectory: its sessions in order and the layers its units form.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recording {
    /// The recording id (the output's `run_id`).
    pub id: String,
    /// A known learning-rule label (simulated recordings); default `unknown`.
    #[serde(default)]
    pub rule: Option<String>,
    /// The source format: `plain` (`.npy` per session) or `nwb` (NWB 2.x file per session).
    #[serde(default = "plain_format")]
    pub format: String,
    /// Where an `nwb` recording's responses come from (required for `nwb`).
    #[serde(default)]
    pub nwb: Option<NwbSource>,
    /// The layers, in order (their `layer_index`).
    pub layers: Vec<RecordedLayer>,
    /// The sessions, in trajectory order.
    pub sessions: Vec<Session>,
}

fn plain_format() -> String {
    "plain".into()
}

/// The responses of an NWB session.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NwbSource {
    /// `units` (spike times of `/units`) or the path of a `RoiResponseSeries`, e.g.
    /// `processing/ophys/Fluorescence/RoiResponseSeries`.
    pub responses: String,
    /// The `TimeIntervals` table of the presentations, under `/intervals/` (e.g. `trials`).
    pub intervals: String,
    /// The column of the intervals table naming the stimulus (presentations of one stimulus
    /// are averaged); default: every presentation is its own stimulus.
    #[serde(default)]
    pub stimulus: Option<String>,
}

/// Which units of a session form one layer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordedLayer {
    /// The layer's name in the output (`layer`).
    pub name: String,
    /// `early`, `middle` or `deep` (the classifier's position feature).
    pub position: LayerPosition,
    /// The layer's units: plain, column indices of the session array (0-based); NWB units,
    /// `/units/id` values; NWB ophys, ROI indices (columns of `data`). Default: every unit.
    #[serde(default)]
    pub units: Option<Vec<i64>>,
    /// NWB units only: the units whose electrodes lie in this brain area (the `location`
    /// column of `/general/extracellular_ephys/electrodes`), instead of `units`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

/// One session: a `[stimuli × units]` `.npy` file and the epoch it stands for.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Session {
    /// The checkpoint (epoch) the session stands for; strictly increasing within a recording.
    pub epoch: i64,
    /// The `.npy` file (relative to the recordings file's directory).
    pub file: PathBuf,
}
