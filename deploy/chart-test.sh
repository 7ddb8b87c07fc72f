#!/usr/bin/env bash
# Tests of the Helm chart helm/switchyard (deploy/test.sh calls it; runs in a
# few seconds):
#   1. helm lint --strict and helm template for the default values, every
#      helm/switchyard/examples/*.yaml, and two examples with the values they
#      leave out (registry mirror, ServiceMonitor and PrometheusRule
#      namespaces, relabelings, extra rules, NetworkPolicy, the trial Redis
#      next to a ServiceMonitor);
#   2. every rendered core object validated by kubernetes-validate --strict
#      (Kubernetes 1.30 and the newest schema it ships); the Prometheus
#      Operator and External Secrets objects, whose schemas it does not have,
#      validated against their CRD models (deploy/tools/crd-validate.mjs:
#      the @kubernetes-models validators and their TypeScript types), which
#      must also refuse a broken copy;
#   3. what the chart promises, checked on each render against the values:
#      probes, non-root security context, checksum/config, images
#      ([global.imageRegistry or image.registry/]repository, tag =
#      appVersion), no Secret object, watchers without signer keys, the
#      signing roles a StatefulSet whose pods each mount only their own
#      submitter keys (no two pods one key; an ExternalSecret making every
#      key a pod mounts), config references only mounted files, the admin API on its own port that no
#      Service exposes; every selector (Services, ServiceMonitor,
#      Deployments, StatefulSet, PDBs, spread constraints, NetworkPolicy)
#      selects exactly the pods it is meant to (never the trial Redis or the
#      test pod for the hub); the trial Redis with appendonly yes,
#      appendfsync always and noeviction (a copy of the chart without
#      appendfsync must fail that check); redis.waitReplicas /
#      waitTimeoutMs in hub.toml only when on (never in attester.toml; no
#      render without them changes), with the hub's own ranges; the
#      NetworkPolicy's ports and peers; the helm
#      test pod asking the /readyz of the hub's Service and of each
#      attester's; the PrometheusRule equal to deploy/prometheus/alerts.yml
#      plus extraRules, passing `promtool check rules`; the rendered
#      hub.toml and attester.toml files accepted by `switchyard config
#      check` when a built binary is at hand (SWITCHYARD_BIN, else
#      target/{debug,release}; attester.toml only by a binary that knows
#      role attester);
#   3b. the attesters (values attesters, hubAttesters, mode none): each a
#      one-pod Deployment (Recreate) whose pod mounts its own Secret's
#      signing key and tokens and nothing of the hub's (no queue key, no
#      submitter key), its attester.toml with role "attester", no queue
#      key, its own Redis prefix, tokens and key from mounted files; with
#      hubAttesters no hub pod mounts an attester key, hub.toml names none,
#      and the dispatching pods (only) mount the attesters' tokens; copies
#      of the chart that mount the attester key in dispatchers, the queue
#      key in an attester, drop role "attester" or add a queue_key to its
#      config must fail that check;
#   3c. the attestation API over (mutual) TLS (attesterDefaults.tls,
#      hubAttesters[].clientCertKey / clientKeyKey, examples/attesters-mtls.yaml):
#      attestation.listen, tls_cert_file, tls_key and client_ca_file from the
#      attester's own mounted kubernetes.io/tls Secret, a container and
#      Service port attest that its NetworkPolicy opens like its http port;
#      the hub's [[attesters]] over https:// with client_cert_file and
#      client_key from its Secret, mounted in dispatching pods only; both
#      TOML files, pointed at a generated CA, accepted by `switchyard config
#      check` when a binary is at hand; copies of the chart that drop
#      client_ca_file, the attest port of the NetworkPolicy or the client
#      certificates of the dispatchers' mount must fail that check;
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
node_modules="$root/.tools/npm/node_modules"
chart="helm/switchyard"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
passed=0
failed=0
ok() { passed=$((passed + 1)); printf 'ok   %s\n' "$*"; }
bad() { failed=$((failed + 1)); printf 'FAIL %s\n' "$*"; }

