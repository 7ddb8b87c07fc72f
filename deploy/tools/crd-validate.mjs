// Validates rendered custom resources against the models of their CRDs, from
// the npm packages @kubernetes-models/prometheus-operator (ServiceMonitor,
// PrometheusRule) and @kubernetes-models/external-secrets (ExternalSecret),
// installed by deploy/setup.sh into .tools/npm. deploy/chart-test.sh runs it.
//
//   node deploy/tools/crd-validate.mjs NODE_MODULES OBJECTS.json
//
// OBJECTS.json: [{"case": "...", "object": {...}}, ...]. Two checks per object,
// both from the same generated models:
//   1. the model's validate(): the JSON schema (types, required fields,
//      enums, patterns such as the duration format);
//   2. TypeScript's excess-property check against the model's interface:
//      a field the CRD does not have (which the API server would drop, or
//      refuse under strict field validation) is an error. validate() allows
//      unknown fields, hence this second pass.
// Prints one line per problem with the case, the object and the field path;
// exits 1 if there is any, 2 on a usage error.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [nodeModules, objectsFile] = process.argv.slice(2);
if (!nodeModules || !objectsFile) {
  console.error("usage: crd-validate.mjs NODE_MODULES OBJECTS.json");
  process.exit(2);
}

// apiVersion and kind -> module path of the model (no extension) and its interface.
const MODELS = {
  "monitoring.coreos.com/v1 ServiceMonitor": ["@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor", "IServiceMonitor"],
  "monitoring.coreos.com/v1 PrometheusRule": ["@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule", "IPrometheusRule"],
  "external-secrets.io/v1 ExternalSecret": ["@kubernetes-models/external-secrets/external-secrets.io/v1/ExternalSecret", "IExternalSecret"],
  "external-secrets.io/v1beta1 ExternalSecret": ["@kubernetes-models/external-secrets/external-secrets.io/v1beta1/ExternalSecret", "IExternalSecret"],
};

const entries = JSON.parse(readFileSync(objectsFile, "utf8"));
const problems = [];
const counts = {};
const label = (e) => `${e.case}: ${e.object.kind} ${e.object.metadata?.name ?? "?"}`;

// --- 1. the models' JSON schema validation -------------------------------------
for (const e of entries) {
  const key = `${e.object.apiVersion} ${e.object.kind}`;
  const model = MODELS[key];
  if (!model) {
    problems.push(`${label(e)}: no model for ${key}`);
    continue;
  }
  counts[key] = (counts[key] ?? 0) + 1;
  const mod = await import(pathToFileURL(path.join(nodeModules, model[0] + ".js")).href);
  const Model = mod[e.object.kind];
  try {
    new Model(e.object).validate();
  } catch (err) {
    // ajv's messages: "data/spec/endpoints/0/interval must match pattern ...", joined by ", ".
    for (const msg of String(err.message).split(/, (?=data[/ ])/)) {
      const m = /^data(\S*) (.*)$/s.exec(msg);
      if (!m) {
        problems.push(`${label(e)}: ${msg}`);
        continue;
      }
      const segs = m[1].split("/").filter(Boolean).map((s) => (/^\d+$/.test(s) ? Number(s) : s));
      problems.push(`${label(e)}: ${fmtPath(segs) || "(object)"}: ${m[2]}`);
    }
  }
}

// --- 2. unknown fields: TypeScript's excess-property check ---------------------
// Each object becomes `export const oN: IKind = <its JSON>;`, pretty-printed one
// property a line, so that a compiler error's line number names the field.
const known = entries.filter((e) => MODELS[`${e.object.apiVersion} ${e.object.kind}`]);
if (known.length > 0) {
  const lines = [];
  const where = []; // per line: [entry index, field path]
  const imports = new Map();
  known.forEach((e) => {
    const [spec, iface] = MODELS[`${e.object.apiVersion} ${e.object.kind}`];
    const alias = `${iface}_${imports.size}`;
    if (![...imports.values()].some(([s]) => s === spec)) imports.set(alias, [spec, iface]);
  });
  const aliasOf = (spec) => [...imports.entries()].find(([, [s]]) => s === spec)[0];
  for (const [alias, [spec, iface]] of imports) {
    lines.push(`import type { ${iface} as ${alias} } from "${spec}";`);
    where.push(null);
  }
  known.forEach((e, i) => {
    const [spec] = MODELS[`${e.object.apiVersion} ${e.object.kind}`];
    const json = JSON.stringify(e.object, null, 2).split("\n");
    const paths = fieldPaths(json);
    json.forEach((l, j) => {
      lines.push(j === 0 ? `export const o${i}: ${aliasOf(spec)} = ${l}` : l);
      where.push([i, paths[j]]);
    });
    lines[lines.length - 1] += ";";
  });
  // Inside node_modules' parent, so that the compiler resolves the packages.
  const dir = mkdtempSync(path.join(path.dirname(nodeModules), "crd-check-"));
  try {
    const file = path.join(dir, "objects.mts");
    writeFileSync(file, lines.join("\n") + "\n");
    let output = "";
    try {
      execFileSync(process.execPath, [
        path.join(nodeModules, "typescript/bin/tsc"),
        "--noEmit", "--strict", "--skipLibCheck", "--pretty", "false",
        "--module", "nodenext", "--moduleResolution", "nodenext", "--target", "es2022",
        file,
      ], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    } catch (err) {
      output = `${err.stdout ?? ""}${err.stderr ?? ""}`;
      if (!output.trim()) throw err;
    }
    for (const l of output.split("\n").filter(Boolean)) {
      const m = /\((\d+),(\d+)\): error (TS\d+): (.*)$/.exec(l);
      const w = m && where[Number(m[1]) - 1];
      if (!w) {
        problems.push(`TypeScript: ${l}`);
        continue;
      }
      const [i, p] = w;
      problems.push(`${label(known[i])}: ${p || "(object)"}: ${m[4].replace(/'"([^"]+)"'/g, "'$1'")}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

for (const p of problems) console.log(`  ${p}`);
const summary = Object.entries(counts).map(([k, n]) => `${n} ${k}`).join(", ");
console.log(`  ${problems.length ? "INVALID" : "valid"}: ${summary || "no objects"} (validate() and the TypeScript models)`);
process.exit(problems.length ? 1 : 0);

// The field path ("spec.endpoints[0].port") of each line of JSON.stringify(x, null, 2).
function fieldPaths(jsonLines) {
  const stack = []; // {seg, isArray, next}
  const out = [];
  for (const raw of jsonLines) {
    const l = raw.trim();
    if (l.startsWith("}") || l.startsWith("]")) {
      stack.pop();
      out.push(fmtPath(stack.map((s) => s.seg)));
      continue;
    }
    let seg;
    let rest = l;
    const m = /^("(?:[^"\\]|\\.)*"): (.*)$/.exec(l);
    const top = stack[stack.length - 1];
    if (m) {
      seg = JSON.parse(m[1]);
      rest = m[2];
    } else if (top && top.isArray) {
      seg = top.next++;
    }
    const segs = stack.map((s) => s.seg).concat(seg === undefined ? [] : [seg]);
    out.push(fmtPath(segs));
    if (rest === "{" || rest === "[") {
      stack.push({ seg, isArray: rest === "[", next: 0 });
    }
  }
  return out;
}

function fmtPath(segs) {
  return segs.reduce((a, s) => (typeof s === "number" ? `${a}[${s}]` : a ? `${a}.${s}` : s), "");
}
