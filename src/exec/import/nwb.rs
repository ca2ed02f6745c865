//! NWB 2.x sessions (HDF5): per-stimulus responses of spike-sorted units (`/units`) or of an
//! optical-physiology `RoiResponseSeries`, in the presentation intervals of a `TimeIntervals`
//! table (`/intervals/<table>`).
//!
//! - Units: `spike_times` + `spike_times_index` (ragged), `id`; the response of a unit to a
//!   presentation `[start, stop)` is its spike count / (stop − start).
//! - Ophys: `data` `[time × rois]` (1-D: one ROI), `timestamps` or `starting_time` + its `rate`
//!   attribute; the response is the mean of the samples with start ≤ t < stop.
//!
//! With a stimulus column, presentations of the same stimulus are averaged (stimuli in order of
//! first presentation); without one, every presentation is a stimulus.

use super::{ImportError, NwbSource};
use hdf5_metno as h5;
use std::path::Path;

/// The responses of one session: `(stimuli, units, values row-major, unit ids)`.
pub(crate) type Responses = (usize, usize, Vec<f64>, Vec<i64>);

struct Ctx<'a> {
    path: &'a Path,
}

impl Ctx<'_> {
    fn open(&self) -> Result<h5::File, ImportError> {
        h5::File::open(self.path).map_err(|e| ImportError::Io {
            path: self.path.to_path_buf(),
            message: format!("cannot open as HDF5: {e}"),
        })
    }
    /// The per-unit ranges of a ragged column: `index` (`<data>_index`, one end index per unit
    /// of `units`) into `len` items of `data`, checked to be non-decreasing and in range.
    fn ragged(
        &self,
        index: &[i64],
        units: usize,
        (data, len, noun): (&str, usize, &str),
    ) -> Result<Vec<std::ops::Range<usize>>, ImportError> {
        let object = format!("units/{data}_index");
        if index.len() != units {
            return Err(self.err(
                &object,
                format!("{} entries for {units} units", index.len()),
            ));
        }
        let mut lo = 0usize;
        index
            .iter()
            .enumerate()
            .map(|(j, &hi)| {
                let hi = usize::try_from(hi)
                    .ok()
                    .filter(|&h| h >= lo && h <= len)
                    .ok_or_else(|| {
                        self.err(
                            &object,
                            format!(
                                "entry {j} = {hi} is not a non-decreasing end index into {data} ({len} {noun})"
                            ),
                        )
                    })?;
                let r = lo..hi;
                lo = hi;
                Ok(r)
            })
            .collect()
    }
    fn err(&self, object: &str, message: impl Into<String>) -> ImportError {
        ImportError::Nwb {
            path: self.path.to_path_buf(),
            object: object.to_string(),
            message: message.into(),
        }
    }
    fn dataset(&self, g: &h5::Group, gname: &str, name: &str) -> Result<h5::Dataset, ImportError> {
        let obj = format!("{gname}/{name}");
        if !g.link_exists(name) {
            return Err(self.err(&obj, "missing dataset"));
        }
        g.dataset(name)
            .map_err(|e| self.err(&obj, format!("not a dataset: {e}")))
    }
    fn group(&self, f: &h5::Group, name: &str) -> Result<h5::Group, ImportError> {
        if !f.link_exists(name) {
            return Err(self.err(name, "missing group"));
        }
        f.group(name)
            .map_err(|e| self.err(name, format!("not a group: {e}")))
    }
    fn f64s(&self, g: &h5::Group, gname: &str, name: &str) -> Result<Vec<f64>, ImportError> {
        self.dataset(g, gname, name)?
            .read_raw::<f64>()
            .map_err(|e| self.err(&format!("{gname}/{name}"), format!("not numeric: {e}")))
    }
    fn i64s(&self, g: &h5::Group, gname: &str, name: &str) -> Result<Vec<i64>, ImportError> {
        self.dataset(g, gname, name)?
            .read_raw::<i64>()
            .map_err(|e| self.err(&format!("{gname}/{name}"), format!("not integer: {e}")))
    }
}

