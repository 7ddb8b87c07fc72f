#!/usr/bin/env bash
# Builds the hub's container image without a Docker daemon, from the
# `runtime` stage of deploy/Dockerfile, and exports it as an OCI archive.
#
#   bash deploy/image.sh      # prints the image's digest, size and config
#
#   1. the production binary on the host:
#      cargo build --release --locked -p switchyard --no-default-features
#   2. the base, a debian:<release>-slim equivalent: mmdebstrap (minbase, the
#      slim images' dpkg excludes and apt settings, merged /usr) to a tarball,
#      imported into a buildah store private to this script. Cached for a week
#      (security updates); SWITCHYARD_IMAGE_REFRESH=1 rebuilds it.
#   3. `buildah bud --isolation chroot --target runtime` on deploy/Dockerfile,
#      the `build` stage replaced by the binary of step 1 and the Mailbox's
#      and Inbox's forge artifacts (adapters/contracts/out, built when
#      missing) (--build-context build=<dir with out/switchyard and
#      out/contracts>): the Dockerfile's own
#      RUN, COPY, LABEL, USER, EXPOSE, ENTRYPOINT and CMD make the image.
#   4. `buildah push` to an OCI archive, <target>/image/switchyard-<version>.oci.tar
#      (ref name <version>); then the store is removed (vfs keeps a full copy
#      of every layer).
#
# Idempotent: when the binary, the artifacts, deploy/Dockerfile, this script, the base and the
# git revision are those of the last build, it only prints the result (a few
# seconds, the cargo check included). Needs root (mmdebstrap and buildah as
# root, no user namespaces needed) and buildah, mmdebstrap, umoci, skopeo
# (Debian packages, installed by deploy/setup.sh). Uses the vfs storage driver:
# works on any filesystem and inside a container, where overlay may not.
# Takes about 2 minutes with the binary built (1 for the base, 1 for the rest).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
log() { printf '[image] %s\n' "$*" >&2; }
die() { printf 'image.sh: %s\n' "$*" >&2; exit 1; }

for t in buildah mmdebstrap skopeo umoci; do
  if ! command -v "$t" >/dev/null 2>&1; then
    bash deploy/setup.sh >/dev/null 2>&1 || bash deploy/setup.sh
    break
  fi
done
if [ "$(id -u)" != 0 ]; then
  die "needs root: mmdebstrap builds the base in root mode and buildah uses a store of its own (rootless, both need subuid/subgid ranges this script does not set up); run it with sudo"
fi

target_dir="${CARGO_TARGET_DIR:-$root/target}"
out="${SWITCHYARD_IMAGE_DIR:-$target_dir/image}"
mkdir -p "$out"
# One build at a time in $out (the store, the base and the archive are shared).
exec 9>"$out/.lock"
flock 9

# The Dockerfile's base release and the workspace version.
release="$(sed -n 's/^ARG DEBIAN_RELEASE=\([a-z]*\)$/\1/p' deploy/Dockerfile)"
[ -n "$release" ] || die "no 'ARG DEBIAN_RELEASE=<release>' in deploy/Dockerfile"
version="$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"$/\1/p' Cargo.toml)"
[ -n "$version" ] || die "no version in [workspace.package] of Cargo.toml"
tag="switchyard/switchyard:$version"
archive="$out/switchyard-$version.oci.tar"

# --- 1. the production binary ------------------------------------------------------
log "cargo build --release --locked -p switchyard --no-default-features"
cargo build --release --locked -p switchyard --no-default-features
bin="$target_dir/release/switchyard"
[ -x "$bin" ] || die "expected $bin after cargo build"

# --- 2. the base: a debian:<release>-slim equivalent ------------------------------
mirror="${SWITCHYARD_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
security="${SWITCHYARD_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
# What debuerreotype does for the official slim images: no docs but the
# copyright files, no man pages, locales or info; apt keeps no caches and
# fetches no translations; dpkg does not sync.
mmdebstrap_args=(
  # /dev is left out, as in the official images; buildah makes it.
  --variant=minbase --format=tar --skip=output/dev
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr
  --dpkgopt='path-exclude=/usr/share/doc/*'
  --dpkgopt='path-include=/usr/share/doc/*/copyright'
  --dpkgopt='path-exclude=/usr/share/man/*'
  --dpkgopt='path-exclude=/usr/share/groff/*'
  --dpkgopt='path-exclude=/usr/share/info/*'
  --dpkgopt='path-exclude=/usr/share/lintian/overrides/*'
  --dpkgopt='path-exclude=/usr/share/locale/*'
  --dpkgopt='path-include=/usr/share/locale/locale.alias'
  --dpkgopt='force-unsafe-io'
  --aptopt='Acquire::Languages "none"'
  --aptopt='Acquire::GzipIndexes "true"'
  --aptopt='Apt::AutoRemove::SuggestsImportant "false"'
  --customize-hook='printf "%s\n" "DPkg::Post-Invoke { \"rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true\"; };" "APT::Update::Post-Invoke { \"rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true\"; };" "Dir::Cache::pkgcache \"\";" "Dir::Cache::srcpkgcache \"\";" > "$1/etc/apt/apt.conf.d/docker-clean"'
  # The host's resolv.conf and hostname, copied in by mmdebstrap (a container
  # gets its own), and apt's binary caches (mmdebstrap's cleanup keeps them).
  --customize-hook='rm -f "$1/etc/resolv.conf" "$1/etc/hostname" "$1"/var/cache/apt/*.bin'
  "$release" -
  "deb $mirror $release main"
  "deb $mirror $release-updates main"
  "deb $security $release-security main"
)
base_key="$(printf '%s\n' "${mmdebstrap_args[@]}" | sha256sum | cut -c1-16)"
base="$out/base-$release-$base_key.tar"
if [ "${SWITCHYARD_IMAGE_REFRESH:-}" = 1 ] || [ -z "$(find "$base" -mtime -7 2>/dev/null)" ]; then
  log "mmdebstrap $release (minbase, slim) -> $base"
  rm -f "$out"/base-*.tar
  # Reproducible for the same mirror content: file times are those of the
  # last change of this recipe.
  epoch="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct -- deploy/image.sh 2>/dev/null || true)}"
  SOURCE_DATE_EPOCH="${epoch:-0}" mmdebstrap "${mmdebstrap_args[@]}" >"$base.tmp" 2>"$out/mmdebstrap.log" \
    || { tail -30 "$out/mmdebstrap.log" >&2; die "mmdebstrap failed (log above, all of it in $out/mmdebstrap.log)"; }
  mv "$base.tmp" "$base"
