//! `vitscape bench`: cells per second and achieved GFLOP/s of a fixed tiny ViT on a fixed eval
//! set, for each available burn backend. Figures go to BENCHMARKS.md with the command and machine.

use std::time::Instant;

use anyhow::Result;
use clap::Args;

use vitscape::io::checkpoint::LoadedCheckpoint;
use vitscape::io::data::ImageSet;
use vitscape::landscape::objective::{Evaluator, GradientMethod, MaskNoise, Objective};
use vitscape::landscape::setup::Model;
use vitscape::landscape::sweep::{self, Control};
use vitscape::model::arch::{DecoderConfig, Head, VitConfig};
use vitscape::model::random_state;

use super::DeviceChoice;

/// Flags of `vitscape bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Backends to measure (default: flex, plus ndarray and wgpu when built with them).
    #[arg(long, value_enum, num_args = 1..)]
    pub devices: Vec<DeviceChoice>,
    /// Images per cell.
    #[arg(long, default_value_t = 256)]
    pub images: usize,
    /// Cells timed per backend (after one warm-up cell).
    #[arg(long, default_value_t = 10)]
    pub cells: usize,
    /// Images per forward pass.
    #[arg(long, default_value_t = 128)]
    pub batch_size: usize,
    /// Grid cells evaluated together in one forward pass (K weight sets, batched matmuls); each
    /// value is measured in turn.
    #[arg(long, num_args = 1.., default_values_t = [1, 8])]
    pub cells_per_forward: Vec<usize>,
    /// Threads computing cells at once, as `vitscape sweep --threads` (default: 1 and one per
    /// core); each value is measured in turn.
    #[arg(long, num_args = 1..)]
    pub threads: Vec<usize>,
    /// Also time this many gradients of the MAE loss (what each Hessian-vector product of
    /// `vitscape curvature` takes four of) on the bench model with the demo's MAE decoder, fused
    /// and by burn's autodiff, on one thread (0: skip).
    #[arg(long, default_value_t = 0)]
    pub gradients: usize,
}

/// The bench model with the demo MAE-ViT's decoder (`vitscape train` defaults: width 64, depth
/// 2, 2 heads, MLP 256).
pub fn bench_mae_config() -> VitConfig {
    VitConfig {
        head: None,
        decoder: Some(DecoderConfig {
            embed_dim: 64,
            depth: 2,
            num_heads: 2,
            mlp_hidden: 256,
            qkv_bias: true,
        }),
        ..bench_config()
    }
}

/// The benchmark model: 28×28 greyscale, patch 7, width 64, depth 4, 4 heads, MLP 256, cls token.
pub fn bench_config() -> VitConfig {
    VitConfig {
        head: Some(Head::Linear { num_classes: 10 }),
        ..VitConfig::standard(28, 7, 1, 64, 4, 4)
    }
}

