use super::*;

/// Two orthonormal vectors in R^p with mass spread over many entries.
fn basis(p: usize) -> (Vec<f64>, Vec<f64>) {
    let raw1: Vec<f64> = (0..p).map(|t| ((t as f64) * 0.37).sin() + 0.2).collect();
    let raw2: Vec<f64> = (0..p).map(|t| ((t as f64) * 0.91).cos() - 0.1).collect();
    let n1 = raw1.iter().map(|v| v * v).sum::<f64>().sqrt();
    let e1: Vec<f64> = raw1.iter().map(|v| v / n1).collect();
    let dot: f64 = raw2.iter().zip(&e1).map(|(a, b)| a * b).sum();
    let ortho: Vec<f64> = raw2.iter().zip(&e1).map(|(a, b)| a - dot * b).collect();
    let n2 = ortho.iter().map(|v| v * v).sum::<f64>().sqrt();
    (e1, ortho.iter().map(|v| v / n2).collect())
}

fn rows(e1: &[f64], e2: &[f64], a: &[f64], b: &[f64]) -> Vec<Vec<f32>> {
    a.iter()
        .zip(b)
        .map(|(ai, bi)| {
            e1.iter()
                .zip(e2)
                .map(|(x, y)| (ai * x + bi * y) as f32)
                .collect()
        })
        .collect()
}

fn cos(a: &[f32], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| f64::from(*x) * y).sum();
    let na = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    dot / (na * nb)
}

fn variance(v: &[f64]) -> f64 {
    let m = v.iter().sum::<f64>() / v.len() as f64;
    v.iter().map(|x| (x - m).powi(2)).sum()
}

/// A run that moves in a plane: PCA finds its axes (the wider spread first), the two ratios are
/// the spreads' shares and add to 1, and the coordinates rebuild every row.
#[test]
fn a_run_in_a_plane_is_recovered_with_its_variance_shares() {
    let p = 300;
    let (e1, e2) = basis(p);
    // Along e1 the run spreads widely; along e2 it curves, uncorrelated with a (Σ (aᵢ − ā)(bᵢ − b̄)
    // is 0 for these values), so the axes are e1 and e2 themselves.
    let a = [-4.0, -3.0, -2.0, -1.0, 0.0];
    let b = [0.5, -0.5, -0.6, 0.5, 0.0];
    let pca = pca(&rows(&e1, &e2, &a, &b), 2).unwrap();
    assert!(cos(&pca.components[0], &e1).abs() > 1.0 - 1e-6);
    assert!(cos(&pca.components[1], &e2).abs() > 1.0 - 1e-6);
    let (va, vb) = (variance(&a), variance(&b));
    let want = [va / (va + vb), vb / (va + vb)];
    for (got, want) in pca.explained_variance_ratio.iter().zip(want) {
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    }
    for (i, c) in pca.coords.iter().enumerate() {
        let s1 = cos(&pca.components[0], &e1).signum();
        let s2 = cos(&pca.components[1], &e2).signum();
        assert!((c[0] - s1 * a[i]).abs() < 1e-5, "row {i}: {c:?}");
        assert!((c[1] - s2 * b[i]).abs() < 1e-5, "row {i}: {c:?}");
    }
    // The last row is θ* itself: the origin.
    assert!(pca.coords[4].iter().all(|c| c.abs() < 1e-6));
    // Signs: each component's largest entry is positive.
    for v in &pca.components {
        let largest = v.iter().copied().max_by(|x, y| x.abs().total_cmp(&y.abs()));
        assert!(largest.unwrap() > 0.0);
        let norm = v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() < 1e-6);
    }
}

/// Noise off the plane takes its share of the variance from the two components.
#[test]
fn movement_off_the_plane_lowers_the_explained_share() {
    let p = 200;
    let (e1, e2) = basis(p);
    let mut series = rows(
        &e1,
        &e2,
        &[-3.0, -2.0, -1.0, 0.5, 0.0],
        &[1.0, -1.0, 0.7, -0.3, 0.0],
    );
    // A third orthogonal-ish wiggle on one row.
    for (t, v) in series[2].iter_mut().enumerate() {
        *v += if t % 7 == 0 { 0.05 } else { 0.0 };
    }
    let pca = pca(&series, 2).unwrap();
    let explained: f64 = pca.explained_variance_ratio.iter().sum();
    assert!(explained < 1.0 - 1e-6 && explained > 0.9, "{explained}");
    assert!(pca.explained_variance_ratio[0] >= pca.explained_variance_ratio[1]);
}

