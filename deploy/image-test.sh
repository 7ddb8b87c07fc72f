#!/usr/bin/env bash
# The hub run from the built image's root filesystem. deploy/test.sh calls it.
#
#   1. deploy/image.sh builds the image if it is not up to date, and prints
#      its digest and size;
#   2. the OCI archive is unpacked with umoci (the layers applied in order, as
#      a container runtime does), and the image's config is compared with the
#      `runtime` stage of deploy/Dockerfile: user, entrypoint, cmd, exposed
#      ports, labels;
#   3. the root filesystem: the binary's libraries resolve with the image's
#      own loader (ldd inside it), the image's user exists, the CA bundle is
#      there, and the binary has no dev tools (`devnet`, `bench` refused);
#   4. on the anvil chain of step 5, `switchyard contracts deploy` run from
#      the image (its user, its Env, the artifacts it carries) deploys the
#      Mailbox and Inbox at the addresses the hub config names;
#   5. a redis-server and an anvil chain on free loopback ports, a hub config
#      at the path of the image's CMD (/etc/switchyard/hub.toml), and the
#      image's ENTRYPOINT and CMD run as its USER, with its Env, chrooted into
#      the root filesystem mounted read-only with an in-memory /tmp (as the
#      chart runs it), in a PID namespace of its own with /proc, /dev/null and
#      friends, and the host's network (`--network host`): /healthz must
#      answer 200, then /readyz (Redis reached, the chain's light client
#      synced) and /metrics; SIGTERM must end it with status 0.
#
# No container runtime is needed: util-linux `unshare` does the isolation.
# Needs root (mounts, chroot); without root it says so and skips. Takes about
# 20 s once the image is built.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
if [ "$(id -u)" != 0 ]; then
  echo "image-test.sh: SKIP: needs root (deploy/image.sh builds as root; the run mounts /proc and a read-only root and chroots)"
  exit 0
fi

passed=0
failed=0
ok() { passed=$((passed + 1)); printf 'ok   %s\n' "$*"; }
bad() { failed=$((failed + 1)); printf 'FAIL %s\n' "$*"; }

bash deploy/image.sh

target_dir="${CARGO_TARGET_DIR:-$root/target}"
out="${SWITCHYARD_IMAGE_DIR:-$target_dir/image}"
version="$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"$/\1/p' Cargo.toml)"
archive="$out/switchyard-$version.oci.tar"

work="$(mktemp -d "$out/test.XXXXXX")"
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# --- 2. unpack; the config is the Dockerfile's ------------------------------------
mkdir "$work/layout"
tar -xf "$archive" -C "$work/layout"
umoci unpack --image "$work/layout:$version" "$work/bundle" >"$work/umoci.log" 2>&1 \
  || { cat "$work/umoci.log"; echo "image-test.sh: umoci unpack failed"; exit 1; }
rootfs="$work/bundle/rootfs"
skopeo inspect --config "oci:$work/layout:$version" >"$work/image-config.json"

# Prints `uid gid`, the entrypoint and cmd (NUL-separated) and the Env, or the
# differences from the Dockerfile's runtime stage on stderr (exit 1).
if python3 - deploy/Dockerfile "$work/image-config.json" "$version" "$work" <<'PY'; then
import json, re, shlex, sys
dockerfile, config_file, version, work = sys.argv[1:5]
text = open(dockerfile).read().replace("\\\n", " ")
stage, inside = [], False
for line in text.splitlines():
    if line.startswith("FROM "):
        inside = bool(re.search(r"\bAS runtime\s*$", line))
    elif inside and line.strip() and not line.startswith("#"):
        stage.append(line)
want = {"labels": {}}
for line in stage:
    op, _, rest = line.partition(" ")
    if op == "USER":
        want["User"] = rest.strip()
    elif op == "EXPOSE":
        want["ExposedPorts"] = sorted(p if "/" in p else p + "/tcp" for p in rest.split())
    elif op in ("ENTRYPOINT", "CMD"):
        want[op.title()] = json.loads(rest)
    elif op == "LABEL":
        for kv in shlex.split(rest):
            k, _, v = kv.partition("=")
            want["labels"][k] = v
c = json.load(open(config_file))["config"]
got_labels = c.get("Labels") or {}
problems = []
for k in ("User", "Entrypoint", "Cmd"):
    if c.get(k) != want.get(k):
        problems.append(f"{k}: Dockerfile {want.get(k)!r}, image {c.get(k)!r}")
if sorted(c.get("ExposedPorts") or {}) != want.get("ExposedPorts"):
    problems.append(f"ExposedPorts: Dockerfile {want.get('ExposedPorts')}, image {sorted(c.get('ExposedPorts') or {})}")