# --- 1. lint and render -------------------------------------------------------
# A case is "name:values files, space-separated".
cases=("default:")
for f in "$chart"/examples/*.yaml; do
  cases+=("$(basename "$f" .yaml):$f")
done
# The values no example sets. Not under $out/*.yaml: those are the renders.
mkdir -p "$out/values"
cat >"$out/values/monitoring.yaml" <<'EOF'
global:
  imageRegistry: mirror.example.internal:5000/hub
secrets:
  externalSecret:
    apiVersion: external-secrets.io/v1beta1
metrics:
  serviceMonitor:
    namespace: monitoring
    relabelings:
      - sourceLabels: [__meta_kubernetes_pod_node_name]
        targetLabel: node
    metricRelabelings:
      - sourceLabels: [__name__]
        regex: go_.*
        action: drop
  prometheusRule:
    namespace: monitoring
    runbookBaseUrl: https://runbooks.example.internal/switchyard
    extraRules:
      - alert: SwitchyardNoDeliveries
        expr: sum(rate(switchyard_messages_total{stage="delivered"}[30m])) == 0
        for: 30m
        labels: {severity: warning}
        annotations: {summary: "No message delivered for 30 minutes"}
      - record: switchyard:delivered:rate5m
        expr: sum by (destination) (rate(switchyard_messages_total{stage="delivered"}[5m]))
networkPolicy:
  enabled: true
  ingress:
    from:
      - namespaceSelector:
          matchLabels: {kubernetes.io/metadata.name: monitoring}
        podSelector:
          matchLabels: {app.kubernetes.io/name: prometheus}
  egress:
    cidrs:
      - cidr: 0.0.0.0/0
        except: [10.0.0.0/8, 169.254.169.254/32]
        ports: [443]
      - cidr: 10.40.0.0/16
    extraRules:
      - to: [{ipBlock: {cidr: 10.50.0.0/16}}]
        ports: [{port: 8545, protocol: TCP}]
EOF
cat >"$out/values/trial-netpol.yaml" <<'EOF'
image:
  registry: registry.example.internal
metrics:
  serviceMonitor:
    enabled: true
networkPolicy:
  enabled: true
tests:
  attempts: 3
secrets:
  acceptedQueueKeys: [queue-key-next]
  acceptedAdminTokenKeys: [admin-token-next]
EOF
# Three attesters in the hub's release (on a testnet one operator may run
# them all): one behind ingress peers (the release's dispatchers and test
# pod are then added), one with a private CA, one stopped, on a Redis
# Cluster and with an ExternalSecret.
cat >"$out/values/three-attesters.yaml" <<'EOF'
hubAttesters:
  - name: alpha
  - name: beta
    tokenKey: beta-token
  - name: gamma
attesters:
  - name: alpha
    secret: {existingSecret: attester-alpha-keys, tokenKeys: [hub-eu1-token]}
    redis: {url: "redis://redis-master.attester-alpha:6379", keyPrefix: alpha}
    config:
      chains:
        - {name: ethereum, domain: 1, chain_id: 1, rpc_urls: ["https://eth-a.example.internal"], mailbox: "0x5FbDB2315678afecb367f032d93F642f64180aa3", inbox: "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512", checkpoint: {number: 21000000, hash: "0x221562bc279cb59f31a8e989639e96f1721cc5a6b77de798432bca81bb683c26"}, beacon: {urls: ["https://beacon-a.example.internal"], network: mainnet, trusted_root: "0x5afc212a7924789b2bc86acad3ab3a6ffb1f6e97253ea50bee7f4f51422c9275"}}
  - name: beta
    secret: {tokenKeys: [hub-eu1-token, hub-us1-token], tlsCaKey: ca.pem}
    redis: {url: "rediss://redis.attester-beta:6380/2", keyPrefix: beta}
    service: {port: 9090}
    networkPolicy:
      ingressFrom:
        - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: ingress-nginx}}
      redisTo:
        - ipBlock: {cidr: 10.60.0.0/16}
    resources: {limits: {memory: 2Gi}}
    config:
      log: {level: debug}
      chains:
        - {name: ethereum, domain: 1, chain_id: 1, rpc_urls: ["https://eth-b.example.internal", "https://eth-c.example.internal"], mailbox: "0x5FbDB2315678afecb367f032d93F642f64180aa3", inbox: "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512", checkpoint: {number: 21000000, hash: "0x221562bc279cb59f31a8e989639e96f1721cc5a6b77de798432bca81bb683c26"}}
  - name: gamma
    replicaCount: 0
    secret:
      tokenKeys: [hub-eu1-token]
      externalSecret:
        enabled: true
        secretStoreRef: {name: vault-gamma}
        data:
          - {secretKey: attester-key, remoteRef: {key: attester/gamma, property: key}}
          - {secretKey: hub-eu1-token, remoteRef: {key: attester/gamma, property: token}}
    redis:
      clusterNodes: ["redis://attester-redis-0.gamma:7000", "redis://attester-redis-1.gamma:7001"]
    config:
      chains:
        - {name: base, domain: 8453, chain_id: 8453, rpc_urls: ["https://base-g.example.internal", "https://base-h.example.internal"], mailbox: "0x5FbDB2315678afecb367f032d93F642f64180aa3", inbox: "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512", checkpoint: {number: 25000000, hash: "0xd6e25979b858df3ee4e43167217c28d6d0cc24b2bbfbbb72329edcfd94eb7560"}}
networkPolicy:
  ingress:
    from:
      - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: monitoring}}
EOF
# mode all with one attester of its own on the trial Redis (another prefix).
cat >"$out/values/all-attester.yaml" <<'EOF'
hubAttesters:
  - name: solo
attesters:
  - name: solo
    secret: {existingSecret: attester-solo-keys}
    config:
      chains:
        - {name: alpha, domain: 1000, chain_id: 31337, rpc_urls: ["http://alpha-node-2:8545"], trust: single_endpoint, mailbox: "0x5FbDB2315678afecb367f032d93F642f64180aa3", inbox: "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512", checkpoint: {number: 0, hash: "0x0000000000000000000000000000000000000000000000000000000000000001"}}
        - {name: beta, domain: 2000, chain_id: 31338, rpc_urls: ["http://beta-node-2:8545"], trust: single_endpoint, mailbox: "0x5FbDB2315678afecb367f032d93F642f64180aa3", inbox: "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512", checkpoint: {number: 0, hash: "0x0000000000000000000000000000000000000000000000000000000000000002"}}
metrics:
  serviceMonitor:
    enabled: true
networkPolicy:
  enabled: true
  ingress:
    from:
      - podSelector: {matchLabels: {app: prometheus}}
  egress:
    cidrs:
      - cidr: 10.20.0.0/16
        ports: [8545]
EOF
cases+=("cluster-redis+monitoring:$chart/examples/cluster-redis.yaml $out/values/monitoring.yaml")
cases+=("minimal+netpol:$chart/examples/minimal.yaml $out/values/trial-netpol.yaml")
cases+=("attesters+three:$chart/examples/attesters.yaml $out/values/three-attesters.yaml")
cases+=("minimal+attester:$chart/examples/minimal.yaml $out/values/all-attester.yaml")
for c in "${cases[@]}"; do
  name="${c%%:*}"
  files="${c#*:}"
  args=()
  for f in $files; do args+=(-f "$f"); done
  # The values files of each render, for the checks below.
  printf '%s\n' $files >"$out/$name.files"
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
deployments = [d for d in docs if d["kind"] in ("Deployment", "StatefulSet") and "redis" not in d["metadata"]["name"]]
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
# The attesters' checks (3b): imported below for every render, and run alone
# on copies of the chart broken on purpose further down.
cat >"$out/attesters_check.py" <<'PY'
"""The attesters of one render of the chart (values attesters, attesterDefaults,
hubAttesters, mode none) against the values that made it. chart-test.sh
imports it for every render, and runs it alone on copies of the chart broken
on purpose: python attesters_check.py RENDER [VALUES...] prints the problems
and exits 1 when there are any."""
import copy
import hashlib
import os
import re
import subprocess
import sys
import tomllib

import yaml

CHART = "helm/switchyard"


def merge(base, over):
    """Helm's merge of values: maps key by key, anything else replaced."""
    res = copy.deepcopy(base)
    for k, v in (over or {}).items():
        if isinstance(v, dict) and isinstance(res.get(k), dict):
            res[k] = merge(res[k], v)
        else:
            res[k] = copy.deepcopy(v)
    return res


def values_of(files):
    v = yaml.safe_load(open(os.path.join(CHART, "values.yaml")))
    for f in files:
        v = merge(v, yaml.safe_load(open(f)))
    return v


def selects(sel, labels):
    return sel.items() <= labels.items()


def fullname(values, release):
    if values.get("fullnameOverride"):
        return values["fullnameOverride"]
    name = values.get("nameOverride") or "switchyard"
    return release if name in release else f"{release}-{name}"


def attesters_of(values):
    """Each attesters entry over attesterDefaults, as the chart merges them."""
    out = []
    for e in values.get("attesters") or []:
        a = merge(values["attesterDefaults"], e)
        a["replicaCount"] = e.get("replicaCount", values["attesterDefaults"]["replicaCount"])
        out.append(a)
    return out


def url_ports(urls):
    """The TCP ports of redis:// URLs, 6379 when one names none."""
    ports = []
    for u in urls:
        host = u.split("://", 1)[1].split("/", 1)[0].rsplit("@", 1)[-1]
        m = re.search(r":(\d+)$", host)
        p = int(m.group(1)) if m else 6379
        if p not in ports:
            ports.append(p)
    return ports


def knows_attesters(binary):
    """Whether a built switchyard has role attester (and [[attesters]])."""
    if not binary:
        return False
    r = subprocess.run([binary, "run", "--help"], capture_output=True, text=True)
    return "attester" in r.stdout


def check(docs, values, err, release="sy", namespace="hub", binary="", scratch=None, case=""):
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    full = fullname(values, release)
    wanted = attesters_of(values)
    hub_on = values["mode"] != "none"
    workloads = {d["metadata"]["name"]: d for d in by_kind.get("Deployment", []) + by_kind.get("StatefulSet", [])}
    att_deps = {n: d for n, d in workloads.items()
                if d["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/component") == "attester"}
    hub_deps = {n: d for n, d in workloads.items() if n not in att_deps and not n.endswith("-redis")}
    cms = {d["metadata"]["name"]: d for d in by_kind.get("ConfigMap", [])}
    services = by_kind.get("Service", [])
    pods = [(f"{d['kind']} {n}", d["spec"]["template"]["metadata"]["labels"]) for n, d in workloads.items()]
    pods += [(f"Pod {p['metadata']['name']}", p["metadata"].get("labels", {})) for p in by_kind.get("Pod", [])]

    def selected(sel):
        return {w for w, labels in pods if sel and selects(sel, labels)}

    names = [f"{full}-attester-{a['name']}" for a in wanted]
    if sorted(att_deps) != sorted(names):
        err(f"attester Deployments {sorted(att_deps)}, expected {sorted(names)}")
    if hub_on != bool(hub_deps):
        err(f"mode {values['mode']}: hub workloads {sorted(hub_deps)}")

    sec = values["secrets"]
    hub_secret = sec["existingSecret"] or f"{full}-keys"
    queue_keys = {sec["queueKey"], *(sec.get("acceptedQueueKeys") or [])}
    hub_cfg = {}
    if hub_on and f"{full}-config" in cms:
        hub_cfg = tomllib.loads(cms[f"{full}-config"]["data"]["hub.toml"])
    owners = {}
    att_secrets = set()
    image = None
    for d in hub_deps.values():
        image = d["spec"]["template"]["spec"]["containers"][0]["image"]
    for a in wanted:
        n = f"{full}-attester-{a['name']}"
        d = att_deps.get(n)
        if d is None:
            continue
        what = f"attester {a['name']}"
        spec = d["spec"]
        pod = spec["template"]["spec"]
        # One process per attester key, never two at once.
        if d["kind"] != "Deployment" or spec.get("replicas") != a["replicaCount"] or spec["replicas"] > 1:
            err(f"{what}: {d['kind']} of {spec.get('replicas')} replicas, expected a Deployment of {a['replicaCount']} (at most 1)")
        if spec.get("strategy", {}).get("type") != "Recreate":
            err(f"{what}: strategy {spec.get('strategy')}, expected Recreate (never two pods with one key)")
        if selected(spec["selector"]["matchLabels"]) != {f"Deployment {n}"}:
            err(f"{what}: its selector selects {sorted(selected(spec['selector']['matchLabels']))}")
        (c,) = pod["containers"]
        args = c.get("args", [])
        if "--role" not in args or args[args.index("--role") + 1] != "attester":
            err(f"{what}: args {args}, expected --role attester")
        # The hygiene every pod of the chart has.
        psc = pod.get("securityContext", {})
        sc = c.get("securityContext", {})
        if psc.get("runAsNonRoot") is not True or sc.get("readOnlyRootFilesystem") is not True \
                or sc.get("allowPrivilegeEscalation") is not False or sc.get("capabilities", {}).get("drop") != ["ALL"]:
            err(f"{what}: security context {psc} / {sc}")
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"), ("startupProbe", "/healthz")):
            if c.get(probe, {}).get("httpGet", {}).get("path") != path:
                err(f"{what}: {probe} not on {path}")
        if not c.get("resources", {}).get("requests"):
            err(f"{what}: no resource requests")
        if image and c["image"] != image:
            err(f"{what}: image {c['image']}, the hub's is {image}")
        if pod.get("automountServiceAccountToken") is not False:
            err(f"{what}: a service account token is mounted")
        vols = {v["name"]: v for v in pod["volumes"]}
        tls = a["tls"]
        want_vols = {"config", "keys", "tmp"} | ({"attest-tls"} if tls["enabled"] else set())
        if set(vols) != want_vols:
            err(f"{what}: volumes {sorted(vols)}, expected {sorted(want_vols)} only")
            if "keys" not in vols or "config" not in vols:
                continue
        # With tls.enabled its HTTPS listener's Secret, apart from its keys:
        # the certificate and key, and ca.crt when it asks for client certificates.
        tls_dir = next((m["mountPath"] for m in c["volumeMounts"] if m["name"] == "attest-tls" and m.get("readOnly")), None)
        if tls["enabled"] and "attest-tls" in vols:
            t = vols["attest-tls"]["secret"]
            want_tls = {"tls.crt", "tls.key"} | ({"ca.crt"} if tls["requireClientCertificates"] else set())
            if t["secretName"] != tls["secretName"] or {i["key"] for i in t.get("items", [])} != want_tls:
                err(f"{what}: attest-tls mounts {sorted(i['key'] for i in t.get('items', []))} of {t['secretName']}, expected {sorted(want_tls)} of {tls['secretName']}")
            if tls_dir is None:
                err(f"{what}: attest-tls is not mounted read-only")
        # Its own Secret: its signing key and the tokens it accepts, nothing else.
        s = vols["keys"]["secret"]
        secret = a["secret"]["existingSecret"] or f"{n}-keys"
        if s["secretName"] != secret:
            err(f"{what}: mounts Secret {s['secretName']}, expected {secret}")
        if hub_on and s["secretName"] == hub_secret:
            err(f"{what}: mounts the hub's Secret {hub_secret}")
        att_secrets.add(s["secretName"])
        items = {i["key"] for i in s["items"]}
        want = {a["secret"]["attesterKey"], *a["secret"]["tokenKeys"]}
        if a["secret"].get("tlsCaKey"):
            want.add(a["secret"]["tlsCaKey"])
        if items & queue_keys:
            err(f"{what}: mounts the queue key {sorted(items & queue_keys)}")
        if any("submitter" in k for k in items):
            err(f"{what}: mounts submitter keys {sorted(k for k in items if 'submitter' in k)}")
        if items != want:
            err(f"{what}: mounts {sorted(items)}, expected its own key and tokens {sorted(want)}")
        key = (s["secretName"], a["secret"]["attesterKey"])
        if key in owners:
            err(f"{what} and attester {owners[key]} mount one signing key, {key[1]} of Secret {key[0]}")
        owners[key] = a["name"]
        mount = next((m["mountPath"] for m in c["volumeMounts"] if m["name"] == "keys"), None)
        # Its configuration: role attester, no queue key, files of its Secret.
        cm = cms.get(vols["config"]["configMap"]["name"])
        if cm is None or "attester.toml" not in cm.get("data", {}):
            err(f"{what}: no ConfigMap with attester.toml")
            continue
        text = cm["data"]["attester.toml"]
        if not any(m["name"] == "config" and m.get("subPath") == "attester.toml" and m["mountPath"] == args[args.index("--config") + 1]
                   for m in c["volumeMounts"]):
            err(f"{what}: attester.toml is not mounted where --config points")
        ann = spec["template"]["metadata"].get("annotations", {}).get("checksum/config")
        if ann != hashlib.sha256(text.rstrip("\n").encode()).hexdigest():
            err(f"{what}: checksum/config {ann} is not the checksum of its attester.toml")
        try:
            cfg = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            err(f"{what}: attester.toml is not TOML: {e}")
            continue
        if cfg.get("role") != "attester":
            err(f"{what}: attester.toml role {cfg.get('role')!r}, expected \"attester\"")
        for k in ("queue_key", "accepted_queue_keys", "attesters"):
            if k in cfg:
                err(f"{what}: attester.toml has {k}")

        def mounted(ref, path, expect):
            if not isinstance(ref, dict) or set(ref) != {"file"}:
                err(f"{what}: attester.toml {path}: expected a file reference, got {ref!r}")
            elif ref["file"] != f"{mount}/{expect}":
                err(f"{what}: attester.toml {path}: {ref['file']}, expected {mount}/{expect} of its mounted Secret")

        mounted(cfg.get("attester_key"), "attester_key", a["secret"]["attesterKey"])
        tokens = cfg.get("attestation", {}).get("tokens", [])
        if len(tokens) != len(a["secret"]["tokenKeys"]) or not tokens:
            err(f"{what}: attestation.tokens {tokens}, expected one per tokenKeys {a['secret']['tokenKeys']}")
        for i, (t, k) in enumerate(zip(tokens, a["secret"]["tokenKeys"])):
            mounted(t, f"attestation.tokens[{i}]", k)
        if a["secret"].get("tlsCaKey"):
            mounted({"file": cfg.get("tls", {}).get("ca_file")}, "tls.ca_file", a["secret"]["tlsCaKey"])
        # POST /v1/attest over HTTPS on tls.port, from the mounted attest-tls.
        att = cfg.get("attestation", {})
        got_tls = {k: att.get(k) for k in ("listen", "tls_cert_file", "tls_key", "client_ca_file") if k in att}
        want_tls = {}
        if tls["enabled"]:
            want_tls = {"listen": f"0.0.0.0:{tls['port']}", "tls_cert_file": f"{tls_dir}/tls.crt",
                        "tls_key": {"file": f"{tls_dir}/tls.key"}}
            if tls["requireClientCertificates"]:
                want_tls["client_ca_file"] = f"{tls_dir}/ca.crt"
        if got_tls != want_tls:
            err(f"{what}: attester.toml attestation {got_tls}, expected {want_tls} (tls {tls})")
        for ch in cfg.get("chains", []):
            if "submitter_key" in ch or "extra_submitter_keys" in ch:
                err(f"{what}: chain {ch.get('name')} has a submitter key")
        r = cfg.get("redis", {})
        if not r.get("url") and not r.get("cluster_nodes"):
            err(f"{what}: attester.toml has no Redis")
        hr = hub_cfg.get("redis", {})
        if hub_cfg and r.get("key_prefix") == hr.get("key_prefix") \
                and (r.get("cluster_nodes") or [r.get("url")]) == (hr.get("cluster_nodes") or [hr.get("url")]):
            err(f"{what}: on the hub's Redis with the hub's prefix {hr.get('key_prefix')}")
        port = int(cfg.get("http", {}).get("listen", ":0").rsplit(":", 1)[1])
        cports = [p["containerPort"] for p in c.get("ports", []) if p["name"] == "http"]
        if cports != [port] or port != a["service"]["port"]:
            err(f"{what}: listens on {port}, container port {cports}, service.port {a['service']['port']}")
        aports = [p["containerPort"] for p in c.get("ports", []) if p["name"] == "attest"]
        if aports != ([tls["port"]] if tls["enabled"] else []):
            err(f"{what}: container port attest {aports}, tls {tls}")
        # Its Service reaches its pod only.
        svc = [x for x in services if x["metadata"]["name"] == n]
        if len(svc) != 1:
            err(f"{what}: {len(svc)} Services named {n}")
        else:
            got = selected(svc[0]["spec"]["selector"])
            if got != {f"Deployment {n}"}:
                err(f"{what}: its Service selects {sorted(got)}")
            want_ports = [("http", a["service"]["port"], "http")] + ([("attest", tls["port"], "attest")] if tls["enabled"] else [])
            if [(p["name"], p["port"], p["targetPort"]) for p in svc[0]["spec"]["ports"]] != want_ports:
                err(f"{what}: Service ports {svc[0]['spec']['ports']}, expected {want_ports}")
            if svc[0]["spec"]["type"] != a["service"]["type"]:
                err(f"{what}: Service type {svc[0]['spec']['type']}, expected {a['service']['type']}")
        # Its Ingress: POST /v1/attest only, with TLS.
        ing = [x for x in by_kind.get("Ingress", []) if x["metadata"]["name"] == n]
        if bool(ing) != bool(a["ingress"]["enabled"]):
            err(f"{what}: ingress.enabled is {a['ingress']['enabled']}, {len(ing)} Ingresses")
        for x in ing:
            (rule,) = x["spec"]["rules"]
            paths = rule["http"]["paths"]
            if rule["host"] != a["ingress"]["host"] or [(p["path"], p["pathType"], p["backend"]["service"]["name"]) for p in paths] != [("/v1/attest", "Exact", n)]:
                err(f"{what}: Ingress rules {x['spec']['rules']}, expected {a['ingress']['host']} /v1/attest (Exact) to Service {n}")
            if [t["hosts"] for t in x["spec"].get("tls", [])] != [[a["ingress"]["host"]]]:
                err(f"{what}: Ingress without TLS for its host")
        # Its ExternalSecret makes every key its pod mounts.
        es = [x for x in by_kind.get("ExternalSecret", []) if x["metadata"]["name"] == secret]
        if bool(es) != bool(a["secret"]["externalSecret"]["enabled"]):
            err(f"{what}: secret.externalSecret.enabled is {a['secret']['externalSecret']['enabled']}, {len(es)} ExternalSecrets")
        for x in es:
            made = {e["secretKey"] for e in x["spec"]["data"]}
            if x["spec"]["target"]["name"] != secret or items - made:
                err(f"{what}: ExternalSecret makes {x['spec']['target']['name']} with {sorted(made)}, the pod mounts {sorted(items)} of {secret}")
            if x["apiVersion"] != values["secrets"]["externalSecret"]["apiVersion"]:
                err(f"{what}: ExternalSecret {x['apiVersion']}")
        if binary and cfg.get("chains") and scratch:
            if not knows_attesters(binary):
                print(f"  {case}: {binary} predates role attester: attester {a['name']}'s attester.toml checked as TOML only")
            elif a["secret"].get("tlsCaKey") or tls["requireClientCertificates"]:
                # config check reads the CA bundles, which exist only in the
                # pod (the attester-mtls check below reads generated ones).
                print(f"  {case}: attester {a['name']} has a CA bundle from a Secret: attester.toml checked as TOML only")
            else:
                p = os.path.join(scratch, f"{case}.{a['name']}.attester.toml")
                open(p, "w").write(text)
                r = subprocess.run([binary, "config", "check", "--skip-secrets", p], capture_output=True, text=True)
                said = (r.stdout + r.stderr).strip()
                if r.returncode == 0:
                    print(f"  {case}: switchyard config check (attester {a['name']}): {r.stdout.strip()}")
                elif re.search(r"chains\[\d+\]\.submitter_key: expected a submitter key with inbox", said):
                    # An attester sends no transaction; a binary from before
                    # issue 17's config change still asks destinations for one.
                    print(f"  {case}: NOTE: {binary} asks attester {a['name']}'s destinations for a submitter key"
                          " (built before role attester dropped it): attester.toml checked as TOML only")
                else:
                    err(f"{what}: switchyard config check refused attester.toml: {said}")

    # The hub's side: with hubAttesters it holds no attester key, and only
    # its dispatching pods mount the tokens it presents.
    hubatt = values.get("hubAttesters") or []
    local = {a["name"]: a for a in wanted}
    if hub_cfg:
        listed = hub_cfg.get("attesters", [])
        if [x.get("name") for x in listed] != [h["name"] for h in hubatt]:
            err(f"hub.toml attesters {[x.get('name') for x in listed]}, expected {[h['name'] for h in hubatt]}")
        if hubatt and "attester_key" in hub_cfg:
            err("hub.toml names an attester_key although hubAttesters sign")
        if not hubatt and "attester_key" not in hub_cfg:
            err("hub.toml names no attester_key and no attesters")
        for h, x in zip(hubatt, listed):
            tk = h.get("tokenKey") or f"{h['name']}-attester-token"
            if x.get("token") != {"file": f"{sec['mountPath']}/{tk}"}:
                err(f"hub.toml attesters {h['name']}: token {x.get('token')}, expected the file {sec['mountPath']}/{tk}")
            if h.get("url"):
                want_url = h["url"]
            elif h["name"] in local:
                la = local[h["name"]]
                want_url = f"https://{full}-attester-{h['name']}.{namespace}.svc:{la['tls']['port']}" if la["tls"]["enabled"] \
                    else f"http://{full}-attester-{h['name']}.{namespace}.svc:{la['service']['port']}"
            else:
                want_url = None
            if x.get("url") != want_url:
                err(f"hub.toml attesters {h['name']}: url {x.get('url')}, expected {want_url}")
            # A client certificate and its key from the hub's Secret (mutual TLS), or neither.
            got_cert = {k: x[k] for k in ("client_cert_file", "client_key") if k in x}
            want_cert = {}
            if h.get("clientCertKey"):
                want_cert = {"client_cert_file": f"{sec['mountPath']}/{h['clientCertKey']}",
                             "client_key": {"file": f"{sec['mountPath']}/{h['clientKeyKey']}"}}
            if got_cert != want_cert:
                err(f"hub.toml attesters {h['name']}: {got_cert}, expected {want_cert}")
    # What dispatchers present to the attesters: tokens, client certificates and their keys.
    tokens = {h.get("tokenKey") or f"{h['name']}-attester-token" for h in hubatt}
    tokens |= {k for h in hubatt if h.get("clientCertKey") for k in (h["clientCertKey"], h["clientKeyKey"])}
    for n, d in hub_deps.items():
        pod = d["spec"]["template"]["spec"]
        (c,) = pod["containers"]
        role = c["args"][c["args"].index("--role") + 1]
        mounted_secrets = {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
        if mounted_secrets & att_secrets:
            err(f"{n}: mounts an attester's Secret {sorted(mounted_secrets & att_secrets)}")
        items = {i["key"] for v in pod["volumes"] if "secret" in v for i in v["secret"].get("items", [])}
        if hubatt and sec["attesterKey"] in items:
            err(f"{n}: mounts the attester key {sec['attesterKey']} although hubAttesters sign")
        if role == "watcher" and items & tokens:
            err(f"{n}: a watcher mounts the attesters' tokens or client certificates {sorted(items & tokens)}")
        if role != "watcher" and tokens - items:
            err(f"{n}: does not mount the attesters' tokens and client certificates {sorted(tokens - items)}")

    # NetworkPolicies of the attesters.
    np_on = values["networkPolicy"]["enabled"]
    eg = values["networkPolicy"]["egress"]
    for a in wanted:
        n = f"{full}-attester-{a['name']}"
        what = f"attester {a['name']}"
        nps = [x for x in by_kind.get("NetworkPolicy", []) if x["metadata"]["name"] == n]
        if bool(nps) != bool(np_on):
            err(f"{what}: networkPolicy.enabled is {np_on}, {len(nps)} NetworkPolicies")
        for x in nps:
            spec = x["spec"]
            if selected(spec["podSelector"]["matchLabels"]) != {f"Deployment {n}"}:
                err(f"{what}: NetworkPolicy selects {sorted(selected(spec['podSelector']['matchLabels']))}")
            (ing,) = spec["ingress"]
            want_ports = [{"port": a["service"]["port"], "protocol": "TCP"}]
            if a["tls"]["enabled"]:
                want_ports.append({"port": a["tls"]["port"], "protocol": "TCP"})
            if ing["ports"] != want_ports:
                err(f"{what}: NetworkPolicy ingress ports {ing['ports']}, expected {want_ports}")
            want_from = list(a["networkPolicy"]["ingressFrom"])
            if want_from:
                if hub_on and any(h["name"] == a["name"] and not h.get("url") for h in hubatt):
                    want_from.append({"podSelector": {"matchLabels": {
                        "app.kubernetes.io/name": "switchyard", "app.kubernetes.io/instance": release,
                        "app.kubernetes.io/component": "all" if values["mode"] == "all" else "dispatcher"}}})
                    dispatching = {f"{d['kind']} {m}" for m, d in hub_deps.items()
                                   if d["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/component") in ("all", "dispatcher")}
                    if selected(want_from[-1]["podSelector"]["matchLabels"]) != dispatching:
                        err(f"{what}: the dispatchers' peer selects {sorted(selected(want_from[-1]['podSelector']['matchLabels']))}")
                if values["tests"]["enabled"]:
                    want_from.append({"podSelector": {"matchLabels": {
                        "app.kubernetes.io/name": "switchyard-test", "app.kubernetes.io/instance": release}}})
            if ing.get("from", []) != want_from:
                err(f"{what}: NetworkPolicy ingress from {ing.get('from')}, expected {want_from}")
            egress = spec["egress"]
            dns, redis_rule, rest = egress[0], egress[1], egress[2:]
            want_dns = [{"port": p, "protocol": proto} for p in eg["dns"]["ports"] for proto in ("UDP", "TCP")]
            if dns.get("ports") != want_dns or dns.get("to", []) != eg["dns"]["to"]:
                err(f"{what}: NetworkPolicy DNS rule {dns}")
            r = a["redis"]
            if not r["url"] and not r["clusterNodes"]:
                want_redis = {"ports": [{"port": 6379, "protocol": "TCP"}], "to": [{"podSelector": {"matchLabels": {
                    "app.kubernetes.io/name": "switchyard-redis", "app.kubernetes.io/instance": release}}}]}
            else:
                want_redis = {"ports": [{"port": p, "protocol": "TCP"} for p in url_ports(r["clusterNodes"] or [r["url"]])]}
                if a["networkPolicy"]["redisTo"]:
                    want_redis["to"] = a["networkPolicy"]["redisTo"]
            if redis_rule != want_redis:
                err(f"{what}: NetworkPolicy Redis rule {redis_rule}, expected {want_redis}")
            want_rest = []
            for cb in eg["cidrs"]:
                block = {"cidr": cb["cidr"], **({"except": cb["except"]} if cb.get("except") else {})}
                rule = {"to": [{"ipBlock": block}]}
                if cb.get("ports"):
                    rule["ports"] = [{"port": p, "protocol": "TCP"} for p in cb["ports"]]
                want_rest.append(rule)
            want_rest += eg["extraRules"]
            if rest != want_rest:
                err(f"{what}: NetworkPolicy egress after DNS and Redis {rest}, expected {want_rest}")

    # The attesters' ServiceMonitor: their Services only, with role and attester labels.
    sm_on = values["metrics"]["serviceMonitor"]["enabled"]
    sms = [x for x in by_kind.get("ServiceMonitor", []) if x["metadata"]["name"] == f"{full}-attesters"]
    if len(sms) != (1 if sm_on and wanted else 0):
        err(f"{len(sms)} attester ServiceMonitors, serviceMonitor.enabled {sm_on}, {len(wanted)} attesters")
    for x in sms:
        spec = x["spec"]
        got = sorted(s["metadata"]["name"] for s in services if selects(spec["selector"]["matchLabels"], s["metadata"]["labels"]))
        if got != sorted(names):
            err(f"attester ServiceMonitor selects Services {got}, expected {sorted(names)}")
        for ep in spec["endpoints"]:
            want = [{"sourceLabels": ["__meta_kubernetes_pod_label_app_kubernetes_io_component"], "targetLabel": "role"},
                    {"sourceLabels": ["__meta_kubernetes_pod_label_switchyard_io_attester"], "targetLabel": "attester"}]
            want += values["metrics"]["serviceMonitor"]["relabelings"]
            if ep.get("relabelings") != want or ep["port"] != "http" or ep["path"] != "/metrics":
                err(f"attester ServiceMonitor endpoint {ep}")
    for d in att_deps.values():
        labels = d["spec"]["template"]["metadata"]["labels"]
        if labels.get("switchyard.io/attester") is None or labels.get("app.kubernetes.io/component") != "attester":
            err(f"{d['metadata']['name']}: pod labels {labels} lack the attester's name or role")


if __name__ == "__main__":
    render, *files = sys.argv[1:]
    docs = [d for d in yaml.safe_load_all(open(render)) if d]
    problems = []
    check(docs, values_of(files), problems.append)
    for p in problems:
        print(p)
    sys.exit(1 if problems else 0)
PY
if "$py" - "$out" "$chart" "$kv" "$bin" <<'PY'; then ok "rendered manifests"; else bad "rendered manifests"; fi
import copy, json, os, re, subprocess, sys, tomllib
import yaml

sys.path.insert(0, sys.argv[1])
import attesters_check as attesters

out, chart, kv, binary = sys.argv[1:5]
chart_meta = yaml.safe_load(open(os.path.join(chart, "Chart.yaml")))
app_version = chart_meta["appVersion"]
alerts_file = yaml.safe_load(open("deploy/prometheus/alerts.yml"))
defaults = yaml.safe_load(open(os.path.join(chart, "values.yaml")))
errors = []
checked = 0
crd_objects = []


def err(case, msg):
    errors.append(f"{case}: {msg}")


def merge(base, over):
    """Helm's merge of values files: maps merge key by key, anything else replaces."""
    res = copy.deepcopy(base)
    for k, v in (over or {}).items():
        if isinstance(v, dict) and isinstance(res.get(k), dict):
            res[k] = merge(res[k], v)
        else:
            res[k] = copy.deepcopy(v)
    return res


def image_ref(values, image, default_tag):
    """What the chart must render for an image of these values."""
    registry = (values.get("global") or {}).get("imageRegistry") or image.get("registry", "")
    name = f"{registry.rstrip('/')}/{image['repository']}" if registry else image["repository"]
    if image.get("digest"):
        return f"{name}@{image['digest']}"
    return f"{name}:{image.get('tag') or default_tag}"


def selects(sel, labels):
    return sel.items() <= labels.items()


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
    values = defaults
    for f in open(os.path.join(out, name + ".files")).read().split():
        values = merge(values, yaml.safe_load(open(f)))
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
        for k in ("apiVersion", "kind", "metadata"):
            if k not in d:
                err(case, f"object without {k}: {d}")
    core = [d for d in docs if (d["apiVersion"], d["kind"]) not in CRD]
    crd_objects += [{"case": case, "object": d} for d in docs if (d["apiVersion"], d["kind"]) in CRD]
    path = os.path.join(out, name + ".core.yml")
    with open(path, "w") as f:
        yaml.safe_dump_all(core, f)
    core_files.append(path)
    checked += len(docs)

    # Secrets are references only: the chart never renders one.
    if "Secret" in by_kind:
        err(case, "renders a Secret object (keys must come by reference)")

    # The attesters, and the hub's side of them (3b).
    attesters.check(docs, values, lambda m, case=case: err(case, m), binary=binary, scratch=out, case=case)

    # The hub's workloads: watchers a Deployment, the signing roles a
    # StatefulSet (the trial Redis is the StatefulSet named "-redis"); the
    # attesters' Deployments (component attester) apart, checked by
    # attesters_check.
    is_attester = lambda o: o["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "attester"
    workloads = {d["metadata"]["name"]: d for d in by_kind.get("Deployment", []) + by_kind.get("StatefulSet", [])
                 if not d["metadata"]["name"].endswith("-redis")}
    attester_workloads = {n: d for n, d in workloads.items() if is_attester(d)}
    deployments = {n: d for n, d in workloads.items() if n not in attester_workloads}
    kind_of = {n: d["kind"] for n, d in deployments.items()}
    configmaps = {d["metadata"]["name"]: d for d in by_kind.get("ConfigMap", [])}
    services = by_kind.get("Service", [])
    hub = [d for n, d in deployments.items()]
    hub_enabled = values["mode"] != "none"
    if hub_enabled != bool(hub):
        err(case, f"mode {values['mode']}: {len(hub)} hub workloads")
    attester_services = [s for s in services if is_attester(s)]
    hub_services = [s for s in services if not s["metadata"]["name"].endswith("-redis") and not is_attester(s)]
    redis_services = [s for s in services if s["metadata"]["name"].endswith("-redis")]
    statefulsets = [s for s in by_kind.get("StatefulSet", []) if s["metadata"]["name"].endswith("-redis")]
    test_pods = [p for p in by_kind.get("Pod", []) if p["metadata"].get("annotations", {}).get("helm.sh/hook") == "test"]
    # Every pod the release can run: (what, labels).
    pods = [(f"{d['kind']} {d['metadata']['name']}", d["spec"]["template"]["metadata"]["labels"]) for d in workloads.values()]
    pods += [(f"StatefulSet {s['metadata']['name']}", s["spec"]["template"]["metadata"]["labels"]) for s in statefulsets]
    pods += [(f"Pod {p['metadata']['name']}", p["metadata"].get("labels", {})) for p in by_kind.get("Pod", [])]
    hub_pods = {f"{d['kind']} {d['metadata']['name']}" for d in hub}

    def check_selects(what, sel, expected):
        """A selector must select exactly the expected pods of the release."""
        if not sel:
            err(case, f"{what}: empty selector (selects every pod)")
            return
        got = {w for w, labels in pods if selects(sel, labels)}
        if got != set(expected):
            err(case, f"{what} selects {sorted(got)}, expected {sorted(expected)}")

    secret_names = set()
    toml_text = None
    items_by_role = {}
    # role -> (mount path, {pod: {file: Secret key}}) of the signing roles.
    replica_files = {}
    hub_http_ports = set()
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
        if case == "default" and image != f"docker.io/switchyard/switchyard:{app_version}":
            err(case, f"{n}: default image {image}, expected docker.io/switchyard/switchyard:{app_version}")
        if image != image_ref(values, values["image"], app_version):
            err(case, f"{n}: image {image}, expected {image_ref(values, values['image'], app_version)}")
        hub_http_ports |= {p["containerPort"] for p in c.get("ports", []) if p["name"] == "http"}
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
        check_selects(f"{d['kind']} {n} selector", d["spec"]["selector"]["matchLabels"], [f"{d['kind']} {n}"])
        for t in spec.get("topologySpreadConstraints", []):
            check_selects(f"{n} topologySpreadConstraint", t["labelSelector"]["matchLabels"], [f"{d['kind']} {n}"])
        # Signing roles: a StatefulSet whose pod i mounts only its own
        # directory of submitter keys (by pod name), no two pods the same key.
        signs = role != "watcher"
        if signs != (d["kind"] == "StatefulSet"):
            err(case, f"{n}: role {role} runs as a {d['kind']}, expected {'StatefulSet' if signs else 'Deployment'}")
        if signs:
            hpa = [h for h in by_kind.get("HorizontalPodAutoscaler", []) if h["spec"]["scaleTargetRef"]["name"] == n]
            most = hpa[0]["spec"]["maxReplicas"] if hpa else d["spec"]["replicas"]
            rk = vols.get("replica-keys", {}).get("secret")
            rmount = [m for m in c["volumeMounts"] if m["name"] == "replica-keys"]
            env = {e["name"]: e for e in c.get("env", [])}
            if not values["config"].get("chains"):
                pass  # no chain, no submitter key (the hub refuses to start)
            elif rk is None or len(rmount) != 1 or rmount[0].get("subPathExpr") != "$(POD_NAME)" \
                    or env.get("POD_NAME", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") != "metadata.name":
                err(case, f"{n}: no per-pod replica-keys mount (subPathExpr $(POD_NAME), POD_NAME from metadata.name)")
            else:
                if rk["secretName"] != sec["secretName"]:
                    err(case, f"{n}: replica keys from Secret {rk['secretName']}, the rest from {sec['secretName']}")
                replica_mount = rmount[0]["mountPath"]
                owner = {}
                per_pod = {}
                for i in range(most):
                    pod = f"{n}-{i}"
                    files = {it["path"].split("/", 1)[1]: it["key"] for it in rk["items"] if it["path"].startswith(pod + "/")}
                    per_pod[pod] = files
                    for key in files.values():
                        if key in owner:
                            err(case, f"{n}: pods {owner[key]} and {pod} both mount submitter key {key}")
                        owner[key] = pod
                stray = [it["path"] for it in rk["items"] if it["path"].split("/", 1)[0] not in per_pod]
                if stray:
                    err(case, f"{n}: replica keys for pods that cannot exist ({most} replicas at most): {stray}")
                replica_files[role] = (replica_mount, per_pod)
        elif "replica-keys" in vols:
            err(case, f"{n}: watcher pods mount submitter keys")

    # Services: the hub's selects every hub pod and nothing else; the trial
    # Redis' only its StatefulSet.
    if len(hub_services) != (1 if hub_enabled else 0):
        err(case, f"expected {1 if hub_enabled else 0} hub Service, got {[s['metadata']['name'] for s in hub_services]}")
    for svc in hub_services:
        check_selects(f"Service {svc['metadata']['name']}", svc["spec"]["selector"], hub_pods)
    for svc in redis_services:
        check_selects(f"Service {svc['metadata']['name']}", svc["spec"]["selector"], [f"StatefulSet {svc['metadata']['name']}"])
    for s in statefulsets:
        n = s["metadata"]["name"]
        check_selects(f"StatefulSet {n} selector", s["spec"]["selector"]["matchLabels"], [f"StatefulSet {n}"])
        (c,) = s["spec"]["template"]["spec"]["containers"]
        want = image_ref(values, values["redis"]["trial"]["image"], None)
        if c["image"] != want:
            err(case, f"StatefulSet {n}: image {c['image']}, expected {want}")

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
        for k, v in (("accepted_queue_keys", "acceptedQueueKeys"), ("accepted_admin_tokens", "acceptedAdminTokenKeys")):
            for i, r in enumerate(cfg.get(k, [])):
                refs.append((f"{k}[{i}]", r))
            # A rotation's keys are rendered as the values name them.
            got = [os.path.basename(r.get("file", "")) for r in cfg.get(k, []) if isinstance(r, dict)]
            want = values["secrets"].get(v) or []
            if k == "accepted_admin_tokens" and not values["secrets"].get("adminTokenKey"):
                want = []
            if got != want:
                err(case, f"hub.toml {k}: {got}, expected the Secret keys {want}")
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
            if "submitter" in what:
                # Every pod of every signing role has the file, its own key.
                for role, (rmount, per_pod) in replica_files.items():
                    for pod, files in per_pod.items():
                        if not p.startswith(rmount + "/") or os.path.basename(p) not in files:
                            err(case, f"hub.toml {what}: {p} is not a key of pod {pod}")
                if not replica_files:
                    err(case, f"hub.toml {what}: no signing pod mounts {p}")
                continue
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
                needed = {os.path.basename(r["file"]) for w, r in refs if isinstance(r, dict) and "file" in r
                          and "submitter" not in w}
                if needed - items:
                    err(case, f"{role} pods miss keys {sorted(needed - items)}")
        if binary and cfg.get("chains") and cfg.get("attesters") and not attesters.knows_attesters(binary):
            print(f"  {case}: {binary} predates [[attesters]]: hub.toml checked as TOML only")
        elif binary and cfg.get("chains") and cfg.get("tls", {}).get("ca_file"):
            # config check reads the CA bundle, which exists only in the pod
            # (the attester-mtls check below reads a generated one).
            print(f"  {case}: hub.toml has a CA bundle from the Secret: checked as TOML only")
        elif binary and cfg.get("chains"):
            p = os.path.join(out, name + ".hub.toml")
            open(p, "w").write(toml_text)
            # The Secret is not mounted here: keys are checked by name only.
            r = subprocess.run([binary, "config", "check", "--skip-secrets", p], capture_output=True, text=True)
            if r.returncode != 0:
                err(case, f"switchyard config check refused hub.toml: {r.stdout}{r.stderr}")
            else:
                print(f"  {case}: switchyard config check: {r.stdout.strip()}")

    # An ExternalSecret makes every key a pod mounts, each replica's own too
    # (an attester's: attesters_check).
    for es in [x for x in by_kind.get("ExternalSecret", []) if not is_attester(x)]:
        made = {d["secretKey"] for d in es["spec"].get("data", [])}
        wanted = set().union(*items_by_role.values()) if items_by_role else set()
        for _, (_, per_pod) in replica_files.items():
            for files in per_pod.values():
                wanted |= set(files.values())
        if wanted - made:
            err(case, f"ExternalSecret {es['metadata']['name']} does not make {sorted(wanted - made)}")

    # HPA: the target exists and owns the replica count.
    for h in by_kind.get("HorizontalPodAutoscaler", []):
        t = h["spec"]["scaleTargetRef"]["name"]
        if t not in deployments or kind_of[t] != h["spec"]["scaleTargetRef"]["kind"]:
            err(case, f"HPA targets missing {h['spec']['scaleTargetRef']['kind']} {t}")
        elif "replicas" in deployments[t]["spec"]:
            err(case, f"{t}: replicas set although an HPA scales it")
        if h["spec"]["minReplicas"] > h["spec"]["maxReplicas"]:
            err(case, "HPA minReplicas > maxReplicas")
    for p in by_kind.get("PodDisruptionBudget", []):
        n = p["metadata"]["name"]
        check_selects(f"PDB {n}", p["spec"]["selector"]["matchLabels"], [f"{kind_of.get(n, 'Deployment')} {n}"])

    # --- helm test: asks the hub Service's /readyz ---
    if values["tests"]["enabled"] != bool(test_pods) or len(test_pods) > 1:
        err(case, f"tests.enabled is {values['tests']['enabled']}, {len(test_pods)} test pods")
    for p in test_pods:
        n = p["metadata"]["name"]
        ann = p["metadata"]["annotations"]
        if "hook-succeeded" not in ann.get("helm.sh/hook-delete-policy", ""):
            err(case, f"test pod {n}: not deleted when it succeeds")
        if p["spec"].get("restartPolicy") != "Never":
            err(case, f"test pod {n}: restartPolicy is not Never")
        if p["spec"].get("securityContext", {}).get("runAsNonRoot") is not True:
            err(case, f"test pod {n}: may run as root")
        (c,) = p["spec"]["containers"]
        want = image_ref(values, values["tests"]["image"], None)
        if c["image"] != want:
            err(case, f"test pod {n}: image {c['image']}, expected {want}")
        script = " ".join(c.get("command", []) + c.get("args", []))
        # The hub's Service, then each running attester's.
        want_urls = []
        for svc in hub_services + attester_services:
            d = attester_workloads.get(svc["metadata"]["name"])
            if d is None or d["spec"]["replicas"] > 0:
                want_urls.append(f"http://{svc['metadata']['name']}.{svc['metadata']['namespace']}.svc:{svc['spec']['ports'][0]['port']}/readyz")
        m = re.search(r"for url in((?: \"[^\"]+\")+); do", script)
        got_urls = re.findall(r'"([^"]+)"', m.group(1)) if m else []
        if got_urls != want_urls:
            err(case, f"test pod {n}: asks {got_urls}, expected {want_urls}")
        if f'-ge {values["tests"]["attempts"]} ]' not in script:
            err(case, f"test pod {n}: not {values['tests']['attempts']} attempts")

    # --- NetworkPolicy ---
    nps = [x for x in by_kind.get("NetworkPolicy", []) if not is_attester(x)]
    if (values["networkPolicy"]["enabled"] and hub_enabled) != bool(nps):
        err(case, f"networkPolicy.enabled is {values['networkPolicy']['enabled']}, {len(nps)} hub NetworkPolicies")
    for np_ in nps:
        n = np_["metadata"]["name"]
        v = values["networkPolicy"]
        spec = np_["spec"]
        check_selects(f"NetworkPolicy {n}", spec["podSelector"]["matchLabels"], hub_pods)
        if sorted(spec["policyTypes"]) != ["Egress", "Ingress"]:
            err(case, f"NetworkPolicy {n}: policyTypes {spec['policyTypes']}")
        (ing,) = spec["ingress"]
        if [p["port"] for p in ing["ports"]] != sorted(hub_http_ports):
            err(case, f"NetworkPolicy {n}: ingress ports {ing['ports']}, the hub's http container port is {sorted(hub_http_ports)}")
        want_from = list(v["ingress"]["from"])
        if want_from and test_pods:
            want_from.append({"podSelector": {"matchLabels": {k: test_pods[0]["metadata"]["labels"][k]
                                                              for k in ("app.kubernetes.io/name", "app.kubernetes.io/instance")}}})
            check_selects(f"NetworkPolicy {n} test peer", want_from[-1]["podSelector"]["matchLabels"], [f"Pod {test_pods[0]['metadata']['name']}"])
        if ing.get("from", []) != want_from:
            err(case, f"NetworkPolicy {n}: ingress from {ing.get('from')}, expected {want_from}")
        eg = spec["egress"]
        dns, redis_rule, rest = eg[0], eg[1], eg[2:]
        want_dns = [{"port": p, "protocol": proto} for p in v["egress"]["dns"]["ports"] for proto in ("UDP", "TCP")]
        if dns.get("ports") != want_dns or dns.get("to", []) != v["egress"]["dns"]["to"]:
            err(case, f"NetworkPolicy {n}: DNS rule {dns}")
        if values["redis"]["trial"]["enabled"]:
            (peer,) = redis_rule["to"]
            check_selects(f"NetworkPolicy {n} Redis peer", peer["podSelector"]["matchLabels"], [f"StatefulSet {s['metadata']['name']}" for s in statefulsets])
            if redis_rule["ports"] != [{"port": 6379, "protocol": "TCP"}]:
                err(case, f"NetworkPolicy {n}: trial Redis rule {redis_rule}")
        else:
            if [p["port"] for p in redis_rule["ports"]] != v["egress"]["redis"]["ports"] or redis_rule.get("to", []) != v["egress"]["redis"]["to"]:
                err(case, f"NetworkPolicy {n}: Redis rule {redis_rule}")
            urls = values["redis"]["clusterNodes"] or [values["redis"]["url"]]
            for u in urls:
                m = re.search(r":(\d+)(?:/|$)", u.split("://", 1)[1].rsplit("@", 1)[-1])
                port = int(m.group(1)) if m else 6379
                if port not in v["egress"]["redis"]["ports"]:
                    err(case, f"NetworkPolicy {n}: Redis {u} on port {port} not allowed")
        want_rest = []
        for c in v["egress"]["cidrs"]:
            block = {"cidr": c["cidr"], **({"except": c["except"]} if c.get("except") else {})}
            r = {"to": [{"ipBlock": block}]}
            if c.get("ports"):
                r["ports"] = [{"port": p, "protocol": "TCP"} for p in c["ports"]]
            want_rest.append(r)
        want_rest += v["egress"]["extraRules"]
        # The release's attesters the dispatchers ask, before the CIDRs.
        local = {a["name"]: a for a in attesters.attesters_of(values)}
        want_att = []
        for h in values.get("hubAttesters") or []:
            if not h.get("url"):
                sel = {"app.kubernetes.io/name": "switchyard-attester", "app.kubernetes.io/instance": "sy", "switchyard.io/attester": h["name"]}
                la = local[h["name"]]
                port = la["tls"]["port"] if la["tls"]["enabled"] else la["service"]["port"]
                want_att.append({"ports": [{"port": port, "protocol": "TCP"}],
                                 "to": [{"podSelector": {"matchLabels": sel}}]})
                check_selects(f"NetworkPolicy {n} attester {h['name']} peer", sel, [f"Deployment sy-switchyard-attester-{h['name']}"])
        if rest != want_att + want_rest:
            err(case, f"NetworkPolicy {n}: egress rules after DNS and Redis {rest}, expected {want_att + want_rest}")

    # --- the CRD objects: what the chart promises (their schemas: crd-validate.mjs) ---
    ns = "hub"
    hub_sms = [x for x in by_kind.get("ServiceMonitor", []) if not x["metadata"]["name"].endswith("-attesters")]
    if len(hub_sms) != (1 if values["metrics"]["serviceMonitor"]["enabled"] and hub_enabled else 0):
        err(case, f"{len(hub_sms)} hub ServiceMonitors")
    for sm in by_kind.get("ServiceMonitor", []):
        v = values["metrics"]["serviceMonitor"]
        if sm["metadata"]["name"].endswith("-attesters"):
            if sm["metadata"]["namespace"] != (v["namespace"] or "hub"):
                err(case, f"attester ServiceMonitor in namespace {sm['metadata']['namespace']}")
            continue  # the rest: attesters_check
        if sm["metadata"]["namespace"] != (v["namespace"] or ns):
            err(case, f"ServiceMonitor in namespace {sm['metadata']['namespace']}, expected {v['namespace'] or ns}")
        spec = sm["spec"]
        if spec["namespaceSelector"] != {"matchNames": [ns]}:
            err(case, f"ServiceMonitor namespaceSelector {spec['namespaceSelector']}, expected the release's {ns}")
        selected = [s["metadata"]["name"] for s in services if selects(spec["selector"]["matchLabels"], s["metadata"]["labels"])]
        if selected != [s["metadata"]["name"] for s in hub_services]:
            err(case, f"ServiceMonitor selects Services {selected}, expected the hub's only")
        ports = {p["name"] for s in hub_services for p in s["spec"]["ports"]}
        for ep in spec["endpoints"]:
            if ep["port"] not in ports:
                err(case, f"ServiceMonitor port {ep['port']} not on the hub Service")
            role = {"sourceLabels": ["__meta_kubernetes_pod_label_app_kubernetes_io_component"], "targetLabel": "role"}
            if ep.get("relabelings") != [role] + v["relabelings"]:
                err(case, f"ServiceMonitor relabelings {ep.get('relabelings')}, expected the role's then {v['relabelings']}")
            if ep.get("metricRelabelings", []) != v["metricRelabelings"]:
                err(case, f"ServiceMonitor metricRelabelings {ep.get('metricRelabelings')}, expected {v['metricRelabelings']}")
    for pr in by_kind.get("PrometheusRule", []):
        v = values["metrics"]["prometheusRule"]
        if pr["metadata"]["namespace"] != (v["namespace"] or ns):
            err(case, f"PrometheusRule in namespace {pr['metadata']['namespace']}, expected {v['namespace'] or ns}")
        want = copy.deepcopy(alerts_file["groups"])
        if v["runbookBaseUrl"]:
            for g in want:
                for r in g["rules"]:
                    if "runbook_url" in r.get("annotations", {}):
                        r["annotations"]["runbook_url"] = r["annotations"]["runbook_url"].replace("docs/operations.md", v["runbookBaseUrl"], 1)
        if v["extraRules"]:
            want.append({"name": "switchyard.extra", "rules": v["extraRules"]})
        if pr["spec"] != {"groups": want}:
            err(case, "PrometheusRule groups differ from deploy/prometheus/alerts.yml (and extraRules)")
        p = os.path.join(out, name + ".rules.yml")
        yaml.safe_dump(pr["spec"], open(p, "w"))
        r = subprocess.run(["promtool", "check", "rules", p], capture_output=True, text=True)
        if r.returncode != 0:
            err(case, f"promtool check rules refused the PrometheusRule's groups:\n{r.stdout}{r.stderr}")
        else:
            print(f"  {case}: promtool check rules: {r.stdout.strip().splitlines()[-1].strip()}")
    for es in [x for x in by_kind.get("ExternalSecret", []) if not is_attester(x)]:
        spec = es["spec"]
        if es["apiVersion"] != values["secrets"]["externalSecret"]["apiVersion"]:
            err(case, f"ExternalSecret {es['apiVersion']}, expected {values['secrets']['externalSecret']['apiVersion']}")
        if spec["target"]["name"] not in secret_names:
            err(case, f"ExternalSecret makes {spec['target']['name']}, pods mount {sorted(secret_names)}")
        made = {d["secretKey"] for d in spec.get("data", [])}
        wanted = set().union(*items_by_role.values()) if items_by_role else set()
        if wanted - made:
            err(case, f"ExternalSecret does not provide {sorted(wanted - made)}")

# The CRD objects for deploy/tools/crd-validate.mjs (next step).
json.dump(crd_objects, open(os.path.join(out, "crd-objects.json"), "w"))

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

# The trial Redis runs with what the exactly-once argument needs
# (docs/exactly-once.md, R1), with and without persistence; a copy of the
# chart whose template drops appendfsync must fail the same check.
trial_durable() {
  "$py" - "$1" <<'PY'
import sys
import yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
(s,) = [d for d in docs if d["kind"] == "StatefulSet" and d["metadata"]["name"].endswith("-redis")]
(c,) = s["spec"]["template"]["spec"]["containers"]
args = c.get("args", [])
assert args[:1] == ["redis-server"], args
settings = dict(zip(args[1::2], args[2::2]))
wrong = [f"{k} {settings.get(k)!r}, expected {v!r}" for k, v in
         [("--appendonly", "yes"), ("--appendfsync", "always"), ("--maxmemory-policy", "noeviction")]
         if settings.get(k) != v]
if wrong:
    print("; ".join(wrong))
    sys.exit(1)
PY
}
durable=1
for persist in false true; do
  if ! "$helm" template sy "$chart" --namespace hub --set redis.trial.enabled=true \
      --set redis.trial.persistence.enabled=$persist >"$out/trial-$persist.yaml" 2>"$out/trial.err" \
    || ! trial_durable "$out/trial-$persist.yaml" >"$out/trial.log" 2>&1; then
    # A failed render leaves no trial.log: print what exists, so that set -e
    # does not end the script before its count line.
    durable=0; bad "trial Redis (persistence $persist):"; cat "$out/trial.err" "$out/trial.log" 2>/dev/null || true
  fi
done
if [ "$durable" = 1 ]; then
  ok "trial Redis: appendonly yes, appendfsync always, noeviction (with and without persistence)"
fi
cp -r "$chart" "$out/chart-nofsync"
sed -i '/- --appendfsync/,+1d' "$out/chart-nofsync/templates/redis-trial.yaml"
"$helm" template sy "$out/chart-nofsync" --namespace hub --set redis.trial.enabled=true >"$out/trial-nofsync.yaml"
if trial_durable "$out/trial-nofsync.yaml" >"$out/trial-nofsync.log" 2>&1; then
  bad "the trial Redis check accepted a chart without appendfsync"
else
  ok "a trial Redis without appendfsync is refused: $(cat "$out/trial-nofsync.log")"
fi

# redis.waitReplicas / waitTimeoutMs (hub.toml redis.wait_replicas /
# wait_timeout_ms, a lane append's Redis WAIT): absent from every render
# above (waitReplicas 0 by default leaves the configs as they were);
# rendered when on, on a Redis Cluster and beside attesters, whose
# attester.toml never has them (attesters append to no lane); the chart's
# ranges are the hub's and `switchyard config check` accepts the render when
# a built binary knows them.
if grep -l 'wait_replicas\|wait_timeout_ms' "$out"/*.yaml >"$out/wait-default.log"; then
  bad "redis.waitReplicas 0 (default): wait_replicas / wait_timeout_ms rendered in:"; cat "$out/wait-default.log"
else
  ok "redis.waitReplicas 0 (default): no wait_replicas / wait_timeout_ms in any render above"
fi
if "$helm" template sy "$chart" --namespace hub -f "$chart/examples/cluster-redis.yaml" \
    --set redis.waitReplicas=1 --set redis.waitTimeoutMs=500 >"$out/wait-cluster.rendered" 2>"$out/wait.err" \
  && "$helm" template sy "$chart" --namespace hub -f "$chart/examples/attesters.yaml" \
    -f "$out/values/three-attesters.yaml" --set redis.waitReplicas=1 >"$out/wait-attesters.rendered" 2>>"$out/wait.err" \
  && "$py" - "$out/wait-cluster.rendered" "$out/wait-attesters.rendered" "$bin" "$out" >"$out/wait.log" 2>&1 <<'PY'
import json, os, subprocess, sys, tomllib
import yaml
cluster, attesters, binary, out = sys.argv[1:5]
def tomls(path, key):
    docs = [d for d in yaml.safe_load_all(open(path)) if d]
    return [(d["metadata"]["name"], d["data"][key]) for d in docs
            if d["kind"] == "ConfigMap" and key in d.get("data", {})]
((_, hub_text),) = tomls(cluster, "hub.toml")
r = tomllib.loads(hub_text)["redis"]
assert r.get("cluster_nodes") and (r.get("wait_replicas"), r.get("wait_timeout_ms")) == (1, 500), r
((_, hub2),) = tomls(attesters, "hub.toml")
r = tomllib.loads(hub2)["redis"]
assert (r.get("wait_replicas"), r.get("wait_timeout_ms")) == (1, 1000), r
att = tomls(attesters, "attester.toml")
assert len(att) == 3, [n for n, _ in att]
for n, t in att:
    r = tomllib.loads(t)["redis"]
    assert "wait_replicas" not in r and "wait_timeout_ms" not in r, (n, r)
if not binary:
    sys.exit(0)
hub = json.loads(subprocess.run([binary, "config", "schema"], capture_output=True, text=True, check=True).stdout)
props = hub["properties"]["redis"]["properties"]
if "wait_replicas" not in props:
    print(f"  {binary} predates redis.wait_replicas: checked as TOML only")
    sys.exit(0)
chart = json.load(open("helm/switchyard/values.schema.json"))["properties"]["redis"]["properties"]
for v, k in (("waitReplicas", "wait_replicas"), ("waitTimeoutMs", "wait_timeout_ms")):
    want = {x: props[k].get(x) for x in ("type", "minimum", "maximum")}
    got = {x: chart[v].get(x) for x in ("type", "minimum", "maximum")}
    assert got == want, (v, got, k, want)
p = os.path.join(out, "wait-cluster.hub.toml")
open(p, "w").write(hub_text)
c = subprocess.run([binary, "config", "check", "--skip-secrets", p], capture_output=True, text=True)
assert c.returncode == 0, c.stdout + c.stderr
print(f"  {binary} config check: {c.stdout.strip()}; ranges as its schema")
PY
then
  ok "redis.waitReplicas 1, waitTimeoutMs 500: hub.toml wait_replicas = 1, wait_timeout_ms = 500 (Redis Cluster), none in attester.toml"
  cat "$out/wait.log"
else
  bad "redis.waitReplicas / waitTimeoutMs:"; cat "$out/wait.err" "$out/wait.log" 2>/dev/null
fi

# The attestation API over mutual TLS (3c), on the render of
# examples/attesters-mtls.yaml: attester alpha serves POST /v1/attest on
# tls.port from its own mounted kubernetes.io/tls Secret (certificate, key,
# client CA), with a container and Service port attest its NetworkPolicy
# opens; the hub dials it over https:// with a client certificate and key of
# its Secret, which the dispatchers mount and the watchers do not. With a
# built binary, both TOML files, their CA bundles pointed at a generated CA
# (config check reads them; the certificates and keys it does not), pass
# `switchyard config check`.
if "$py" - "$out/attesters-mtls.yaml" "$bin" "$out" >"$out/mtls.log" 2>&1 <<'PY'
import os, shutil, subprocess, sys, tomllib
import yaml
render, binary, out = sys.argv[1:4]
docs = [d for d in yaml.safe_load_all(open(render)) if d]


def one(kind, name):
    (d,) = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    return d


att, tdir, sdir = "sy-switchyard-attester-alpha", "/etc/switchyard/attest-tls", "/etc/switchyard/secrets"
att_text = one("ConfigMap", att + "-config")["data"]["attester.toml"]
a = tomllib.loads(att_text)
assert a["attestation"] == {"listen": "0.0.0.0:9443", "tls_cert_file": f"{tdir}/tls.crt",
                            "tls_key": {"file": f"{tdir}/tls.key"}, "client_ca_file": f"{tdir}/ca.crt",
                            "tokens": [{"file": f"{sdir}/hub-eu1-token"}]}, a["attestation"]
assert a["http"] == {"listen": "0.0.0.0:9464"}, a["http"]
pod = one("Deployment", att)["spec"]["template"]["spec"]
(c,) = pod["containers"]
(v,) = [v for v in pod["volumes"] if v["name"] == "attest-tls"]
assert v["secret"]["secretName"] == "attester-alpha-tls", v
assert [(i["key"], i["path"]) for i in v["secret"]["items"]] == [("tls.crt", "tls.crt"), ("tls.key", "tls.key"), ("ca.crt", "ca.crt")], v
assert {"name": "attest-tls", "mountPath": tdir, "readOnly": True} in c["volumeMounts"], c["volumeMounts"]
assert {"name": "attest", "containerPort": 9443, "protocol": "TCP"} in c["ports"], c["ports"]
assert all(p["httpGet"]["port"] == "http" for p in (c["startupProbe"], c["livenessProbe"], c["readinessProbe"]))
ports = one("Service", att)["spec"]["ports"]
assert {"name": "attest", "port": 9443, "targetPort": "attest", "protocol": "TCP"} in ports, ports
(ing,) = one("NetworkPolicy", att)["spec"]["ingress"]
assert ing["ports"] == [{"port": 9464, "protocol": "TCP"}, {"port": 9443, "protocol": "TCP"}], ing["ports"]
egress = one("NetworkPolicy", "sy-switchyard")["spec"]["egress"]
assert any(r.get("ports") == [{"port": 9443, "protocol": "TCP"}] and r["to"][0]["podSelector"]["matchLabels"].get("switchyard.io/attester") == "alpha"
           for r in egress), egress
hub_text = one("ConfigMap", "sy-switchyard-config")["data"]["hub.toml"]
hub = tomllib.loads(hub_text)
assert hub["tls"] == {"ca_file": f"{sdir}/ca-bundle.pem"}, hub["tls"]
want = [("alpha", f"https://{att}.hub.svc:9443"), ("beta", "https://attester.beta-operator.example.org")]
assert [(x["name"], x["url"]) for x in hub["attesters"]] == want, hub["attesters"]
for x in hub["attesters"]:
    n = x["name"]
    assert (x["client_cert_file"], x["client_key"]) == (f"{sdir}/{n}-client.crt", {"file": f"{sdir}/{n}-client.key"}), x
client = {"alpha-client.crt", "alpha-client.key", "beta-client.crt", "beta-client.key"}
for kind, name, mounts in (("StatefulSet", "sy-switchyard-dispatcher", True), ("Deployment", "sy-switchyard-watcher", False)):
    spec = one(kind, name)["spec"]["template"]["spec"]
    (keys,) = [v for v in spec["volumes"] if v["name"] == "keys"]
    items = {i["key"] for i in keys["secret"]["items"]}
    assert (client <= items) if mounts else not (client & items), (name, sorted(items))
    assert "attest-tls" not in {v["name"] for v in spec["volumes"]}, name
if not binary or not shutil.which("openssl"):
    print("  no built switchyard binary or no openssl: attester.toml and hub.toml checked as TOML only")
    sys.exit(0)
schema = subprocess.run([binary, "config", "schema"], capture_output=True, text=True, check=True).stdout
if "client_ca_file" not in schema or "client_cert_file" not in schema:
    print(f"  {binary} predates the attestation API over TLS: attester.toml and hub.toml checked as TOML only")
    sys.exit(0)
pki = os.path.join(out, "pki")
os.makedirs(pki)
subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", "ca.key", "-out", "ca.crt", "-days", "1", "-subj", "/CN=switchyard-chart-test"],
               cwd=pki, check=True, capture_output=True)
for what, text in (("attester.toml", att_text.replace(f"{tdir}/ca.crt", f"{pki}/ca.crt")),
                   ("hub.toml", hub_text.replace(f"{sdir}/ca-bundle.pem", f"{pki}/ca.crt"))):
    p = os.path.join(out, "mtls-" + what)
    open(p, "w").write(text)
    r = subprocess.run([binary, "config", "check", "--skip-secrets", p], capture_output=True, text=True)
    assert r.returncode == 0, f"{what}: {r.stdout}{r.stderr}"
    print(f"  {binary} config check ({what}, CA bundle generated): {r.stdout.strip()}")
PY
then
  ok "attester tls + client certificates (attesters-mtls): attestation.listen/tls_cert_file/tls_key/client_ca_file from the mounted Secret, ports attest, hub client_cert_file/client_key mounted in dispatchers only"
  cat "$out/mtls.log"
else
  bad "attester tls + client certificates (attesters-mtls):"; cat "$out/mtls.log"
fi

# The attesters' separation (3b) on copies of the chart broken on purpose:
# each must render and fail attesters_check with the named problem.
att_values=("$chart/examples/attesters.yaml" "$out/values/three-attesters.yaml")
if "$py" "$out/attesters_check.py" "$out/attesters+three.yaml" "${att_values[@]}" >"$out/att-ok.log" 2>&1; then
  ok "attesters_check alone accepts the chart itself (attesters+three)"
else
  bad "attesters_check alone on the chart itself:"; cat "$out/att-ok.log"
fi
attester_mutation() {
  local what="$1" expect="$2" file="$3"; shift 3
  rm -rf "$out/chart-mut"
  cp -r "$chart" "$out/chart-mut"
  sed -i "$@" "$out/chart-mut/templates/$file"
  if cmp -s "$chart/templates/$file" "$out/chart-mut/templates/$file"; then
    bad "attester mutation ($what): the sed changed nothing in $file"; return
  fi
  local f args=()
  for f in "${att_values[@]}"; do args+=(-f "$f"); done
  if ! "$helm" template sy "$out/chart-mut" --namespace hub "${args[@]}" \
      >"$out/mut.yaml" 2>"$out/mut.err"; then
    bad "attester mutation ($what): does not render"; cat "$out/mut.err"; return
  fi
  if "$py" "$out/attesters_check.py" "$out/mut.yaml" "${att_values[@]}" >"$out/mut.log" 2>&1; then
    bad "attesters_check accepted a chart that $what"
  elif grep -q -- "$expect" "$out/mut.log"; then
    ok "a chart that $what is refused: $(grep -m1 -- "$expect" "$out/mut.log" | cut -c1-120)"
  else
    bad "attester mutation ($what): refused for another reason:"; cat "$out/mut.log"
  fi
}
attester_mutation "mounts the attester key in dispatchers beside hubAttesters" "mounts the attester key" _helpers.tpl \
  's/{{- range \$attesters }}{{ \$keys = append \$keys .tokenKey }}{{ end }}/&{{ $keys = append $keys $s.attesterKey }}/'
attester_mutation "mounts the queue key in attesters" "mounts the queue key" attesters.yaml \
  '/^            items:$/a\              - key: {{ $root.Values.secrets.queueKey }}\n                path: {{ $root.Values.secrets.queueKey }}'
attester_mutation "drops role \"attester\" from attester.toml" "role None, expected" _attesters.tpl \
  '/^role = "attester"$/d'
attester_mutation "gives attesters a queue_key" "attester.toml has queue_key" _attesters.tpl \
  '/^attester_key = /a queue_key = { file = {{ printf "%s/queue-key" $dir | toJson }} }'
attester_mutation "names the hub's Secret for attesters" "mounts the hub's Secret" _attesters.tpl \
  's/(printf "%s-keys" \$object) \$a.secret.existingSecret/(include "switchyard.secretName" $root) ""/'
# The same for the attestation API over mutual TLS (3c).
att_values=("$chart/examples/attesters-mtls.yaml")
if "$py" "$out/attesters_check.py" "$out/attesters-mtls.yaml" "${att_values[@]}" >"$out/att-ok.log" 2>&1; then
  ok "attesters_check alone accepts the chart itself (attesters-mtls)"
else
  bad "attesters_check alone on the chart itself (attesters-mtls):"; cat "$out/att-ok.log"
fi
attester_mutation "asks no client certificate although requireClientCertificates" "attester.toml attestation {'listen'" _attesters.tpl \
  '/set \$attestation "client_ca_file"/d'
attester_mutation "leaves the attest port out of the attester's NetworkPolicy" "NetworkPolicy ingress ports" attesters.yaml \
  '/^        - port: {{ \$a.tls.port }}$/,+1d'
attester_mutation "mounts no client certificate in dispatchers" "does not mount the attesters' tokens and client certificates" _helpers.tpl \
  '/if .clientCertKey }}{{ \$keys = concat/d'

# The Prometheus Operator and External Secrets objects against their CRD models.
if node "$root/deploy/tools/crd-validate.mjs" "$node_modules" "$out/crd-objects.json" >"$out/crd.log" 2>&1; then
  ok "CRD objects: $(tail -1 "$out/crd.log" | sed 's/^ *//')"