#[test]
fn too_few_uneven_non_finite_and_degenerate_series_are_refused() {
    let row = |v: f32| vec![v, 2.0 * v, -v];
    assert_eq!(
        pca(&[row(1.0), row(0.0)], 2),
        Err(TrajectoryError::TooFew(2))
    );
    assert_eq!(
        pca(&[row(1.0), vec![1.0], row(0.0)], 2),
        Err(TrajectoryError::Length {
            index: 2,
            found: 1,
            expected: 3
        })
    );
    assert_eq!(
        pca(&[row(1.0), row(f32::NAN), row(0.0)], 2),
        Err(TrajectoryError::NonFinite(2))
    );
    // Every row on one line through the origin: one direction of movement.
    assert_eq!(
        pca(&[row(2.0), row(1.0), row(0.0)], 2),
        Err(TrajectoryError::Degenerate(1))
    );
    // The same point three times: none.
    assert_eq!(
        pca(&[row(1.0), row(1.0), row(1.0)], 2),
        Err(TrajectoryError::Degenerate(0))
    );
}

fn file_with(axis: &TrajectoryAxis) -> StateDict {
    let mut sd = StateDict::default();
    sd.metadata
        .insert(METADATA_KEY.into(), serde_json::to_string(axis).unwrap());
    sd
}

#[test]
fn two_components_of_one_run_make_a_path_and_others_do_not() {
    let members: Vec<Member> = (1..=3)
        .map(|e| Member {
            name: format!("run-e{e:03}.safetensors"),
            sha256: format!("{e:064x}"),
        })
        .collect();
    let series = series_id(&members, &members[2].sha256);
    let x = TrajectoryAxis {
        series: series.clone(),
        component: 1,
        explained_variance_ratio: 0.8,
        members: members.clone(),
        coords: vec![-2.0, -1.0, 0.0],
    };
    let y = TrajectoryAxis {
        component: 2,
        explained_variance_ratio: 0.15,
        coords: vec![0.5, -0.5, 0.0],
        ..x.clone()
    };
    let path = path_of(&file_with(&x), &file_with(&y)).unwrap().unwrap();
    assert_eq!(path.explained_variance_ratio, [0.8, 0.15]);
    assert_eq!(path.points.len(), 3);
    assert_eq!(path.points[1].alpha, -1.0);
    assert_eq!(path.points[1].beta, -0.5);
    assert_eq!(path.points[1].name, "run-e002.safetensors");

    // Another run's component, the same component twice, or a plain direction file: no path.
    let other = TrajectoryAxis {
        series: series_id(&members, &members[0].sha256),
        ..y.clone()
    };
    assert_eq!(path_of(&file_with(&x), &file_with(&other)).unwrap(), None);
    assert_eq!(path_of(&file_with(&x), &file_with(&x)).unwrap(), None);
    assert_eq!(
        path_of(&file_with(&x), &StateDict::default()).unwrap(),
        None
    );

    // Metadata that is not a trajectory, or whose counts disagree, is named.
    let mut garbage = StateDict::default();
    garbage
        .metadata
        .insert(METADATA_KEY.into(), "{\"series\": 3".into());
    let err = path_of(&file_with(&x), &garbage).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("direction file y: metadata `trajectory`"),
        "{err}"
    );
    let short = TrajectoryAxis {
        coords: vec![1.0],
        ..y
    };
    let err = path_of(&file_with(&short), &file_with(&x)).unwrap_err();
    assert!(
        err.to_string().contains("1 coordinates for 3 checkpoints"),
        "{err}"
    );
}

#[test]
fn the_range_covers_the_path_and_the_centre_with_room() {
    // Span 3.7: steps of 0.1, 0.74 to spare on each side.
    assert_eq!(covering([-3.7, -1.0, 0.0].into_iter()), "-4.5:0.8:21");
    // Span 0.9 (0 is in it): steps of 0.01.
    assert_eq!(covering([0.2, 0.9].into_iter()), "-0.18:1.08:21");
    assert_eq!(covering([2.7].into_iter()), "-0.6:3.3:21");
    let empty = covering(std::iter::empty());
    assert!(empty.starts_with('-') && empty.ends_with(":21"), "{empty}");
}
