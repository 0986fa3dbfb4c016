//! [`Task::TrainBend`] in the worker: the library's [`connect::train_bend`] on each path panel's
//! images, its progress a few times a second, and the control point's file written by
//! [`connect::bend_file`] — the same steps and file as `vitscape connect --train-on eval`.

use super::{Files, now_seconds, post, spec_files};

use crate::connect::{self, BendConfig, BendRecord, BendStep, RecentLoss};
use crate::error::Error;
use crate::landscape::job::Started;
use crate::landscape::setup::Model;
use crate::protocol::{FromWorker, PanelRequest};
use crate::spec::DirectionSource;

/// Seconds between two progress messages.
const PROGRESS_EVERY: f64 = 0.25;

/// Train the control point of panel `index` (prepared with `train_batch` images per batch) and
/// send it; the error names what went wrong.
#[allow(clippy::too_many_arguments)]
pub(super) async fn train_one(
    job: u64,
    t0: f64,
    index: usize,
    panel: &PanelRequest,
    started: &Started,
    model: &Model,
    files: &mut Files,
    config: BendConfig,
    train_batch: usize,
) -> Result<(), String> {
    // The panel as the page sent it (the worker prepared it with `train_batch` per batch).
    let spec = &panel.spec;
    let DirectionSource::Interpolate { target } = &spec.directions.source else {
        return Err(format!(
            "{}: a Bézier curve joins two checkpoints, and this panel is not a straight path between two",
            panel.label
        ));
    };
    let end = spec_files(panel, files)?
        .target
        .ok_or_else(|| format!("{}: the path's end checkpoint did not come", panel.label))?;
    let batches = started.prepared.evaluator.minibatches();
    let mut last_post = now_seconds();
    let mut recent = RecentLoss::default();
    let progress = |k: usize, step: BendStep| {
        let loss = recent.push(step.loss);
        let now = now_seconds();
        if now - last_post >= PROGRESS_EVERY || k + 1 == config.steps {
            last_post = now;
            post(
                &FromWorker::BendProgress {
                    job,
                    panel: index,
                    done: k + 1,
                    loss,
                    elapsed: now - t0,
                },
                &[],
            );
        }
    };
    let result = async {
        let bend =
            connect::train_bend(&batches, &model.theta, &end.theta, &config, progress).await?;
        let record = BendRecord {
            final_loss: bend.final_loss(0.1),
            ..BendRecord::new(
                spec,
                target.clone(),
                spec.data.clone(),
                train_batch,
                config,
                connect::connect_command(spec, &config, train_batch, "connect")?,
            )
        };
        let bytes = connect::bend_file(&model.layout, &bend.theta, &record)?;
        Ok::<_, Error>((record, bytes))
    }
    .await;
    let (record, bytes) = result.map_err(|e| format!("{}: {e}", panel.label))?;
    post(
        &FromWorker::Bend {
            job,
            panel: index,
            record: Box::new(record),
            sha256: crate::io::checkpoint::sha256_hex(&bytes),
            elapsed: now_seconds() - t0,
        },
        &[&bytes],
    );
    Ok(())
}