/// Stimulus keys of a column: numbers as their bits, strings as themselves.
fn stimulus_keys(
    c: &Ctx,
    g: &h5::Group,
    gname: &str,
    column: &str,
) -> Result<Vec<String>, ImportError> {
    let ds = c.dataset(g, gname, column)?;
    if let Ok(v) = ds.read_raw::<f64>() {
        return Ok(v.iter().map(|x| format!("{x:?}")).collect());
    }
    if let Ok(v) = ds.read_raw::<h5::types::VarLenUnicode>() {
        return Ok(v.iter().map(|s| s.as_str().to_string()).collect());
    }
    if let Ok(v) = ds.read_raw::<h5::types::VarLenAscii>() {
        return Ok(v.iter().map(|s| s.as_str().to_string()).collect());
    }
    Err(c.err(
        &format!("{gname}/{column}"),
        "the stimulus column is neither numeric nor a string column",
    ))
}

/// Read one session's per-stimulus responses.
pub(crate) fn read_session(path: &Path, src: &NwbSource) -> Result<Responses, ImportError> {
    let c = Ctx { path };
    let file = c.open()?;
    // The presentation intervals.
    let iname = format!("intervals/{}", src.intervals);
    let ig = c.group(&file, &iname)?;
    let start = c.f64s(&ig, &iname, "start_time")?;
    let stop = c.f64s(&ig, &iname, "stop_time")?;
    if start.len() != stop.len() || start.is_empty() {
        return Err(c.err(
            &iname,
            format!(
                "start_time has {} rows and stop_time {}: need the same number, at least one",
                start.len(),
                stop.len()
            ),
        ));
    }
    if let Some(i) = (0..start.len()).find(|&i| stop[i] <= start[i] || !start[i].is_finite()) {
        return Err(c.err(
            &iname,
            format!("row {i}: interval [{}, {}) is empty", start[i], stop[i]),
        ));
    }
    let keys = match &src.stimulus {
        Some(col) => {
            let k = stimulus_keys(&c, &ig, &iname, col)?;
            if k.len() != start.len() {
                return Err(c.err(
                    &format!("{iname}/{col}"),
                    format!("{} rows, the table has {}", k.len(), start.len()),
                ));
            }
            k
        }
        None => (0..start.len()).map(|i| i.to_string()).collect(),
    };
    // Per presentation × unit responses.
    let (per_pres, ids) = if src.responses == "units" {
        units_responses(&c, &file, &start, &stop)?
    } else {
        ophys_responses(&c, &file, &src.responses, &start, &stop)?
    };
    let u = ids.len();
    // Average presentations of the same stimulus, stimuli in order of first presentation.
    let mut order: Vec<&str> = Vec::new();
    let mut sums: Vec<(Vec<f64>, f64)> = Vec::new();
    for (p, k) in keys.iter().enumerate() {
        let s = match order.iter().position(|o| *o == k) {
            Some(s) => s,
            None => {
                order.push(k);
                sums.push((vec![0.0; u], 0.0));
                order.len() - 1
            }
        };
        for j in 0..u {
            sums[s].0[j] += per_pres[p * u + j];
        }
        sums[s].1 += 1.0;
    }
    let values: Vec<f64> = sums
        .iter()
        .flat_map(|(v, n)| v.iter().map(move |x| x / n))
        .collect();
    Ok((order.len(), u, values, ids))
}