fi
base_sum="$(sha256sum "$base" | cut -c1-64)"

# The Mailbox's and Inbox's artifacts, which the image carries for
# `switchyard contracts deploy`.
artifacts="$root/adapters/contracts/out"
if [ ! -f "$artifacts/Inbox.sol/Inbox.json" ] || [ ! -f "$artifacts/Mailbox.sol/Mailbox.json" ]; then
  log "bash adapters/contracts/build.sh (the image carries the Mailbox's and Inbox's artifacts)"
  bash "$root/adapters/contracts/build.sh" >/dev/null
fi

# --- 3. up to date? -------------------------------------------------------------
revision="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
if [ -n "$(git status --porcelain 2>/dev/null | head -1)" ]; then
  # The binary was built from a working tree with changes.
  revision="$revision-dirty"
fi
key="$({
  sha256sum "$bin" deploy/Dockerfile deploy/image.sh \
    "$artifacts/Mailbox.sol/Mailbox.json" "$artifacts/Inbox.sol/Inbox.json" | cut -c1-64
  printf '%s\n' "$base_sum" "$version" "$revision"
} | sha256sum | cut -c1-64)"

report() {
  local digest size raw
  digest="$(cat "$out/image.digest")"
  size="$(stat -c %s "$archive")"
  raw="$(skopeo inspect --raw "oci-archive:$archive:$version")"
  printf 'image    %s (%s)\n' "$tag" "$revision"
  printf 'archive  %s (%s MiB)\n' "$archive" "$((size / 1024 / 1024))"
  printf 'digest   %s\n' "$digest"
  python3 - "$raw" "$(skopeo inspect --config "oci-archive:$archive:$version")" <<'PY'
import json, sys
manifest, config = json.loads(sys.argv[1]), json.loads(sys.argv[2])
layers = manifest["layers"]
total = sum(l["size"] for l in layers)
sizes = ", ".join("%.1f" % (l["size"] / 2**20) for l in layers)
print(f"size     {total / 2**20:.1f} MiB compressed, in {len(layers)} layers ({sizes} MiB)")
c = config["config"]
print(f"config   user {c.get('User')}, entrypoint {c.get('Entrypoint')}, cmd {c.get('Cmd')}, "
      f"ports {sorted(c.get('ExposedPorts', {}))}")
PY
}

if [ -f "$archive" ] && [ -f "$out/image.digest" ] && [ "$(cat "$out/image.key" 2>/dev/null)" = "$key" ]; then
  log "up to date: $archive"
  report
  exit 0
fi

# --- 4. buildah: the runtime stage of deploy/Dockerfile -----------------------------
store="$out/storage"
B=(buildah --root "$store" --runroot "$out/run" --storage-driver vfs)
cleanup() {
  "${B[@]}" rm --all >/dev/null 2>&1 || true
  rm -rf "$store" "$out/run" "$out/ctx-build" "$out/ctx-empty"
}
trap cleanup EXIT
cleanup

log "importing the base as debian:$release-slim (a store private to this script)"
ctr="$("${B[@]}" from scratch)"
"${B[@]}" add --quiet "$ctr" "$base" / >/dev/null
# The config of the official slim images.
"${B[@]}" config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --cmd bash "$ctr"
"${B[@]}" commit --quiet --rm "$ctr" "docker.io/library/debian:$release-slim" >/dev/null

# The `build` stage's output, and an empty context: the runtime stage copies
# nothing from the context.
mkdir -p "$out/ctx-build/out" "$out/ctx-empty"
install -m 0755 "$bin" "$out/ctx-build/out/switchyard"
# The artifacts `switchyard contracts deploy` reads in the image.
rm -rf "$out/ctx-build/out/contracts"
mkdir -p "$out/ctx-build/out/contracts"
cp -r "$artifacts/Mailbox.sol" "$artifacts/Inbox.sol" "$out/ctx-build/out/contracts/"

log "buildah bud --target runtime -f deploy/Dockerfile (chroot isolation)"
"${B[@]}" bud --quiet --isolation chroot --pull=never \
  --target runtime \
  --build-context "build=$out/ctx-build" \
  --build-arg "DEBIAN_RELEASE=$release" \
  --build-arg "VERSION=$version" \
  --build-arg "REVISION=$revision" \
  -f deploy/Dockerfile -t "$tag" "$out/ctx-empty" >"$out/bud.log" 2>&1 \
  || { cat "$out/bud.log" >&2; die "buildah bud failed (log above, also in $out/bud.log)"; }

log "buildah push -> $archive"
rm -f "$archive.tmp"
"${B[@]}" push --quiet --digestfile "$out/image.digest.tmp" "$tag" "oci-archive:$archive.tmp:$version"
mv "$archive.tmp" "$archive"
mv "$out/image.digest.tmp" "$out/image.digest"
printf '%s\n' "$key" >"$out/image.key"
report
