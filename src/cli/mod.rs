//! Command-line front end (native only): parses flags into a `SweepSpec`, loads files, runs the
//! core and writes outputs. Errors are reported once, here, with `anyhow` context.

mod bench;
mod connect;
mod curvature;
mod demo;
mod figure;
mod load;
mod locate;
mod merge;
mod plots;
mod sweep;
mod train;
mod trajectory;
mod verdict;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Loss landscapes of Vision Transformers.
#[derive(Parser, Debug)]
#[command(name = "vitscape", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Compute a 1-D or 2-D loss landscape around a checkpoint.
    Sweep(Box<sweep::SweepArgs>),
    /// Hessian eigenvalues, trace, spectral density, convexity map and max-eigenvalue spectrum.
    Curvature(Box<curvature::CurvatureArgs>),
    /// Join the parts of a sharded sweep (`sweep --shard K/N`) into one surface.
    Merge(merge::MergeArgs),
    /// How far each sweep or shard folder is, with an ETA.
    Status(merge::StatusArgs),
    /// Show the architecture vitscape infers from a checkpoint.
    Inspect(sweep::InspectArgs),
    /// Train a ViT (supervised, MAE, RC-MAE, fine-tuning, linear probing) on Fashion-MNIST.
    Train(Box<train::TrainArgs>),
    /// Pack the trained demo models into static/demo with the eval subset and a manifest.
    DemoPack(demo::DemoPackArgs),
    /// Several surfaces as one figure for a paper: side by side on one colour scale, with a
    /// caption, as PNG (300 dpi) and SVG.
    Figure(figure::FigureArgs),
    /// The PCA plane of a training run's checkpoints (Li et al. §7) as two direction files that
    /// carry the run's path, for `sweep --directions`.
    Trajectory(trajectory::TrajectoryArgs),
    /// Mode connectivity: train a Bézier curve's control point between two checkpoints, then
    /// sweep the straight line and the curve and draw the loss and accuracy along both, with
    /// their barriers (Garipov et al. 2018).
    Connect(Box<connect::ConnectArgs>),
    /// Sweep the demo models over several direction seeds and write the demo verdict.
    Verdict(verdict::VerdictArgs),
    /// Measure cells per second and GFLOP/s on the available backends.
    Bench(bench::BenchArgs),
}

/// Entry point.
pub fn main() -> ExitCode {
    let cli = Cli::parse_from(attach_grid_values(std::env::args_os().collect()));
    let result = match cli.command {
        Command::Sweep(args) => sweep::run(*args),
        Command::Inspect(args) => sweep::inspect(args),
        Command::Merge(args) => merge::run(args),
        Command::Status(args) => merge::status(args),
        Command::Curvature(args) => curvature::run(*args),
        Command::Bench(args) => bench::run(args),
        Command::Verdict(args) => verdict::run(args),
        Command::Train(args) => train::run(*args),
        Command::DemoPack(args) => demo::run(args),
        Command::Trajectory(args) => trajectory::run(args),
        Command::Connect(args) => connect::run(*args),
        Command::Figure(args) => figure::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Create an output folder, and remove the temporary files a killed run left in it (named for
/// this machine and a process that is gone; [`vitscape::io::atomic::remove_stale`]), saying so.
/// Along a complete path between two checkpoints, the barrier heights: said on stderr and kept in
/// `info.barrier`.
fn record_barrier(surface: &mut vitscape::landscape::surface::Surface) {
    if surface.spec.directions.source.path_target().is_none() {
        return;
    }
    match vitscape::metrics::barrier::of_path(surface) {
        Ok(barriers) => {
            eprintln!("{}", vitscape::metrics::barrier::describe(&barriers));
            surface.info.barrier = barriers;
        }
        Err(e) => eprintln!("no barrier: {e}"),
    }
}

fn output_folder(dir: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for stale in vitscape::io::atomic::remove_stale(dir) {
        eprintln!(
            "removed {}, a temporary file left by a run that was killed",
            stale.display()
        );
    }
    Ok(())
}

/// `--grid A [B]` takes one or two axes that start with `-` (e.g. `-1:1:41`), which clap would
/// otherwise confuse with flags: rewrite each axis as `--grid=AXIS` before parsing. Arguments are
/// `OsString`s, so a path that is not UTF-8 reaches clap (and its message) instead of a panic.
fn attach_grid_values(args: Vec<OsString>) -> Vec<OsString> {
    let mut out = Vec::with_capacity(args.len());
    let mut iter = args.into_iter().peekable();
    while let Some(arg) = iter.next() {
        if arg != "--grid" {
            out.push(arg);
            continue;
        }
        let mut taken = 0;
        while taken < 2 {
            match iter.peek().and_then(|next| next.to_str()) {
                Some(next) if next.contains(':') && !next.starts_with("--") => {
                    out.push(format!("--grid={next}").into());
                    iter.next();
                    taken += 1;
                }
                _ => break,
            }
        }
        if taken == 0 {
            out.push(arg);
        }
    }
    out
}

/// Which burn device to compute on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DeviceChoice {
    /// burn's pure-Rust CPU backend (default).
    Flex,
    /// burn's ndarray CPU backend; needs `--features ndarray`.
    Ndarray,
    /// Native wgpu over Vulkan (lavapipe without a GPU); needs `--features wgpu`.
    Wgpu,
}

impl DeviceChoice {
    /// Create the device.
    pub fn device(self) -> anyhow::Result<burn::tensor::Device> {
        match self {
            DeviceChoice::Flex => Ok(burn::tensor::Device::flex()),
            DeviceChoice::Ndarray => ndarray_device(),
            DeviceChoice::Wgpu => wgpu_device(),
        }
    }
}

#[cfg(feature = "ndarray")]
#[allow(deprecated)] // burn marks ndarray deprecated; it stays as the benchmark's baseline
fn ndarray_device() -> anyhow::Result<burn::tensor::Device> {
    Ok(burn::tensor::Device::ndarray())
}

#[cfg(not(feature = "ndarray"))]
fn ndarray_device() -> anyhow::Result<burn::tensor::Device> {
    anyhow::bail!(
        "this vitscape was built without burn's ndarray backend; rebuild with `cargo build --release --features ndarray`"
    )
}

#[cfg(feature = "wgpu")]
fn wgpu_device() -> anyhow::Result<burn::tensor::Device> {
    use burn::tensor::Device;
    let (device, _) = Device::wgpu_options()
        .graphics_api(burn::tensor::wgpu::WgpuBackend::Vulkan)
        .init_with_setup()
        .map_err(|e| anyhow::anyhow!("could not start wgpu over Vulkan: {e:?}"))?;
    Ok(device)
}

#[cfg(not(feature = "wgpu"))]
fn wgpu_device() -> anyhow::Result<burn::tensor::Device> {
    anyhow::bail!(
        "this vitscape was built without wgpu; rebuild with `cargo build --release --features wgpu`"
    )
}