else
  bad "CRD objects:"; cat "$out/crd.log"
fi
# ... and the validator refuses a broken copy: fields the CRDs do not have, a
# bad duration, a bad enum value.
"$py" - "$out/crd-objects.json" "$out/crd-broken.json" <<'PY'
import json, sys
objs = json.load(open(sys.argv[1]))
sm = next(o for o in objs if o["object"]["kind"] == "ServiceMonitor")
pr = next(o for o in objs if o["object"]["kind"] == "PrometheusRule")
es = next(o for o in objs if o["object"]["kind"] == "ExternalSecret")
sm["object"]["spec"]["endpoints"][0]["metric_relabel_configs"] = []
sm["object"]["spec"]["endpoints"][0]["interval"] = "30 seconds"
pr["object"]["spec"]["groups"][0]["rules"][0]["severity"] = "critical"
es["object"]["spec"]["secretStoreRef"]["kind"] = "Vault"
json.dump([sm, pr, es], open(sys.argv[2], "w"))
PY
if node "$root/deploy/tools/crd-validate.mjs" "$node_modules" "$out/crd-broken.json" >"$out/crd-broken.log" 2>&1; then
  bad "CRD validator accepted broken objects"
elif grep -q 'spec.endpoints\[0\].metric_relabel_configs' "$out/crd-broken.log" \
  && grep -q 'spec.endpoints\[0\].interval: must match pattern' "$out/crd-broken.log" \
  && grep -q "spec.groups\[0\].rules\[0\].severity" "$out/crd-broken.log" \
  && grep -q 'spec.secretStoreRef.kind: must be equal to one of the allowed values' "$out/crd-broken.log"; then
  ok "CRD validator refuses unknown fields, a bad duration and a bad enum, with their paths"
