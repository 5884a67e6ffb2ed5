// Validates prometheus-operator resources (ServiceMonitor, PrometheusRule) against
// the CRD schemas compiled into @kubernetes-models/prometheus-operator. Reads
// [{file, doc}] as JSON on stdin (validate.py parses the YAML); prints one line
// per resource; exits 1 on any failure or unknown kind.
// Usage: node validate-crds.mjs NODE_MODULES_DIR < resources.json
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const modules = process.argv[2];
const v1 = await import(
  pathToFileURL(join(modules, "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/index.js")).href
);
const kinds = { ServiceMonitor: v1.ServiceMonitor, PrometheusRule: v1.PrometheusRule };

let failed = 0;
for (const { file, doc } of JSON.parse(readFileSync(0, "utf8"))) {
  const name = `${doc.kind}/${doc.metadata?.name}`;
  const Model = doc.apiVersion === "monitoring.coreos.com/v1" ? kinds[doc.kind] : undefined;
  if (!Model) {
    console.log(`ERROR ${file} ${name}: no schema for ${doc.apiVersion} ${doc.kind}`);
    failed++;
    continue;
  }
  try {
    new Model(doc).validate();
    console.log(`OK    ${file} ${name} (prometheus-operator CRD schema)`);
  } catch (e) {
    console.log(`ERROR ${file} ${name}: ${e.message}`);
    failed++;
  }
}
process.exit(failed ? 1 : 0);
