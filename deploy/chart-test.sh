#!/usr/bin/env bash
# Tests of the Helm chart helm/switchyard (deploy/test.sh calls it; runs in a
# few seconds):
#   1. helm lint --strict and helm template for the default values and every
#      helm/switchyard/examples/*.yaml;
#   2. every rendered core object validated by kubernetes-validate --strict
#      (Kubernetes 1.30 and the newest schema it ships); the Prometheus
#      Operator and External Secrets objects, whose schemas it does not have,
#      checked field by field below;
#   3. what the chart promises, checked on each render: probes, non-root
#      security context, checksum/config, image tag = appVersion, no Secret
#      object, watchers without signer keys, config references only mounted
#      files, the admin API on its own port that no Service exposes, the PrometheusRule equal to deploy/prometheus/alerts.yml; the
#      rendered hub.toml accepted by `switchyard config check` when a built
#      binary is at hand (SWITCHYARD_BIN, else target/{debug,release});
#   4. the schema refuses wrong values: each bad case must make both helm
#      template and helm lint fail; the templates' own refusals (what a
#      schema cannot say) must make helm template fail.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash deploy/setup.sh >/dev/null 2>&1 || bash deploy/setup.sh
helm="$root/.tools/bin/helm"
py="$root/.tools/venv/bin/python"
kv="$root/.tools/venv/bin/kubernetes-validate"
chart="helm/switchyard"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
passed=0
failed=0
ok() { passed=$((passed + 1)); printf 'ok   %s\n' "$*"; }
bad() { failed=$((failed + 1)); printf 'FAIL %s\n' "$*"; }