else
  bad "CRD validator on broken objects:"; cat "$out/crd-broken.log"
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
expect_refused "an image registry with a scheme" --set image.registry=https://ghcr.io
expect_refused "a registry in image.repository" --set image.repository=ghcr.io/example/switchyard
expect_refused "a global image registry with a scheme" --set global.imageRegistry=https://mirror.example.com
expect_refused "a ServiceMonitor namespace that is no name" --set metrics.serviceMonitor.namespace=Monitoring_NS
expect_refused "a relabeling with an unknown action" --set 'metrics.serviceMonitor.relabelings[0].action=explode'
expect_refused "a metric relabeling in Prometheus' own spelling" --set 'metrics.serviceMonitor.metricRelabelings[0].source_labels[0]=__name__'
expect_refused "an extra rule without expr" --set 'metrics.prometheusRule.extraRules[0].alert=NoExpr'
expect_refused "an extra rule both alert and record" --set 'metrics.prometheusRule.extraRules[0].alert=A' \
  --set 'metrics.prometheusRule.extraRules[0].record=a:b' --set 'metrics.prometheusRule.extraRules[0].expr=up'
expect_refused "an extra rule with a bad duration" --set 'metrics.prometheusRule.extraRules[0].alert=A' \
  --set 'metrics.prometheusRule.extraRules[0].expr=up' --set 'metrics.prometheusRule.extraRules[0].for=5 minutes'
