#!/usr/bin/env python3
"""Validates the manifests in packaging/kubernetes offline, and the promises they make.

Core kinds: the Kubernetes OpenAPI schemas bundled in kubernetes-validate, strict
(unknown fields are errors). prometheus-operator kinds: that project's CRD schemas
as compiled into @kubernetes-models/prometheus-operator (validate-crds.mjs). A kind
with neither is an error, never a warning. Then the rules this setup documents:
3 replicas, probes on /healthz and /readyz, the key from a Secret, read-only root,
non-root, no capabilities, RuntimeDefault seccomp, a PodDisruptionBudget, the
alert on tunnel_client_connected == 0.

Usage: validate.py --node-modules DIR FILE.yaml...
"""

import json
import os
import subprocess
import sys

import yaml
from kubernetes_validate import utils as kv

KUBERNETES_VERSION = "1.30.0"
HERE = os.path.dirname(os.path.abspath(__file__))
CRD_GROUP = "monitoring.coreos.com/"


def load(files):
    for path in files:
        with open(path, encoding="utf-8") as f:
            for doc in yaml.safe_load_all(f):
                if doc:
                    yield os.path.basename(path), doc


def check_core(file, doc):
    try:
        version = kv.validate(doc, KUBERNETES_VERSION, strict=True)
        print(f"OK    {file} {doc['kind']}/{doc['metadata']['name']} (Kubernetes {version} schema, strict)")
        return True
    except kv.ValidationError as e:
        path = ".".join(str(p) for p in e.path)
        print(f"ERROR {file} {doc['kind']}/{doc['metadata']['name']}: {path}: {e.message}")
    except kv.SchemaNotFoundError as e:
        print(f"ERROR {file} {doc.get('kind')}: {e.message}")
    return False


def containers(doc):
    return doc["spec"]["template"]["spec"]["containers"]


def promises(docs):
    """The documented setup, checked; returns a list of broken promises."""
    broken = []
    deployments = [(f, d) for f, d in docs if d["kind"] == "Deployment"]
    if not deployments:
        broken.append("no Deployment")
    for file, dep in deployments:
        name = f"{file} Deployment/{dep['metadata']['name']}"
        if dep["spec"].get("replicas") != 3:
            broken.append(f"{name}: replicas is not 3")
        pod = dep["spec"]["template"]["spec"]
        sc = pod.get("securityContext", {})
        if sc.get("runAsNonRoot") is not True:
            broken.append(f"{name}: runAsNonRoot is not true")
        if sc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            broken.append(f"{name}: seccompProfile is not RuntimeDefault")
        if not any(d["kind"] == "PodDisruptionBudget"
                   and d["spec"]["selector"]["matchLabels"].items() <= dep["spec"]["template"]["metadata"]["labels"].items()
                   for _, d in docs):
            broken.append(f"{name}: no PodDisruptionBudget selects its pods")
        for c in containers(dep):
            csc = c.get("securityContext", {})
            cname = f"{name} container {c['name']}"
            if csc.get("readOnlyRootFilesystem") is not True:
                broken.append(f"{cname}: root filesystem is writable")
            if csc.get("allowPrivilegeEscalation") is not False:
                broken.append(f"{cname}: allowPrivilegeEscalation is not false")
            if csc.get("capabilities", {}).get("drop") != ["ALL"]:
                broken.append(f"{cname}: capabilities are not dropped")
            if "resources" not in c or "requests" not in c["resources"] or "limits" not in c["resources"]:
                broken.append(f"{cname}: no resource requests and limits")
            if c["name"] != "tunnel-client":
                continue
            args = c.get("args", [])
            if "--admin-address=0.0.0.0:8090" not in args:
                broken.append(f"{cname}: admin address is not 0.0.0.0:8090")
            if any(a.startswith("--allow-remote-ui") for a in args):
                broken.append(f"{cname}: the remote UI is on")
            if c.get("livenessProbe", {}).get("httpGet", {}).get("path") != "/healthz":
                broken.append(f"{cname}: liveness is not /healthz")
            if c.get("readinessProbe", {}).get("httpGet", {}).get("path") != "/readyz":
                broken.append(f"{cname}: readiness is not /readyz")
            keys = [e for e in c.get("env", []) if e["name"] == "CONTROL_PLANE_API_KEY"]
            if not keys or "secretKeyRef" not in keys[0].get("valueFrom", {}):
                broken.append(f"{cname}: CONTROL_PLANE_API_KEY does not come from a Secret")
            if any("value" in e and "KEY" in e["name"] for e in c.get("env", [])):
                broken.append(f"{cname}: a key is written into the manifest")
    rules = [r for _, d in docs if d["kind"] == "PrometheusRule"
             for g in d["spec"]["groups"] for r in g["rules"]]
    alert = [r for r in rules if r.get("alert") == "TunnelClientDisconnected"]
    if not alert or alert[0]["expr"].strip() != "tunnel_client_connected == 0" or not alert[0].get("for"):
        broken.append("no TunnelClientDisconnected alert on tunnel_client_connected == 0 with a 'for'")
    if not any(d["kind"] == "ServiceMonitor" for _, d in docs):
        broken.append("no ServiceMonitor")
    return broken


def main(argv):
    if len(argv) < 4 or argv[1] != "--node-modules":
        print(__doc__, file=sys.stderr)
        return 2
    node_modules, files = argv[2], argv[3:]
    docs = list(load(files))
    ok = True
    crds = []
    for file, doc in docs:
        if doc.get("apiVersion", "").startswith(CRD_GROUP):
            crds.append({"file": file, "doc": doc})
        else:
            ok &= check_core(file, doc)
    if crds:
        run = subprocess.run(
            ["node", os.path.join(HERE, "validate-crds.mjs"), node_modules],
            input=json.dumps(crds), text=True,
        )
        ok &= run.returncode == 0
    broken = promises(docs)
    for line in broken:
        print(f"ERROR promise: {line}")
    print(f"k8s-check: {len(docs)} resources in {len(files)} files; "
          f"{'all valid' if ok and not broken else 'FAILED'}")
    return 0 if ok and not broken else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