for k, v in want["labels"].items():
    g = got_labels.get(k)
    if v == "${VERSION}":
        v = version
    if v == "${REVISION}":
        ok_ = bool(re.fullmatch(r"[0-9a-f]{40}(-dirty)?", g or ""))
    else:
        ok_ = g == v
    if not ok_:
        problems.append(f"label {k}: Dockerfile {v!r}, image {g!r}")
if not want["labels"]:
    problems.append("no LABEL in the runtime stage of the Dockerfile")
if problems:
    print("\n".join(problems), file=sys.stderr)
    sys.exit(1)
uid, _, gid = c["User"].partition(":")
open(f"{work}/user", "w").write(f"{uid} {gid or uid}\n")
open(f"{work}/argv", "w").write("".join(a + "\0" for a in c["Entrypoint"] + (c.get("Cmd") or [])))
open(f"{work}/env", "w").write("".join(e + "\0" for e in c.get("Env") or []))
print(f"user {c['User']}, entrypoint {c['Entrypoint']}, cmd {c.get('Cmd')}, "
      f"ports {sorted(c['ExposedPorts'])}, {len(want['labels'])} labels, env {c.get('Env')}")
PY
  ok "the image's config is the runtime stage of deploy/Dockerfile"
else
  bad "the image's config differs from deploy/Dockerfile's runtime stage (above)"
  exit 1
fi
read -r uid gid <"$work/user"
mapfile -d '' -t argv <"$work/argv"
mapfile -d '' -t image_env <"$work/env"

# --- 3. the root filesystem -------------------------------------------------------
# A command inside the root filesystem, as the image's user.
in_image() { unshare --root="$rootfs" --wd=/ --setgid "$gid" --setuid "$uid" -- "$@"; }

bin="${argv[0]}"
if in_image /usr/bin/ldd "$bin" >"$work/ldd.log" 2>&1 && ! grep -q 'not found' "$work/ldd.log"; then
  ok "ldd $bin inside the image: $(awk '{print $1}' "$work/ldd.log" | tr '\n' ' ')"
else
  bad "ldd $bin inside the image"; cat "$work/ldd.log"
fi
if v="$(in_image "$bin" --version 2>&1)"; then
  ok "$bin --version as $uid:$gid with the image's loader: $v"
else
  bad "$bin --version inside the image: $v"
fi
if grep -q "^[^:]*:x:$uid:$gid:" "$rootfs/etc/passwd"; then
  ok "user $uid:$gid in the image's /etc/passwd: $(grep "^[^:]*:x:$uid:" "$rootfs/etc/passwd")"
else
  bad "no user $uid:$gid in the image's /etc/passwd"
fi
if [ -s "$rootfs/etc/ssl/certs/ca-certificates.crt" ]; then
  ok "ca-certificates: $(grep -c 'BEGIN CERTIFICATE' "$rootfs/etc/ssl/certs/ca-certificates.crt") certificates"
else
  bad "no /etc/ssl/certs/ca-certificates.crt in the image"
fi
for tool in devnet bench; do
  if in_image "$bin" "$tool" --help >"$work/$tool.log" 2>&1; then
    bad "the image's binary has the dev tool '$tool' (built with the devtools feature?)"
  elif grep -q "unrecognized subcommand" "$work/$tool.log"; then
    ok "no dev tool '$tool' in the image's binary: $(grep -m1 'unrecognized' "$work/$tool.log")"
  else
    bad "'$tool' refused for another reason:"; cat "$work/$tool.log"
  fi
done

# --- 4. run the image --------------------------------------------------------------
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() {
  local i
  for i in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}
anvil="$root/.tools/bin/anvil"
if ! command -v redis-server >/dev/null 2>&1 || [ ! -x "$anvil" ]; then
  bash deploy/setup.sh >/dev/null
fi

redis_port="$(free_port)"
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
  >"$work/redis.log" 2>&1 &
pids+=($!)
anvil_port="$(free_port)"
"$anvil" --port "$anvil_port" --host 127.0.0.1 --chain-id 31337 --block-time 1 --silent \
  >"$work/anvil.log" 2>&1 &
pids+=($!)
wait_port "$redis_port" || { cat "$work/redis.log"; echo "image-test.sh: redis-server did not listen on $redis_port"; exit 1; }
wait_port "$anvil_port" || { cat "$work/anvil.log"; echo "image-test.sh: anvil did not listen on $anvil_port"; exit 1; }
genesis="$(curl -sf -H 'content-type: application/json' \
  -d '{"jsonrpc":"2.0","id":1,"method":"eth_getBlockByNumber","params":["0x0",false]}' \
  "http://127.0.0.1:$anvil_port" | python3 -c 'import json, sys; print(json.load(sys.stdin)["result"]["hash"])')"