expect_refused "a NetworkPolicy CIDR that is not one" --set networkPolicy.enabled=true \
  --set 'networkPolicy.egress.cidrs[0].cidr=10.0.0.0'
printf 'networkPolicy:\n  enabled: true\n  egress:\n    dns:\n      ports: []\n' >"$out/dns-no-ports.yaml"
expect_refused "a NetworkPolicy DNS rule without ports (every port)" -f "$out/dns-no-ports.yaml"
expect_refused "the latest tag for the test image" --set tests.image.tag=latest
expect_refused "redis.waitReplicas over 16" --set redis.waitReplicas=17
expect_refused "a WAIT timeout under 10 ms" --set redis.waitTimeoutMs=5
# One attester of the release, for the refusals below.
cat >"$out/one-attester.yaml" <<'EOF'
attesters:
  - name: alpha
    redis: {url: "redis://attester-redis:6379"}
    config:
      chains:
        - {name: alpha, domain: 1, chain_id: 1, rpc_urls: ["http://a:8545"], trust: single_endpoint, mailbox: "0x5FbDB2315678afecb367f032d93F642f64180aa3", inbox: "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"}
EOF
expect_refused "an attester name that is no DNS label" -f "$out/one-attester.yaml" --set 'attesters[0].name=Alpha'
expect_refused "two replicas of one attester" -f "$out/one-attester.yaml" --set 'attesters[0].replicaCount=2'
expect_refused "an attester that accepts no token" -f "$out/one-attester.yaml" --set-json 'attesters[0].secret.tokenKeys=[]'
expect_refused "an attester without its config" --set 'attesters[0].name=alpha'
expect_refused "a queue key in an attester's config" -f "$out/one-attester.yaml" \
  --set 'attesters[0].config.queue_key.file=/etc/switchyard/secrets/queue-key'
