use super::*;
use crate::classify::testutil::synthetic;

#[test]
fn max_features_resolve_like_sklearn() {
    assert_eq!(MaxFeatures::Sqrt.resolve(507).unwrap(), 22);
    assert_eq!(MaxFeatures::Log2.resolve(507).unwrap(), 8);
    assert_eq!(MaxFeatures::All.resolve(507).unwrap(), 507);
    assert_eq!(MaxFeatures::Sqrt.resolve(1).unwrap(), 1);
    assert!(MaxFeatures::Count(600).resolve(507).is_err());
}

#[test]
fn fits_seeded_with_normalized_tree_importances() {
    let (x, y) = synthetic(300, 12, 3, 5);
    let p = ForestParams {
        n_trees: 12,
        seed: 4,
        ..Default::default()
    };
    let f = RandomForest::fit(x.view(), &y, 3, &p).unwrap();
    let imp = f.tree_importances();
    assert_eq!(imp.dim(), (12, 12));
    for r in imp.rows() {
        assert!((r.sum() - 1.0).abs() < 1e-9);
        assert!(r.iter().all(|&v| v >= 0.0));
    }
    let fi = f.feature_importances();
    assert!((fi.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    // unlimited depth on distinct rows: (almost) perfect on the training data
    let pred = f.predict(x.view()).unwrap();
    let acc = pred.iter().zip(&y).filter(|(a, b)| a == b).count() as f64 / 300.0;
    assert!(acc > 0.97, "train accuracy {acc}");
    let g = RandomForest::fit(x.view(), &y, 3, &p).unwrap();
    assert_eq!(f, g);
    let h = RandomForest::fit(
        x.view(),
        &y,
        3,
        &ForestParams {
            seed: 5,
            ..p.clone()
        },
    )
    .unwrap();
    assert_ne!(f.tree_importances(), h.tree_importances());
    let pr = f.predict_proba(x.view()).unwrap();
    assert!(pr.rows().into_iter().all(|r| (r.sum() - 1.0).abs() < 1e-9));
}

#[test]
fn single_tree_without_bootstrap_separates_a_threshold() {
    // class 1 iff x0 > 0.5; x1 is noise, x2 constant
    let x = ndarray::Array2::from_shape_fn((40, 3), |(i, j)| match j {
        0 => i as f64 / 40.0,
        1 => ((i * 7) % 11) as f64,
        _ => 1.0,
    });
    let y: Vec<usize> = (0..40)
        .map(|i| usize::from(i as f64 / 40.0 > 0.5))
        .collect();
    let p = ForestParams {
        n_trees: 1,
        max_features: MaxFeatures::All,
        bootstrap: false,
        ..Default::default()
    };
    let f = RandomForest::fit(x.view(), &y, 2, &p).unwrap();
    assert_eq!(f.trees()[0].n_nodes(), 3);
    let imp = f.tree_importances();
    assert_eq!(imp.row(0).to_vec(), vec![1.0, 0.0, 0.0]);
    let t = ndarray::array![[0.49, 0.0, 1.0], [0.52, 3.0, 1.0]];
    assert_eq!(f.predict(t.view()).unwrap(), vec![0, 1]);
    let depth1 = ForestParams {
        max_depth: Some(1),
        ..p
    };
    assert_eq!(
        RandomForest::fit(x.view(), &y, 2, &depth1).unwrap().trees()[0].n_nodes(),
        3
    );
}

#[test]
fn invalid_inputs_give_errors() {
    let (x, y) = synthetic(20, 4, 2, 1);
    let bad = ForestParams {
        n_trees: 0,
        ..Default::default()
    };
    assert!(matches!(
        RandomForest::fit(x.view(), &y, 2, &bad),
        Err(ClassifyError::InvalidParam { .. })
    ));
    assert!(RandomForest::fit(x.view(), &y[..10], 2, &ForestParams::default()).is_err());
    assert!(RandomForest::fit(x.view(), &y, 1, &ForestParams::default()).is_err());
    let mut xn = x.clone();
    xn[[0, 0]] = f64::NAN;
    assert!(matches!(
        RandomForest::fit(xn.view(), &y, 2, &ForestParams::default()),
        Err(ClassifyError::NonFinite(_))
    ));
    let f = RandomForest::fit(x.view(), &y, 2, &ForestParams::default()).unwrap();
    assert!(f.predict(x.slice(ndarray::s![.., ..3])).is_err());
}

#[test]
fn presorted_and_per_node_sorting_grow_identical_trees() {
    let (x, y) = synthetic(250, 9, 3, 6);
    // duplicated values exercise ties
    let x = x.mapv(|v| (v * 3.0).round() / 3.0);
    for mf in [MaxFeatures::All, MaxFeatures::Count(3), MaxFeatures::Sqrt] {
        let p = ForestParams {
            n_trees: 6,
            max_features: mf,
            seed: 2,
            ..Default::default()
        };
        let a = RandomForest::fit_impl(x.view(), &y, 3, &p, Some(true)).unwrap();
        let b = RandomForest::fit_impl(x.view(), &y, 3, &p, Some(false)).unwrap();
        assert_eq!(a, b, "{mf:?}");
    }
}

#[test]
fn f32_keys_preserve_order() {
    let v = [-3.5f32, -1e-30, -0.0, 0.0, 1e-30, 2.0, f32::MAX];
    for w in v.windows(2) {
        assert!(f32_key(w[0]) <= f32_key(w[1]));
    }
    for &a in &v {
        assert_eq!(key_f32(f32_key(a)).to_bits(), a.to_bits());
    }
}
