//! The random forest and the linear SVM as linfa estimators, so Rust users can use them where
//! linfa's own are used: the parameter structs implement [`linfa::traits::Fit`] on a
//! [`linfa::DatasetBase`] of f64 records and `usize` class targets, and the fitted models
//! implement [`linfa::traits::PredictInplace`] (and so, through linfa's blanket impls,
//! `Predict` on arrays and data sets).
//!
//! ```
//! use linfa::traits::{Fit, Predict};
//! use lrx::classify::forest::ForestParams;
//! use ndarray::{Array1, array};
//!
//! let x = array![[0.0, 0.1], [0.2, 0.0], [1.0, 0.9], [0.9, 1.1]];
//! let data = linfa::Dataset::new(x.clone(), Array1::from(vec![0usize, 0, 1, 1]));
//! let forest = ForestParams { n_trees: 20, ..Default::default() }.fit(&data)?;
//! // (`forest.predict` is the model's own method, on a view, returning a `Result`.)
//! let predicted: Array1<usize> = Predict::predict(&forest, &x);
//! assert_eq!(predicted.to_vec(), vec![0, 0, 1, 1]);
//! # Ok::<(), lrx::classify::error::ClassifyError>(())
//! ```
//!
//! Classes are the targets' values 0..k, with k one more than the largest target. Prediction
//! has no error channel in linfa's traits: rows of the wrong width or with non-finite values,
//! which the models' own `predict` refuse with an error, panic with that error's message.

use super::error::{ClassifyError, Result};
use super::forest::{ForestParams, RandomForest};
use super::svm::{LinearSvc, SvcParams};
use linfa::dataset::DatasetBase;
use linfa::traits::{Fit, PredictInplace};
use ndarray::{Array1, ArrayBase, Data, Ix1, Ix2};

/// The targets as class indices and the class count (one more than the largest).
fn classes<T: Data<Elem = usize>>(y: &ArrayBase<T, Ix1>) -> (Vec<usize>, usize) {
    let y: Vec<usize> = y.iter().copied().collect();
    let k = y.iter().max().map_or(0, |m| m + 1);
    (y, k)
}

impl<D, T> Fit<ArrayBase<D, Ix2>, ArrayBase<T, Ix1>, ClassifyError> for ForestParams
where
    D: Data<Elem = f64>,
    T: Data<Elem = usize>,
{
    type Object = RandomForest;

    fn fit(
        &self,
        data: &DatasetBase<ArrayBase<D, Ix2>, ArrayBase<T, Ix1>>,
    ) -> Result<RandomForest> {
        let (y, k) = classes(&data.targets);
        RandomForest::fit(data.records.view(), &y, k, self)
    }
}

impl<D, T> Fit<ArrayBase<D, Ix2>, ArrayBase<T, Ix1>, ClassifyError> for SvcParams
where
    D: Data<Elem = f64>,
    T: Data<Elem = usize>,
{
    type Object = LinearSvc;

    fn fit(&self, data: &DatasetBase<ArrayBase<D, Ix2>, ArrayBase<T, Ix1>>) -> Result<LinearSvc> {
        let (y, k) = classes(&data.targets);
        LinearSvc::fit(data.records.view(), &y, k, self)
    }
}

/// Writes `predicted` into `y`, or panics with the model's error (see the module doc).
fn fill(y: &mut Array1<usize>, predicted: Result<Vec<usize>>) {
    match predicted {
        Ok(p) => {
            assert_eq!(y.len(), p.len(), "target length");
            y.iter_mut().zip(p).for_each(|(a, b)| *a = b);
        }
        Err(e) => panic!("{e}"),
    }
}

impl<D: Data<Elem = f64>> PredictInplace<ArrayBase<D, Ix2>, Array1<usize>> for RandomForest {
    fn predict_inplace(&self, x: &ArrayBase<D, Ix2>, y: &mut Array1<usize>) {
        fill(y, self.predict(x.view()));
    }

    fn default_target(&self, x: &ArrayBase<D, Ix2>) -> Array1<usize> {
        Array1::zeros(x.nrows())
    }
}

impl<D: Data<Elem = f64>> PredictInplace<ArrayBase<D, Ix2>, Array1<usize>> for LinearSvc {
    fn predict_inplace(&self, x: &ArrayBase<D, Ix2>, y: &mut Array1<usize>) {
        fill(y, self.predict(x.view()));
    }

    fn default_target(&self, x: &ArrayBase<D, Ix2>) -> Array1<usize> {
        Array1::zeros(x.nrows())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use linfa::traits::Predict;
    use ndarray::Array2;
    use rand::{Rng, SeedableRng};

    /// Three Gaussian blobs in 4 dimensions, 30 rows each.
    fn blobs() -> (Array2<f64>, Array1<usize>) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut x = Array2::zeros((90, 4));
        let mut y = Array1::zeros(90);
        for i in 0..90 {
            let c = i % 3;
            y[i] = c;
            for j in 0..4 {
                let centre = if j == c { 3.0 } else { 0.0 };
                x[[i, j]] = centre + rng.random_range(-1.0..1.0);
            }
        }
        (x, y)
    }

    /// Fitting and predicting through linfa's traits gives what the models' own API gives,
    /// on owned data and on views.
    #[test]
    fn estimators_fit_and_predict_through_linfa_traits() {
        let (x, y) = blobs();
        let data = linfa::Dataset::new(x.clone(), y.clone());
        let yv: Vec<usize> = y.to_vec();

        let params = ForestParams {
            n_trees: 25,
            ..Default::default()
        };
        let rf = params.fit(&data).unwrap();
        let direct = RandomForest::fit(x.view(), &yv, 3, &params).unwrap();
        let via: Array1<usize> = Predict::predict(&rf, &x);
        assert_eq!(via.to_vec(), direct.predict(x.view()).unwrap());
        let correct = via.iter().zip(&y).filter(|(a, b)| a == b).count();
        assert!(correct >= 85, "{correct}/90");
        let view = DatasetBase::new(x.view(), y.view());
        let rf_view = params.fit(&view).unwrap();
        let again: Array1<usize> = Predict::predict(&rf_view, &x);
        assert_eq!(again, via);

        let svc = SvcParams::with_c(1.0).fit(&data).unwrap();
        let direct = LinearSvc::fit(x.view(), &yv, 3, &SvcParams::with_c(1.0)).unwrap();
        let via: Array1<usize> = Predict::predict(&svc, &x);
        assert_eq!(via.to_vec(), direct.predict(x.view()).unwrap());
        let correct = via.iter().zip(&y).filter(|(a, b)| a == b).count();
        assert!(correct >= 85, "{correct}/90");
        // Predicting on owned records returns a data set with the predicted targets.
        let out: DatasetBase<Array2<f64>, Array1<usize>> = Predict::predict(&svc, x.clone());
        assert_eq!(out.targets.to_vec(), via.to_vec());
        // A bad parameter is the model's own error.
        let bad = SvcParams::with_c(-1.0).fit(&data);
        assert!(bad.is_err());
    }
}