expect_refused "chains in attesterDefaults (each attester's own)" \
  --set-json 'attesterDefaults.config.chains=[{"name":"a"}]'
expect_refused "an attester Ingress host that is no host" -f "$out/one-attester.yaml" \
  --set 'attesters[0].ingress.host=https://attester.example.org'
expect_refused "a hub attester whose URL is not HTTP" --set 'hubAttesters[0].name=beta' \
  --set 'hubAttesters[0].url=ftp://attester.example.org'
expect_refused "a hub attester name that is not a metrics label" --set 'hubAttesters[0].name=Beta' \
  --set 'hubAttesters[0].url=https://attester.example.org'
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
expect_refused_by_template "a NetworkPolicy that blocks the Redis port" --set networkPolicy.enabled=true \
  --set redis.url=rediss://redis.example.internal:6380
expect_refused_by_template "mode none without attesters" --set mode=none
# redis.waitReplicas with the trial Redis, which has no replica: refused for
# that reason, not another.
if "$helm" template sy "$chart" --set redis.trial.enabled=true --set redis.waitReplicas=1 >/dev/null 2>"$out/neg.err"; then
  bad "refuses redis.waitReplicas with the trial Redis (helm template accepted it)"
elif grep -q "the trial Redis has no replica" "$out/neg.err"; then
  ok "refuses redis.waitReplicas with the trial Redis: $(grep -m1 -o "execution error.*" "$out/neg.err" | cut -c1-150)"