# The config at the path the image's CMD names; keys from the environment.
config_path=""
for ((i = 0; i < ${#argv[@]} - 1; i++)); do
  if [ "${argv[$i]}" = --config ]; then config_path="${argv[$((i + 1))]}"; fi
done
[ -n "$config_path" ] || { echo "image-test.sh: the image's CMD has no --config: ${argv[*]}"; exit 1; }
http_port="$(free_port)"
mkdir -p "$rootfs$(dirname "$config_path")"
cat >"$rootfs$config_path" <<EOF
attester_key = { env = "SWITCHYARD_TEST_ATTESTER_KEY" }
queue_key = { env = "SWITCHYARD_TEST_QUEUE_KEY" }

[redis]
url = "redis://127.0.0.1:$redis_port"
key_prefix = "image-test"

[http]
listen = "127.0.0.1:$http_port"

[log]
format = "json"
level = "info"

[[chains]]
name = "alpha"
domain = 1000
chain_id = 31337
rpc_urls = ["http://127.0.0.1:$anvil_port"]
trust = "single_endpoint"
mailbox = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
inbox = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
confirmations = 1
checkpoint = { number = 0, hash = "$genesis" }
poll_interval_ms = 200
submitter_key = { env = "SWITCHYARD_TEST_SUBMITTER_KEY" }
delivery_confirmations = 1
EOF
chmod 0644 "$rootfs$config_path"

# `switchyard contracts deploy` from the image, as its user with its Env
# (SWITCHYARD_ARTIFACTS names the artifacts it carries): anvil's first
# account deploys the chain's Mailbox and Inbox at the addresses the config
# names (its nonces 0 and 1), checks their code and settings, and prints
# them.
art="$(printf '%s\n' "${image_env[@]}" | sed -n 's/^SWITCHYARD_ARTIFACTS=//p')"
if [ -n "$art" ] && [ -f "$rootfs$art/Inbox.sol/Inbox.json" ] && [ -f "$rootfs$art/Mailbox.sol/Mailbox.json" ]; then
  ok "the image carries the Mailbox's and Inbox's artifacts at SWITCHYARD_ARTIFACTS=$art"
else
  bad "no contract artifacts in the image (SWITCHYARD_ARTIFACTS=${art:-unset})"
fi
deploy_status=0
env -i "${image_env[@]}" \
  SWITCHYARD_TEST_ATTESTER_KEY=0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80 \
  SWITCHYARD_TEST_SUBMITTER_KEY=0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d \
  SWITCHYARD_TEST_QUEUE_KEY=image-test-queue-key-0123456789abcdef0123456789abcdef \
  SWITCHYARD_TEST_DEPLOYER=0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80 \
  unshare --root="$rootfs" --wd=/ --setgid "$gid" --setuid "$uid" -- \
  /usr/local/bin/switchyard contracts deploy --config "$config_path" --chain alpha \
  --key-env SWITCHYARD_TEST_DEPLOYER --confirmations 1 >"$work/deploy.out" 2>"$work/deploy.err" \
  || deploy_status=$?
if [ "$deploy_status" = 0 ] \
  && grep -qi 'mailbox = "0x5FbDB2315678afecb367f032d93F642f64180aa3"' "$work/deploy.out" \
  && grep -qi 'inbox = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"' "$work/deploy.out"; then
  ok "switchyard contracts deploy from the image: $(grep -ci '^\(mailbox\|inbox\) = ' "$work/deploy.out") addresses printed, code and settings checked"
else
  bad "switchyard contracts deploy from the image exited $deploy_status"
  cat "$work/deploy.out" "$work/deploy.err"
fi

# anvil's first two dev accounts; a fixed HMAC key.
run_env=(
  "${image_env[@]}"
  SWITCHYARD_TEST_ATTESTER_KEY=0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80
  SWITCHYARD_TEST_SUBMITTER_KEY=0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d
  SWITCHYARD_TEST_QUEUE_KEY=image-test-queue-key-0123456789abcdef0123456789abcdef
)
# The outer unshare: a mount and PID namespace (the hub is PID 1 in it, as in
# a container). Inside: the root filesystem read-only, tmpfs on /tmp, the
# usual device nodes on a tmpfs /dev; then chroot, /proc, the image's user.
env -i "${run_env[@]}" \
  unshare --mount --pid --fork --kill-child=SIGKILL -- /bin/sh -ec '
    r="$1"; uid="$2"; gid="$3"; shift 3
    mount --bind "$r" "$r"
    mount -o remount,bind,ro "$r"
    mount -t tmpfs -o mode=1777,size=64m,nosuid,nodev tmpfs "$r/tmp"
    mount -t tmpfs -o mode=755,size=64k,nosuid tmpfs "$r/dev"
    for d in null zero full random urandom tty; do
      touch "$r/dev/$d"
      mount --bind "/dev/$d" "$r/dev/$d"
    done
    exec unshare --root="$r" --wd=/ --mount-proc --setgid "$gid" --setuid "$uid" -- "$@"
  ' sh "$rootfs" "$uid" "$gid" "${argv[@]}" >"$work/hub.log" 2>&1 &
hub_ns=$!
pids+=("$hub_ns")
printf 'running %s (uid %s, gid %s) in %s; redis %s, anvil %s, http %s\n' \
  "${argv[*]}" "$uid" "$gid" "$rootfs" "$redis_port" "$anvil_port" "$http_port"

poll() { # path, seconds: the HTTP status, once 200 or at the deadline
  local code=000 i
  for i in $(seq 1 $(($2 * 5))); do
    code="$(curl -s -o "$work/body" -w '%{http_code}' "http://127.0.0.1:$http_port$1" || true)"
    if [ "$code" = 200 ] || ! kill -0 "$hub_ns" 2>/dev/null; then break; fi
    sleep 0.2
  done
  echo "$code"
}
started=$SECONDS
code="$(poll /healthz 30)"
if [ "$code" = 200 ]; then
  ok "GET /healthz: 200 $(tr -d '\n' <"$work/body") after $((SECONDS - started)) s"
else
  bad "GET /healthz: $code after $((SECONDS - started)) s (hub's log below)"
  cat "$work/hub.log"
  exit 1
fi
code="$(poll /readyz 30)"
if [ "$code" = 200 ]; then
  ok "GET /readyz: 200 $(tr -d '\n' <"$work/body") (Redis reached, the chain's light client synced)"
else
  bad "GET /readyz: $code: $(cat "$work/body" 2>/dev/null)"
fi
if curl -sf "http://127.0.0.1:$http_port/metrics" >"$work/metrics" && grep -q '^switchyard_' "$work/metrics"; then
  ok "GET /metrics: $(grep -c '^switchyard_' "$work/metrics") switchyard_ samples"
else
  bad "GET /metrics: no switchyard_ samples"
fi
# What the process is, seen from the host.
hub_pid="$(cat "/proc/$hub_ns/task/$hub_ns/children" 2>/dev/null | awk '{print $1}')"
if [ -n "$hub_pid" ]; then
  proc_root="$(readlink "/proc/$hub_pid/root")"
  proc_uid="$(awk '/^Uid:/ {print $2}' "/proc/$hub_pid/status")"
  if [ "$proc_root" = "$rootfs" ] && [ "$proc_uid" = "$uid" ]; then
    ok "the hub (host pid $hub_pid) runs as uid $proc_uid with root $proc_root"
  else
    bad "the hub (host pid $hub_pid) runs as uid $proc_uid with root $proc_root"
  fi
  # Its own view of its mounts: / read-only, /tmp a tmpfs.
  root_opts="$(awk '$5 == "/" {print $6}' "/proc/$hub_pid/mountinfo" | tail -1)"
  tmp_fs="$(awk '$5 == "/tmp" {for (i = 7; $i != "-"; i++); print $(i + 1)}' "/proc/$hub_pid/mountinfo" | tail -1)"
  if [[ ",$root_opts," == *,ro,* ]] && [ "$tmp_fs" = tmpfs ]; then
    ok "the hub sees / read-only ($root_opts) and /tmp on $tmp_fs"
  else
    bad "the hub sees / with options '$root_opts' and /tmp on '$tmp_fs'"
  fi
  kill -TERM "$hub_pid"
else
  bad "no hub process under the namespace's pid $hub_ns"
  kill -TERM "$hub_ns"
fi
stopped=$SECONDS
status=0
wait "$hub_ns" || status=$?
if [ "$status" = 0 ]; then
  ok "SIGTERM: the hub exited with status 0 in $((SECONDS - stopped)) s"
else
  bad "SIGTERM: the hub exited with status $status (log below)"
  tail -20 "$work/hub.log"
fi

cp "$work/hub.log" "$out/image-test-hub.log"
printf 'the hub'"'"'s log: %s\n' "$out/image-test-hub.log"
printf '\nimage-test: %d passed, %d failed\n' "$passed" "$failed"
[ "$failed" = 0 ]