# --- 1. lint and render -------------------------------------------------------
cases=("default:")
for f in "$chart"/examples/*.yaml; do
  cases+=("$(basename "$f" .yaml):$f")
done
for c in "${cases[@]}"; do
  name="${c%%:*}"
  file="${c#*:}"
  args=()
  if [ -n "$file" ]; then args=(-f "$file"); fi
  if "$helm" lint --strict "$chart" "${args[@]}" >"$out/$name.lint" 2>&1; then
    ok "helm lint --strict ($name)"
  else
    bad "helm lint --strict ($name)"; cat "$out/$name.lint"
  fi
  if "$helm" template sy "$chart" --namespace hub "${args[@]}" >"$out/$name.yaml" 2>"$out/$name.err"; then
    ok "helm template ($name)"
  else
    bad "helm template ($name)"; cat "$out/$name.err"
  fi
done

# The listing goes to a file first: `tar | grep -q` under pipefail fails at
# random when grep stops reading early and tar dies of SIGPIPE.
if "$helm" package "$chart" -d "$out/pkg" >"$out/package.log" 2>&1 \
  && tar -tzf "$out"/pkg/switchyard-*.tgz >"$out/package.list" \
  && grep -qx 'switchyard/files/alerts.yml' "$out/package.list" \
  && grep -qx 'switchyard/files/dashboard.json' "$out/package.list"; then
  ok "helm package (with files/alerts.yml and files/dashboard.json)"
else
  bad "helm package"; cat "$out/package.log"
fi

# A private CA bundle from the Secret: mounted in every pod, rendered as
# tls.ca_file (not a `cases` render: `config check` reads the file, which
# exists only in the pod).
if "$helm" template sy "$chart" --namespace hub --set secrets.tlsCaKey=ca-bundle.pem \
    --set mode=split >"$out/tls-ca.rendered" 2>&1 \
  && "$py" - "$out/tls-ca.rendered" <<'PY'
import sys, tomllib
import yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
(cm,) = [d for d in docs if d["kind"] == "ConfigMap" and "hub.toml" in d.get("data", {})]
ca = tomllib.loads(cm["data"]["hub.toml"])["tls"]["ca_file"]
assert ca == "/etc/switchyard/secrets/ca-bundle.pem", ca
deployments = [d for d in docs if d["kind"] == "Deployment" and "redis" not in d["metadata"]["name"]]
assert len(deployments) >= 2, [d["metadata"]["name"] for d in deployments]
for d in deployments:
    (keys,) = [v for v in d["spec"]["template"]["spec"]["volumes"] if v["name"] == "keys"]
    items = {i["key"] for i in keys["secret"]["items"]}
    assert "ca-bundle.pem" in items, (d["metadata"]["name"], items)
PY
then
  ok "secrets.tlsCaKey: mounted in every role, rendered as tls.ca_file"
else
  bad "secrets.tlsCaKey"; cat "$out/tls-ca.rendered" | tail -20
fi

# --- 2 and 3. validate what was rendered ---------------------------------------
bin="${SWITCHYARD_BIN:-}"
if [ -z "$bin" ]; then
  for b in target/debug/switchyard target/release/switchyard; do
    if [ -x "$b" ]; then bin="$b"; break; fi
  done
fi
if "$py" - "$out" "$chart" "$kv" "$bin" <<'PY'; then ok "rendered manifests"; else bad "rendered manifests"; fi
import json, os, subprocess, sys, tomllib
import yaml

out, chart, kv, binary = sys.argv[1:5]
chart_meta = yaml.safe_load(open(os.path.join(chart, "Chart.yaml")))
app_version = chart_meta["appVersion"]
alerts_file = yaml.safe_load(open("deploy/prometheus/alerts.yml"))
errors = []
checked = 0


def err(case, msg):
    errors.append(f"{case}: {msg}")


def check_keys(case, what, obj, allowed, required=()):
    """The structural check of an object whose schema kubernetes-validate lacks."""
    if not isinstance(obj, dict):
        err(case, f"{what}: expected a mapping, got {type(obj).__name__}")
        return
    for k in obj:
        if k not in allowed:
            err(case, f"{what}: unknown field {k!r}")
    for k in required:
        if k not in obj:
            err(case, f"{what}: missing {k!r}")


CRD = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
    ("external-secrets.io/v1", "ExternalSecret"),
    ("external-secrets.io/v1beta1", "ExternalSecret"),
}

core_files = []
for name in sorted(f[:-5] for f in os.listdir(out) if f.endswith(".yaml")):
    docs = [d for d in yaml.safe_load_all(open(os.path.join(out, name + ".yaml"))) if d]
    case = name
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
        for k in ("apiVersion", "kind", "metadata"):
            if k not in d:
                err(case, f"object without {k}: {d}")
    core = [d for d in docs if (d["apiVersion"], d["kind"]) not in CRD]
    path = os.path.join(out, name + ".core.yml")
    with open(path, "w") as f:
        yaml.safe_dump_all(core, f)
    core_files.append(path)
    checked += len(docs)

    # Secrets are references only: the chart never renders one.
    if "Secret" in by_kind:
        err(case, "renders a Secret object (keys must come by reference)")

    deployments = {d["metadata"]["name"]: d for d in by_kind.get("Deployment", [])}
    configmaps = {d["metadata"]["name"]: d for d in by_kind.get("ConfigMap", [])}
    services = by_kind.get("Service", [])
    hub = [d for n, d in deployments.items()]
    if not hub:
        err(case, "no Deployment")
    secret_names = set()
    toml_text = None
    items_by_role = {}
    for d in hub:
        n = d["metadata"]["name"]
        spec = d["spec"]["template"]["spec"]
        ann = d["spec"]["template"]["metadata"].get("annotations", {})
        if "checksum/config" not in ann or len(ann["checksum/config"]) != 64:
            err(case, f"{n}: no checksum/config annotation")
        psc = spec.get("securityContext", {})
        if psc.get("runAsNonRoot") is not True or not psc.get("runAsUser"):
            err(case, f"{n}: pod not forced to a non-root uid")
        (c,) = spec["containers"]
        sc = c.get("securityContext", {})
        if sc.get("readOnlyRootFilesystem") is not True:
            err(case, f"{n}: root filesystem writable")
        if sc.get("allowPrivilegeEscalation") is not False:
            err(case, f"{n}: privilege escalation allowed")
        if sc.get("capabilities", {}).get("drop") != ["ALL"]:
            err(case, f"{n}: capabilities not dropped")
        for probe, path_ in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"), ("startupProbe", "/healthz")):
            if c.get(probe, {}).get("httpGet", {}).get("path") != path_:
                err(case, f"{n}: {probe} not on {path_}")
        if not c.get("resources", {}).get("requests"):
            err(case, f"{n}: no resource requests")
        image = c["image"]
        if image.endswith(":latest") or (":" not in image.rsplit("/", 1)[-1] and "@" not in image):
            err(case, f"{n}: image {image} without a pinned tag")
        if case == "default" and image != f"switchyard/switchyard:{app_version}":
            err(case, f"{n}: default image {image}, expected the appVersion {app_version}")
        role = c["args"][c["args"].index("--role") + 1]
        vols = {v["name"]: v for v in spec["volumes"]}
        cm = vols["config"]["configMap"]["name"]
        if cm not in configmaps:
            err(case, f"{n}: ConfigMap {cm} not rendered")
        else:
            toml_text = configmaps[cm]["data"]["hub.toml"]
        sec = vols["keys"]["secret"]
        secret_names.add(sec["secretName"])
        items_by_role[role] = {i["key"] for i in sec["items"]}
        mount = next(m["mountPath"] for m in c["volumeMounts"] if m["name"] == "keys")
        for svc in services:
            sel = svc["spec"]["selector"]
            labels = d["spec"]["template"]["metadata"]["labels"]
            if svc["metadata"]["name"].endswith("-redis"):
                continue
            if any(labels.get(k) != v for k, v in sel.items()):
                err(case, f"Service {svc['metadata']['name']} does not select {n}")
        if d["spec"]["selector"]["matchLabels"].items() - d["spec"]["template"]["metadata"]["labels"].items():
            err(case, f"{n}: selector does not match its pod labels")

    if toml_text is not None:
        try:
            cfg = tomllib.loads(toml_text)
        except tomllib.TOMLDecodeError as e:
            err(case, f"hub.toml is not TOML: {e}")
            cfg = {}
        # The admin API listens apart, and no Service reaches it.
        admin_listen = cfg.get("http", {}).get("admin_listen")
        if case == "default" and not admin_listen:
            err(case, "hub.toml: no http.admin_listen by default")
        if admin_listen:
            admin_port = int(admin_listen.rsplit(":", 1)[1])
            for svc in services:
                for sp in svc["spec"]["ports"]:
                    if sp.get("targetPort") in ("admin", admin_port) or sp["port"] == admin_port:
                        err(case, f"Service {svc['metadata']['name']} exposes the admin port {admin_port}")
            for d in hub:
                (c,) = d["spec"]["template"]["spec"]["containers"]
                if {"name": "admin", "containerPort": admin_port, "protocol": "TCP"} not in c.get("ports", []):
                    err(case, f"{d['metadata']['name']}: no container port admin {admin_port}")
        refs = []
        for k in ("attester_key", "queue_key", "admin_token"):
            if k in cfg:
                refs.append((k, cfg[k]))
        for ch in cfg.get("chains", []):
            refs.append((f"chains.{ch['name']}.submitter_key", ch.get("submitter_key")))
            for i, r in enumerate(ch.get("extra_submitter_keys", [])):
                refs.append((f"chains.{ch['name']}.extra_submitter_keys[{i}]", r))
        mounted = set().union(*items_by_role.values()) if items_by_role else set()
        for what, r in refs:
            if not isinstance(r, dict) or set(r) != {"file"}:
                err(case, f"hub.toml {what}: expected a file reference, got {r!r}")
                continue
            p = r["file"]
            if not p.startswith(mount + "/") or os.path.basename(p) not in mounted:
                err(case, f"hub.toml {what}: {p} is not a mounted Secret key")
        # Least privilege: watchers see the queue key (and admin token), never signer keys.
        if "watcher" in items_by_role:
            signer = {os.path.basename(r["file"]) for w, r in refs if isinstance(r, dict) and "file" in r
                      and (w == "attester_key" or "submitter" in w)}
            leaked = items_by_role["watcher"] & signer
            if leaked:
                err(case, f"watcher pods mount signer keys {sorted(leaked)}")
        for role, items in items_by_role.items():
            if role != "watcher":
                needed = {os.path.basename(r["file"]) for _, r in refs if isinstance(r, dict) and "file" in r}
                if needed - items:
                    err(case, f"{role} pods miss keys {sorted(needed - items)}")
        if binary and cfg.get("chains"):
            p = os.path.join(out, name + ".hub.toml")
            open(p, "w").write(toml_text)
            r = subprocess.run([binary, "config", "check", p], capture_output=True, text=True)
            if r.returncode != 0:
                err(case, f"switchyard config check refused hub.toml: {r.stdout}{r.stderr}")
            else:
                print(f"  {case}: switchyard config check: {r.stdout.strip()}")

    # HPA: the target exists and owns the replica count.
    for h in by_kind.get("HorizontalPodAutoscaler", []):
        t = h["spec"]["scaleTargetRef"]["name"]
        if t not in deployments:
            err(case, f"HPA targets missing Deployment {t}")
        elif "replicas" in deployments[t]["spec"]:
            err(case, f"{t}: replicas set although an HPA scales it")
        if h["spec"]["minReplicas"] > h["spec"]["maxReplicas"]:
            err(case, "HPA minReplicas > maxReplicas")
    for p in by_kind.get("PodDisruptionBudget", []):
        sel = p["spec"]["selector"]["matchLabels"]
        if not any(sel.items() <= d["spec"]["template"]["metadata"]["labels"].items() for d in hub):
            err(case, f"PDB {p['metadata']['name']} selects no Deployment")

    # --- the CRD objects, field by field ---
    meta_ok = {"name", "namespace", "labels", "annotations"}
    for sm in by_kind.get("ServiceMonitor", []):
        check_keys(case, "ServiceMonitor", sm, {"apiVersion", "kind", "metadata", "spec"}, ("spec",))
        check_keys(case, "ServiceMonitor.metadata", sm["metadata"], meta_ok, ("name",))
        spec = sm["spec"]
        check_keys(case, "ServiceMonitor.spec", spec, {"selector", "namespaceSelector", "endpoints", "jobLabel"}, ("selector", "endpoints"))
        ports = {p["name"] for s in services for p in s["spec"]["ports"]}
        for ep in spec["endpoints"]:
            check_keys(case, "ServiceMonitor.endpoint", ep, {"port", "path", "interval", "scrapeTimeout", "relabelings", "metricRelabelings", "scheme"}, ("port",))
            if ep["port"] not in ports:
                err(case, f"ServiceMonitor port {ep['port']} not on any Service")
            for r in ep.get("relabelings", []):
                check_keys(case, "relabeling", r, {"sourceLabels", "targetLabel", "action", "regex", "replacement", "separator"})
        if not any(spec["selector"]["matchLabels"].items() <= s["metadata"]["labels"].items() for s in services):
            err(case, "ServiceMonitor selects no Service")
    for pr in by_kind.get("PrometheusRule", []):
        check_keys(case, "PrometheusRule", pr, {"apiVersion", "kind", "metadata", "spec"}, ("spec",))
        check_keys(case, "PrometheusRule.metadata", pr["metadata"], meta_ok, ("name",))
        check_keys(case, "PrometheusRule.spec", pr["spec"], {"groups"}, ("groups",))
        for g in pr["spec"]["groups"]:
            check_keys(case, "rule group", g, {"name", "interval", "rules"}, ("name", "rules"))
            for r in g["rules"]:
                check_keys(case, "rule", r, {"alert", "record", "expr", "for", "labels", "annotations", "keep_firing_for"}, ("expr",))
                if "alert" in r and not isinstance(r["expr"], str):
                    err(case, f"rule {r['alert']}: expr is not a string")
        if pr["spec"] != alerts_file:
            err(case, "PrometheusRule groups differ from deploy/prometheus/alerts.yml")
    for es in by_kind.get("ExternalSecret", []):
        check_keys(case, "ExternalSecret", es, {"apiVersion", "kind", "metadata", "spec"}, ("spec",))
        spec = es["spec"]
        check_keys(case, "ExternalSecret.spec", spec, {"refreshInterval", "secretStoreRef", "target", "data", "dataFrom"}, ("secretStoreRef", "target"))
        check_keys(case, "secretStoreRef", spec["secretStoreRef"], {"name", "kind"}, ("name", "kind"))
        if spec["secretStoreRef"]["kind"] not in ("SecretStore", "ClusterSecretStore"):
            err(case, "ExternalSecret secretStoreRef.kind")
        if spec["target"]["name"] not in secret_names:
            err(case, f"ExternalSecret makes {spec['target']['name']}, pods mount {sorted(secret_names)}")
        made = set()
        for d in spec.get("data", []):
            check_keys(case, "ExternalSecret.data[]", d, {"secretKey", "remoteRef"}, ("secretKey", "remoteRef"))
            check_keys(case, "remoteRef", d["remoteRef"], {"key", "property", "version", "conversionStrategy", "decodingStrategy"}, ("key",))
            made.add(d["secretKey"])
        wanted = set().union(*items_by_role.values()) if items_by_role else set()
        if wanted - made:
            err(case, f"ExternalSecret does not provide {sorted(wanted - made)}")

# --- kubernetes-validate --strict on every core object ------------------------
for version in ("1.30.0", "1.37.0"):
    r = subprocess.run([kv, "--strict", "--quiet", "-k", version, *core_files], capture_output=True, text=True)
    if r.returncode != 0:
        err("kubernetes-validate", f"{version}:\n{r.stdout}{r.stderr}")
    else:
        print(f"  kubernetes-validate --strict -k {version}: {len(core_files)} renders valid")

print(f"  {checked} objects checked")
for e in errors:
    print("  " + e)
sys.exit(1 if errors else 0)
PY
if [ -z "$bin" ]; then
  echo "  (no built switchyard binary: hub.toml checked as TOML only; build it or set SWITCHYARD_BIN to run switchyard config check)"
fi

# --- 4. the schema refuses wrong values -----------------------------------------
expect_refused() {
  local what="$1"; shift
  if "$helm" template sy "$chart" "$@" >/dev/null 2>"$out/neg.err"; then
    bad "refuses $what (helm template accepted it)"; return
  fi
  if "$helm" lint --strict "$chart" "$@" >"$out/neg.lint" 2>&1; then
    bad "refuses $what (helm lint accepted it)"; return
  fi
  ok "refuses $what: $(grep -m1 -o "at '.*\|execution error.*" "$out/neg.err" | cut -c1-150)"
}
expect_refused "a negative replica count" --set watcher.replicaCount=-1
expect_refused "an unknown top-level key" --set replicas=3
expect_refused "an unknown nested key" --set dispatcher.autoscaling.targetCPU=70
expect_refused "a bad image pullPolicy" --set image.pullPolicy=Sometimes
expect_refused "the latest tag" --set image.tag=latest
expect_refused "an unknown mode" --set mode=both
expect_refused "an HPA without replicas" --set dispatcher.autoscaling.maxReplicas=0
expect_refused "a port out of range" --set service.port=70000
expect_refused "an admin port out of range" --set admin.port=70000
expect_refused "a non-Redis URL" --set redis.url=http://redis:6379
expect_refused "a root pod" --set podSecurityContext.runAsNonRoot=false
expect_refused "lane_shards 0" --set config.dispatcher.lane_shards=0
expect_refused "a status retention under a minute" --set config.status.retention_secs=10
expect_refused "an unknown hub config key" --set config.dispatcher.batch=10
cat >"$out/key-in-values.yaml" <<'EOF'
config:
  chains:
    - name: alpha
      domain: 1
      chain_id: 1
      rpc_urls: ["http://a:8545"]
      mailbox: "0x5FbDB2315678afecb367f032d93F642f64180aa3"
      inbox: "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
      submitter_key: "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
EOF
expect_refused "a signer key in values" -f "$out/key-in-values.yaml"
cat >"$out/attester-in-values.yaml" <<'EOF'
config:
  attester_key: "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
EOF
expect_refused "the attester key in values" -f "$out/attester-in-values.yaml"
sed 's/name: alpha/name: Alpha/; /submitter_key/d' "$out/key-in-values.yaml" >"$out/bad-chain.yaml"
expect_refused "a chain name that is not a metrics label" -f "$out/bad-chain.yaml"

# Refused by the templates (checks a JSON schema cannot express). helm lint
# turns `fail` into a log line by design, so only helm template (and install)
# can refuse these.
expect_refused_by_template() {
  local what="$1"; shift
  if "$helm" template sy "$chart" "$@" >/dev/null 2>"$out/neg.err"; then
    bad "refuses $what (helm template accepted it)"; return
  fi
  ok "refuses $what: $(grep -m1 -o "execution error.*" "$out/neg.err" | cut -c1-150)"
}
expect_refused_by_template "split mode with both roles off" --set watcher.enabled=false --set dispatcher.enabled=false
expect_refused_by_template "the admin API on the Service's port" --set admin.port=9464
expect_refused_by_template "an HPA with minReplicas > maxReplicas" --set dispatcher.autoscaling.enabled=true \
  --set dispatcher.autoscaling.minReplicas=5 --set dispatcher.autoscaling.maxReplicas=3
cat >"$out/es-incomplete.yaml" <<'EOF'
secrets:
  externalSecret:
    enabled: true
    secretStoreRef: {name: vault}
    data:
      - {secretKey: attester-key, remoteRef: {key: hub, property: attester}}
EOF
expect_refused_by_template "an ExternalSecret missing a key the hub reads" -f "$out/es-incomplete.yaml"

printf '\nchart: %d passed, %d failed\n' "$passed" "$failed"
[ "$failed" -eq 0 ]