else
  bad "refuses redis.waitReplicas with the trial Redis, for another reason:"; cat "$out/neg.err"
fi
expect_refused_by_template "hubAttesters in mode none" -f "$out/one-attester.yaml" --set mode=none \
  --set 'hubAttesters[0].name=alpha'
expect_refused_by_template "a hub attester without url that this release does not run" \
  --set 'hubAttesters[0].name=beta'
expect_refused_by_template "two attesters of one name" -f "$out/one-attester.yaml" \
  --set 'attesters[1].name=alpha' --set-json 'attesters[1].config={"chains":[]}' --set 'attesters[1].redis.url=redis://r2:6379'
expect_refused_by_template "an attester on the hub's Redis with the hub's prefix" -f "$out/one-attester.yaml" \
  --set 'attesters[0].redis.url=redis://redis:6379' --set 'attesters[0].redis.keyPrefix=sy'
expect_refused_by_template "an attester without a Redis" -f "$out/one-attester.yaml" --set 'attesters[0].redis.url='
expect_refused_by_template "accepted queue keys in an attester's config" -f "$out/one-attester.yaml" \
  --set 'attesters[0].config.accepted_queue_keys[0].file=/q'
expect_refused_by_template "an attester Ingress without a host" -f "$out/one-attester.yaml" \
  --set 'attesters[0].ingress.enabled=true'