/// `vitscape bench`.
pub fn run(args: BenchArgs) -> Result<()> {
    let config = bench_config();
    let state = random_state(&config, 0);
    let model = Model::new(
        LoadedCheckpoint {
            state,
            sha256: String::new(),
            branch: None,
            skipped: Vec::new(),
            source: None,
        },
        Default::default(),
    )?;
    // Deterministic pseudo-images and labels: the cost does not depend on pixel values.
    let n = args.images;
    let pixels: Vec<f32> = (0..n * 28 * 28)
        .map(|i| ((i * 7919) % 255) as f32 / 255.0 - 0.5)
        .collect();
    let images = ImageSet {
        pixels,
        labels: Some((0..n).map(|i| (i % 10) as i64).collect()),
        class_names: Vec::new(),
        n,
        c: 1,
        h: 28,
        w: 28,
    };
    let d1 = vitscape::landscape::directions::gaussian(&model.layout, 1, 0);
    let d2 = vitscape::landscape::directions::gaussian(&model.layout, 1, 1);
    let mut devices = args.devices.clone();
    if devices.is_empty() {
        devices = vec![DeviceChoice::Flex];
        if cfg!(feature = "ndarray") {
            devices.push(DeviceChoice::Ndarray);
        }
        if cfg!(feature = "wgpu") {
            devices.push(DeviceChoice::Wgpu);
        }
    }
    let flops_per_cell = config.flops_per_image() * n as f64;
    println!(
        "model: ViT 28×28/7, D=64, depth 4, heads 4, MLP 256 ({} parameters); {n} images per cell, batch {}; {:.1} MFLOP per cell",
        model.layout.total,
        args.batch_size,
        flops_per_cell / 1e6
    );
    let mut threads = args.threads.clone();
    if threads.is_empty() {
        threads = vec![
            1,
            std::thread::available_parallelism().map_or(1, usize::from),
        ];
        threads.dedup();
    }
    println!(
        "| backend | cells per forward | threads | cells/s | ms/cell | GFLOP/s | first forward (ms) |"
    );
    println!("|---|---|---|---|---|---|---|");
    for choice in devices {
        let device = match choice.device() {
            Ok(d) => d,
            Err(e) => {
                println!("| {choice:?} | | | unavailable: {e} | | | |");
                continue;
            }
        };
        let evaluator = Evaluator::new(
            &device,
            config,
            &model.theta,
            &[d1.clone(), d2.clone()],
            Default::default(),
            &images,
            Objective::Classification,
            args.batch_size,
            None,
        )?;
        for &k in &args.cells_per_forward {
            let k = k.max(1);
            let points = |start: usize| -> Vec<Vec<f64>> {
                (start..start + k)
                    .map(|i| {
                        let a = i as f64 / args.cells.max(1) as f64 - 0.5;
                        vec![a, -a]
                    })
                    .collect()
            };
            let t0 = Instant::now();
            evaluator.eval_many(&points(0))?;
            let first_ms = t0.elapsed().as_secs_f64() * 1e3;
            let rounds = args.cells.div_ceil(k).max(1);
            for &t in &threads {
                // GPUs run one stream of forward passes.
                if t > 1 && choice == DeviceChoice::Wgpu {
                    continue;
                }
                let chunks: Vec<Vec<Vec<f64>>> = (0..rounds).map(|r| points(r * k)).collect();
                let t0 = Instant::now();
                sweep::eval_parallel(&evaluator, &chunks, k, t, &mut |_, _| Control::Continue)?;
                let secs = t0.elapsed().as_secs_f64();
                let cps = (rounds * k) as f64 / secs;
                println!(
                    "| {} | {k} | {t} | {cps:.2} | {:.1} | {:.2} | {first_ms:.0} |",
                    format!("{choice:?}").to_lowercase(),
                    1e3 / cps,
                    flops_per_cell * cps / 1e9
                );
            }
        }
    }
    if args.gradients > 0 {
        bench_gradients(&images, &args)?;
    }
    Ok(())
}

/// Gradients per second of the MAE loss (mask ratio 0.75, normalised pixels, fixed masks) on
/// [`bench_mae_config`], each method in turn on this thread, after one warm-up gradient each;
/// the two gradients' largest difference relative to the largest entry is printed with them.
fn bench_gradients(images: &ImageSet, args: &BenchArgs) -> Result<()> {
    let config = bench_mae_config();
    let layout = vitscape::model::Layout::new(&config);
    let theta = layout.take(&mut random_state(&config, 0))?;
    let evaluator = Evaluator::new(
        &burn::tensor::Device::flex(),
        config,
        &theta,
        &[],
        Default::default(),
        images,
        Objective::Mae {
            mask_ratio: 0.75,
            norm_pix_loss: true,
            noise: MaskNoise::seeded(images.n, config.num_patches(), 0),
        },
        args.batch_size,
        None,
    )?;
    println!(
        "\nMAE loss gradients, bench model + decoder 64 × 2 ({} parameters), {} images, batch {}, one thread:",
        layout.total, images.n, args.batch_size
    );
    println!("| gradient | gradients/s | ms/gradient |");
    println!("|---|---|---|");
    let mut seen = Vec::new();
    for (name, method) in [
        ("fused (hand-written backward)", GradientMethod::Fused),
        ("burn autodiff", GradientMethod::Autodiff),
    ] {
        let point = |i: usize| -> Vec<f32> {
            theta
                .iter()
                .enumerate()
                .map(|(j, t)| t + 1e-4 * (((i * 31 + j) % 17) as f32 - 8.0))
                .collect()
        };
        let g = pollster::block_on(evaluator.gradient_by(&point(0), method))?;
        let t0 = Instant::now();
        for i in 1..=args.gradients {
            pollster::block_on(evaluator.gradient_by(&point(i), method))?;
        }
        let secs = t0.elapsed().as_secs_f64();
        let per_s = args.gradients as f64 / secs;
        println!("| {name} | {per_s:.2} | {:.1} |", 1e3 / per_s);
        seen.push(g);
    }
    let scale = seen[1].iter().fold(0.0_f32, |m, g| m.max(g.abs()));
    let worst = seen[0]
        .iter()
        .zip(&seen[1])
        .fold(0.0_f32, |m, (a, b)| m.max((a - b).abs()));
    println!(
        "largest difference between the two gradients: {:.1e} of the largest entry",
        worst / scale.max(f32::MIN_POSITIVE)
    );
    Ok(())
}
