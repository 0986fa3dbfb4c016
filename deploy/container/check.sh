#!/usr/bin/env bash
# Builds deploy/container/Containerfile on a machine that cannot pull images (only Debian's
# packages and crates.io are reachable), then runs the image: a check of the recipe, by hand (a
# release build of the CLI takes about half an hour on 2 cores; it is not part of .ci/run).
#
#   bash deploy/container/check.sh          # as root; needs debootstrap and buildah (Debian)
#
# The two base images the recipe names are made here instead of pulled:
# - docker.io/library/debian:bookworm-slim: `debootstrap --variant=minbase bookworm`;
# - docker.io/library/rust:1-bookworm: the same, plus gcc and libc6-dev, plus this machine's
#   stable Rust toolchain (rustup's copy) on PATH.
# Then `cargo vendor --locked` fills deploy/container/vendor (from crates.io or cargo's cache),
# `buildah bud --isolation chroot --pull=never` builds the recipe (no daemon; cargo runs with
# --offline --locked and an empty CARGO_HOME, so nothing comes from a registry), and the image runs
# `vitscape --version` and a small sweep on Fashion-MNIST (dataset-fashion-mnist, mounted).
set -euo pipefail
cd "$(dirname "$0")/../.."
work=${WORK:-/tmp/vitscape-container}
mirror=${MIRROR:-http://deb.debian.org/debian}
toolchain=${TOOLCHAIN:-$(rustc --print sysroot)}
mkdir -p "$work"

if ! podman image exists docker.io/library/debian:bookworm-slim; then
  rm -rf "$work/slim"
  debootstrap --variant=minbase bookworm "$work/slim" "$mirror"
  tar -C "$work/slim" -c . | podman import - docker.io/library/debian:bookworm-slim
fi
if ! podman image exists docker.io/library/rust:1-bookworm; then
  rm -rf "$work/rust"
  cp -a "$work/slim" "$work/rust"
  chroot "$work/rust" /bin/sh -c \
    'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc libc6-dev >/dev/null'
  cp -a "$toolchain" "$work/rust/usr/local/rust"
  rm -rf "$work/rust/usr/local/rust/lib/rustlib/wasm32-unknown-unknown" \
    "$work/rust/var/lib/apt/lists/"* "$work/rust/var/cache/apt/archives/"*.deb
  tar -C "$work/rust" -c . | podman import \
    --change 'ENV PATH=/usr/local/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    - docker.io/library/rust:1-bookworm
fi

cargo vendor --locked deploy/container/vendor > deploy/container/vendor.toml
buildah bud --isolation chroot --pull=never \
  -f deploy/container/Containerfile -t localhost/vitscape .

# The image runs the CLI (buildah's chroot isolation: podman's runtime cannot set rlimits in this
# sandbox): its version, then a 3×3 sweep of a test fixture, both mounted read-only.
in_image() {
  buildah from --name vitscape-check localhost/vitscape >/dev/null
  trap 'buildah rm vitscape-check >/dev/null' RETURN
  buildah run --isolation chroot \
    --volume "$PWD/tests/fixtures:/fixtures:ro" \
    --volume /usr/share/datasets/fashion-mnist:/usr/share/datasets/fashion-mnist:ro \
    --volume "$work:/out" vitscape-check -- "$@"
}
in_image vitscape --version
rm -rf "$work/sweep"
in_image vitscape sweep --checkpoint /fixtures/models/cls_token.safetensors \
  --eval-images 16 --grid -1:1:3 -1:1:3 --no-plots --out /out/sweep
test -s "$work/sweep/surface.json"
echo "check.sh: the image built offline and swept 3×3 cells into $work/sweep/surface.json"