expect_refused_by_template "an attester ExternalSecret missing a key the attester reads" -f "$out/one-attester.yaml" \
  --set 'attesters[0].secret.externalSecret.enabled=true' --set 'attesters[0].secret.externalSecret.secretStoreRef.name=vault' \
  --set 'attesters[0].secret.externalSecret.data[0].secretKey=attester-key' \
  --set 'attesters[0].secret.externalSecret.data[0].remoteRef.key=a'
expect_refused_by_template "an attester object name over 63 characters" -f "$out/one-attester.yaml" \
  --set fullnameOverride=a-release-name-that-is-long-enough-to-overflow-x --set 'attesters[0].name=abcdefghijklmnop'
# The attestation API over TLS (3c): refused by the templates for the reason
# named, or by the schema.
expect_refused_saying() {
  local what="$1" says="$2"; shift 2
  if "$helm" template sy "$chart" "$@" >/dev/null 2>"$out/neg.err"; then
    bad "refuses $what (helm template accepted it)"
  elif grep -q -- "$says" "$out/neg.err"; then
    ok "refuses $what: $(grep -m1 -o "execution error.*" "$out/neg.err" | cut -c1-150)"
  else
    bad "refuses $what, for another reason:"; cat "$out/neg.err"
  fi
}
tls_on=(-f "$out/one-attester.yaml" --set 'attesters[0].tls.enabled=true')
expect_refused_saying "an attester's tls without its Secret" "tls.secretName is required with tls.enabled" "${tls_on[@]}"
expect_refused_saying "client certificates required without tls" "tls.requireClientCertificates needs tls.enabled" \
  -f "$out/one-attester.yaml" --set 'attesters[0].tls.requireClientCertificates=true'
expect_refused_saying "an attester's tls on its http port" "tls.port 9464 is service.port" "${tls_on[@]}" \
  --set 'attesters[0].tls.secretName=alpha-tls' --set 'attesters[0].tls.port=9464'
expect_refused_saying "an attester Ingress beside its own tls" "ingress.enabled and tls.enabled are alternatives" "${tls_on[@]}" \
  --set 'attesters[0].tls.secretName=alpha-tls' --set 'attesters[0].ingress.enabled=true' --set 'attesters[0].ingress.host=a.example.org'
expect_refused_saying "attestation.listen in an attester's config (tls writes it)" "additional properties 'listen' not allowed" \
  -f "$out/one-attester.yaml" --set 'attesters[0].config.attestation.listen=0.0.0.0:9443'
expect_refused_saying "a release's attester asking client certificates the hub does not present" \
  "requires client certificates (tls.requireClientCertificates): set clientCertKey and clientKeyKey" "${tls_on[@]}" \
  --set 'attesters[0].tls.secretName=alpha-tls' --set 'attesters[0].tls.requireClientCertificates=true' --set 'hubAttesters[0].name=alpha'
expect_refused_saying "a hub attester's client key without its certificate" "clientKeyKey without clientCertKey" \
  --set 'hubAttesters[0].name=beta' --set 'hubAttesters[0].url=https://attester.example.org' \
  --set 'hubAttesters[0].clientCertKey=' --set 'hubAttesters[0].clientKeyKey=beta-client.key'
expect_refused_saying "a client certificate to an http:// attester" "expected an https:// url, got http://attester.example.org" \
  --set 'hubAttesters[0].name=beta' --set 'hubAttesters[0].url=http://attester.example.org' \
  --set 'hubAttesters[0].clientCertKey=beta-client.crt' --set 'hubAttesters[0].clientKeyKey=beta-client.key'
expect_refused_saying "a client certificate to a release's attester without tls" "(set tls.enabled of this release's attester alpha)" \
  -f "$out/one-attester.yaml" --set 'hubAttesters[0].name=alpha' \
  --set 'hubAttesters[0].clientCertKey=alpha-client.crt' --set 'hubAttesters[0].clientKeyKey=alpha-client.key'
expect_refused "a hub attester's client certificate without its key" --set 'hubAttesters[0].name=beta' \
  --set 'hubAttesters[0].url=https://attester.example.org' --set 'hubAttesters[0].clientCertKey=beta-client.crt'
expect_refused "an attester tls port out of range" --set 'attesterDefaults.tls.port=70000'

printf '\nchart: %d passed, %d failed\n' "$passed" "$failed"
[ "$failed" -eq 0 ]