/// The brain area of every unit, in `/units/id` order: the `location` of its electrodes
/// (`/units/electrodes` + `electrodes_index`, rows of `/general/extracellular_ephys/electrodes`).
/// A unit without electrodes, or whose electrodes lie in several locations, is an error.
pub(crate) fn unit_locations(path: &Path) -> Result<Vec<String>, ImportError> {
    let c = Ctx { path };
    let file = c.open()?;
    let g = c.group(&file, "units")?;
    let ids = c.i64s(&g, "units", "id")?;
    let rows = c.i64s(&g, "units", "electrodes")?;
    let index = c.i64s(&g, "units", "electrodes_index")?;
    let tname = "general/extracellular_ephys/electrodes";
    let t = c.group(&file, tname)?;
    let location = stimulus_keys(&c, &t, tname, "location")?;
    let ranges = c.ragged(&index, ids.len(), ("electrodes", rows.len(), "rows"))?;
    let mut out = Vec::with_capacity(ids.len());
    for (j, range) in ranges.into_iter().enumerate() {
        let mut locs: Vec<&str> = Vec::new();
        for &r in &rows[range] {
            let l = usize::try_from(r)
                .ok()
                .and_then(|r| location.get(r))
                .ok_or_else(|| {
                    c.err(
                        "units/electrodes",
                        format!(
                            "unit {}: electrode row {r} is not among the {} rows of /{tname}",
                            ids[j],
                            location.len()
                        ),
                    )
                })?;
            if !locs.contains(&l.as_str()) {
                locs.push(l);
            }
        }
        match locs[..] {
            [l] => out.push(l.to_string()),
            [] => {
                return Err(c.err(
                    "units/electrodes",
                    format!("unit {} has no electrode", ids[j]),
                ));
            }
            _ => {
                return Err(c.err(
                    "units/electrodes",
                    format!(
                        "unit {}'s electrodes lie in several locations ({}): list the layer's units by id instead",
                        ids[j],
                        locs.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(out)
}

fn units_responses(
    c: &Ctx,
    file: &h5::File,
    start: &[f64],
    stop: &[f64],
) -> Result<(Vec<f64>, Vec<i64>), ImportError> {
    let g = c.group(file, "units")?;
    let ids = c.i64s(&g, "units", "id")?;
    let times = c.f64s(&g, "units", "spike_times")?;
    let index = c.i64s(&g, "units", "spike_times_index")?;
    let ranges = c.ragged(&index, ids.len(), ("spike_times", times.len(), "spikes"))?;
    let mut per_pres = vec![0.0; start.len() * ids.len()];
    for (j, range) in ranges.into_iter().enumerate() {
        let spikes = &times[range];
        for (p, (&a, &b)) in start.iter().zip(stop).enumerate() {
            let n = spikes.iter().filter(|&&t| t >= a && t < b).count();
            per_pres[p * ids.len() + j] = n as f64 / (b - a);
        }
    }
    Ok((per_pres, ids))
}

fn ophys_responses(
    c: &Ctx,
    file: &h5::File,
    series: &str,
    start: &[f64],
    stop: &[f64],
) -> Result<(Vec<f64>, Vec<i64>), ImportError> {
    let g = c.group(file, series)?;
    let ds = c.dataset(&g, series, "data")?;
    let shape = ds.shape();
    let (t, r) = match shape[..] {
        [t] => (t, 1),
        [t, r] => (t, r),
        _ => {
            return Err(c.err(
                &format!("{series}/data"),
                format!("shape {shape:?}: expected [time × rois]"),
            ));
        }
    };
    let data = c.f64s(&g, series, "data")?;
    let ts: Vec<f64> = if g.link_exists("timestamps") {
        c.f64s(&g, series, "timestamps")?
    } else if g.link_exists("starting_time") {
        let st = c.dataset(&g, series, "starting_time")?;
        let t0 = st.read_scalar::<f64>().map_err(|e| {
            c.err(
                &format!("{series}/starting_time"),
                format!("not a number: {e}"),
            )
        })?;
        let rate = st
            .attr("rate")
            .and_then(|a| a.read_scalar::<f64>())
            .map_err(|e| {
                c.err(
                    &format!("{series}/starting_time"),
                    format!("no `rate` attribute: {e}"),
                )
            })?;
        (0..t).map(|i| t0 + i as f64 / rate).collect()
    } else {
        return Err(c.err(
            series,
            "neither `timestamps` nor `starting_time` (+ `rate`)",
        ));
    };
    if ts.len() != t {
        return Err(c.err(
            &format!("{series}/timestamps"),
            format!("{} timestamps for {t} samples", ts.len()),
        ));
    }
    let mut per_pres = vec![0.0; start.len() * r];
    for (p, (&a, &b)) in start.iter().zip(stop).enumerate() {
        let inside: Vec<usize> = (0..t).filter(|&i| ts[i] >= a && ts[i] < b).collect();
        if inside.is_empty() {
            return Err(c.err(
                &format!("{series}/data"),
                format!("no sample in presentation {p} [{a}, {b})"),
            ));
        }
        for j in 0..r {
            let s: f64 = inside.iter().map(|&i| data[i * r + j]).sum();
            per_pres[p * r + j] = s / inside.len() as f64;
        }
    }
    Ok((per_pres, (0..r as i64).collect()))
}
