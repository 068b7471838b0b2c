#!/usr/bin/env bash
# The HA deployment files hold together: deploy/k8s/musterd-ha.yaml parses,
# has the objects it promises (Services, StatefulSets of musterd and etcd
# with 3 replicas each, a PodDisruptionBudget), its selectors select the
# pods, every port name a Service, probe or NetworkPolicy refers to is a
# port of the container, every $(VAR) of a command is defined, etcd's
# --initial-cluster names the StatefulSet's pods, and musterd's
# --advertise-addr and --etcd-endpoints name the headless Services. Every
# --flag of musterd's args and of deploy/systemd/musterd-ha.default must be
# one that BUILD_DIR/daemon/musterd --help lists, and the args must not
# repeat a flag of deploy/Dockerfile's ENTRYPOINT. When /usr/bin/etcd is
# installed, the etcd container's flags must be ones it knows.
#
# Usage: tests/deploy/ha_manifests_test.sh BUILD_DIR
set -euo pipefail
build_dir="$1"
source_dir="$(cd "$(dirname "$0")/../.." && pwd)"
musterd="${build_dir}/daemon/musterd"
if [[ ! -x "${musterd}" ]]; then
  echo "FAIL: ${musterd} is missing (build the musterd target)" >&2
  exit 1
fi
help_file="$(mktemp)"
trap 'rm -f "${help_file}"' EXIT
"${musterd}" --help >"${help_file}"

exec /usr/bin/python3 - "${source_dir}" "${help_file}" <<'PYTHON'
import json
import os
import re
import subprocess
import sys

import yaml

source_dir, help_file = sys.argv[1], sys.argv[2]
MANIFEST = "deploy/k8s/musterd-ha.yaml"
DEFAULT_FILE = "deploy/systemd/musterd-ha.default"
DOCKERFILE = "deploy/Dockerfile"
errors = []


def fail(where, message):
    errors.append(f"{where}: {message}")


def flags_of_help(text):
    """Option names of a CLI11 --help: the first column of option lines."""
    names = set()
    for line in text.splitlines():
        match = re.match(r"^\s{1,4}(-\S+)", line)
        if not match:
            continue
        for name in match.group(1).split(","):
            name = re.sub(r"\{.*\}$", "", name)
            if name.startswith("--"):
                names.add(name)
    return names


def flags_of_argv(argv):
    return [item.split("=", 1)[0] for item in argv
            if isinstance(item, str) and item.startswith("--")]


def value_of(argv, flag):
    """The value of --flag VALUE or --flag=VALUE in argv, or None."""
    for i, item in enumerate(argv):
        if item == flag and i + 1 < len(argv):
            return argv[i + 1]
        if isinstance(item, str) and item.startswith(flag + "="):
            return item[len(flag) + 1:]
    return None


with open(help_file) as f:
    musterd_flags = flags_of_help(f.read())
if "--listen" not in musterd_flags or "--help" not in musterd_flags:
    print(f"FAIL: could not read the flags of musterd --help "
          f"(found {sorted(musterd_flags)})", file=sys.stderr)
    sys.exit(1)

# ---------------------------------------------------------------- manifest
try:
    with open(os.path.join(source_dir, MANIFEST)) as f:
        docs = [d for d in yaml.safe_load_all(f) if d is not None]
except (OSError, yaml.YAMLError) as e:
    print(f"FAIL: {MANIFEST}: does not parse: {e}", file=sys.stderr)
    sys.exit(1)


def where(index, doc, field=""):
    kind = doc.get("kind", "?") if isinstance(doc, dict) else "?"
    name = (doc.get("metadata") or {}).get("name", "?") if isinstance(doc, dict) else "?"
    return f"{MANIFEST}: document {index + 1} ({kind} {name})" + (f": {field}" if field else "")


objects = []  # (index, doc)
for i, doc in enumerate(docs):
    if not isinstance(doc, dict) or "kind" not in doc or "apiVersion" not in doc:
        fail(where(i, doc), "not a Kubernetes object (kind and apiVersion)")
        continue
    if not (doc.get("metadata") or {}).get("name"):
        fail(where(i, doc, "metadata.name"), "missing")
        continue
    objects.append((i, doc))

def of_kind(kind):
    return [(i, d) for i, d in objects if d["kind"] == kind]

services = of_kind("Service")
statefulsets = {d["metadata"]["name"]: (i, d) for i, d in of_kind("StatefulSet")}
pdbs = of_kind("PodDisruptionBudget")

if len(services) < 2:
    fail(MANIFEST, f"expected at least 2 Services (clients and headless), found {len(services)}")
for name in ("musterd", "etcd"):
    if name not in statefulsets:
        fail(MANIFEST, f"no StatefulSet named {name} (found {sorted(statefulsets)})")
if not pdbs:
    fail(MANIFEST, "no PodDisruptionBudget")
if errors:
    print("\n".join("FAIL: " + e for e in errors), file=sys.stderr)
    sys.exit(1)


def containers_of(doc):
    return ((doc.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []


def pod_labels(doc):
    return (((doc.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}


def selects(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def port_names(doc):
    return {p.get("name") for c in containers_of(doc) for p in c.get("ports") or []}


def port_numbers(doc):
    return {p.get("containerPort") for c in containers_of(doc) for p in c.get("ports") or []}


def workloads_selected(selector):
    return [(name, i, d) for name, (i, d) in statefulsets.items()
            if selects(selector, pod_labels(d))]


# StatefulSets: replicas, selectors, governing Service, probes, $(VAR)s.
for name, (i, sts) in statefulsets.items():
    spec = sts.get("spec") or {}
    if name in ("musterd", "etcd") and spec.get("replicas") != 3:
        fail(where(i, sts, "spec.replicas"), f"is {spec.get('replicas')!r}, expected 3")
    if name == "musterd" and spec.get("podManagementPolicy") != "Parallel":
        fail(where(i, sts, "spec.podManagementPolicy"),
             f"is {spec.get('podManagementPolicy')!r}, expected Parallel")
    match_labels = (spec.get("selector") or {}).get("matchLabels") or {}
    if not selects(match_labels, pod_labels(sts)):
        fail(where(i, sts, "spec.selector.matchLabels"),
             f"{match_labels} does not match spec.template.metadata.labels {pod_labels(sts)}")
    governing = [(j, s) for j, s in services if s["metadata"]["name"] == spec.get("serviceName")]
    if not governing:
        fail(where(i, sts, "spec.serviceName"), f"no Service named {spec.get('serviceName')!r}")
    else:
        j, svc = governing[0]
        if (svc.get("spec") or {}).get("clusterIP") != "None":
            fail(where(j, svc, "spec.clusterIP"), f"must be None: it governs StatefulSet {name}")
    anti = (((spec.get("template") or {}).get("spec") or {}).get("affinity") or {}).get(
        "podAntiAffinity", {}).get("requiredDuringSchedulingIgnoredDuringExecution") or []
    if not any(t.get("topologyKey") == "kubernetes.io/hostname" and
               selects((t.get("labelSelector") or {}).get("matchLabels"), pod_labels(sts))
               for t in anti):
        fail(where(i, sts, "spec.template.spec.affinity.podAntiAffinity"),
             "no required anti-affinity of its own pods across kubernetes.io/hostname")
    if not containers_of(sts):
        fail(where(i, sts, "spec.template.spec.containers"), "empty")
    for c in containers_of(sts):
        cwhere = f"spec.template.spec.containers[{c.get('name')}]"
        names = {p.get("name") for p in c.get("ports") or []}
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            for handler in ("httpGet", "tcpSocket", "grpc"):
                port = ((c.get(probe) or {}).get(handler) or {}).get("port")
                if isinstance(port, str) and port not in names:
                    fail(where(i, sts, f"{cwhere}.{probe}.{handler}.port"),
                         f"port name {port!r} is not a port of the container ({sorted(names)})")
        env = {e.get("name") for e in c.get("env") or []}
        for field in ("command", "args"):
            for item in c.get(field) or []:
                for var in sorted(set(re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", str(item)))):
                    if var not in env:
                        fail(where(i, sts, f"{cwhere}.{field}"),
                             f"$({var}) in {item!r} is not defined in env "
                             "(Kubernetes would pass it literally)")

# Services: selectors select a StatefulSet's pods, target ports exist.
for i, svc in services:
    spec = svc.get("spec") or {}
    selected = workloads_selected(spec.get("selector") or {})
    if not selected:
        fail(where(i, svc, "spec.selector"),
             f"{spec.get('selector')} selects the pods of no StatefulSet")
    for port in spec.get("ports") or []:
        target = port.get("targetPort", port.get("port"))
        for name, _, sts in selected:
            if isinstance(target, str) and target not in port_names(sts):
                fail(where(i, svc, f"spec.ports[{port.get('name')}].targetPort"),
                     f"port name {target!r} is not a container port of StatefulSet {name} "
                     f"({sorted(port_names(sts))})")
            if isinstance(target, int) and target not in port_numbers(sts):
                fail(where(i, svc, f"spec.ports[{port.get('name')}].targetPort"),
                     f"port {target} is not a container port of StatefulSet {name}")

# PodDisruptionBudgets and NetworkPolicies select pods; policy port names exist.
for i, pdb in pdbs:
    selector = ((pdb.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    if not workloads_selected(selector):
        fail(where(i, pdb, "spec.selector.matchLabels"), f"{selector} selects no StatefulSet's pods")
musterd_pdbs = [pdb for _, pdb in pdbs if any(
    n == "musterd" for n, _, _ in workloads_selected(
        ((pdb.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}))]
if not any((p.get("spec") or {}).get("minAvailable") == 2 for p in musterd_pdbs):
    fail(MANIFEST, "no PodDisruptionBudget with minAvailable 2 selects musterd's pods")
for i, policy in of_kind("NetworkPolicy"):
    spec = policy.get("spec") or {}
    selector = (spec.get("podSelector") or {}).get("matchLabels") or {}
    selected = workloads_selected(selector)
    if not selected:
        fail(where(i, policy, "spec.podSelector.matchLabels"), f"{selector} selects no StatefulSet's pods")
    for k, rule in enumerate(spec.get("ingress") or []):
        for peer in rule.get("from") or []:
            peer_selector = (peer.get("podSelector") or {}).get("matchLabels")
            if peer_selector is not None and not workloads_selected(peer_selector):
                fail(where(i, policy, f"spec.ingress[{k}].from.podSelector"),
                     f"{peer_selector} selects no StatefulSet's pods")
        for port in rule.get("ports") or []:
            for name, _, sts in selected:
                if isinstance(port.get("port"), str) and port["port"] not in port_names(sts):
                    fail(where(i, policy, f"spec.ingress[{k}].ports"),
                         f"port name {port['port']!r} is not a container port of StatefulSet {name}")


def container(sts_name, container_name):
    i, sts = statefulsets[sts_name]
    for c in containers_of(sts):
        if c.get("name") == container_name:
            return i, sts, c
    fail(where(i, sts, "spec.template.spec.containers"), f"no container named {container_name}")
    return i, sts, None


def env_field(c, var):
    for e in c.get("env") or []:
        if e.get("name") == var:
            return ((e.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath")
    return None


# musterd: flags exist, entrypoint not repeated, replica identity, etcd.
i, sts, c = container("musterd", "musterd")
if c is not None:
    cwhere = "spec.template.spec.containers[musterd]"
    argv = list(c.get("command") or []) + list(c.get("args") or [])
    with open(os.path.join(source_dir, DOCKERFILE)) as f:
        entry = re.search(r"^ENTRYPOINT\s+(\[.*\])\s*$", f.read(), re.M)
    entrypoint = json.loads(entry.group(1)) if entry else []
    if not entry:
        fail(DOCKERFILE, "no ENTRYPOINT [...] line")
    # What the container runs: its command, or the image's entrypoint
    # followed by the args.
    effective = argv if c.get("command") else entrypoint + argv
    for flag in flags_of_argv(effective):
        if flag not in musterd_flags:
            source = cwhere + ".args" if flag in flags_of_argv(argv) else f"{DOCKERFILE} ENTRYPOINT"
            fail(where(i, sts, source), f"{flag} is not a flag of musterd --help")
    if not c.get("command"):
        repeated = set(flags_of_argv(entrypoint)) & set(flags_of_argv(argv))
        if repeated:
            fail(where(i, sts, cwhere + ".args"),
                 f"repeats {sorted(repeated)}, which {DOCKERFILE}'s ENTRYPOINT already sets")
    for var, field in (("POD_NAME", "metadata.name"), ("POD_NAMESPACE", "metadata.namespace")):
        if env_field(c, var) != field:
            fail(where(i, sts, cwhere + ".env"), f"{var} must come from fieldRef {field}")
    if value_of(argv, "--store") != "etcd":
        fail(where(i, sts, cwhere + ".args"), "--store etcd is missing")
    if value_of(argv, "--replica-id") != "$(POD_NAME)":
        fail(where(i, sts, cwhere + ".args"), "--replica-id must be $(POD_NAME)")
    ports = {p.get("name"): p.get("containerPort") for p in c.get("ports") or []}
    expected = f"$(POD_NAME).{sts['spec'].get('serviceName')}.$(POD_NAMESPACE).svc:{ports.get('grpc')}"
    if value_of(argv, "--advertise-addr") != expected:
        fail(where(i, sts, cwhere + ".args"),
             f"--advertise-addr is {value_of(argv, '--advertise-addr')!r}, expected {expected!r}")
    for flag, port in (("--listen", "grpc"), ("--http-listen", "http")):
        wanted = f"0.0.0.0:{ports.get(port)}"
        if value_of(effective, flag) != wanted:
            fail(where(i, sts, cwhere + ".args"),
                 f"{flag} is {value_of(effective, flag)!r} (command, or {DOCKERFILE}'s ENTRYPOINT "
                 f"and args), expected {wanted} (container port {port})")
    for flag in ("--auth", "--tls-cert", "--tls-key"):
        if flag not in flags_of_argv(effective):
            fail(where(i, sts, cwhere + ".args"), f"{flag} is missing (replicas serve other hosts)")
    probes = {"livenessProbe": "/healthz", "readinessProbe": "/readyz"}
    for probe, path in probes.items():
        http = (c.get(probe) or {}).get("httpGet") or {}
        if http.get("path") != path or http.get("port") != "http":
            fail(where(i, sts, f"{cwhere}.{probe}.httpGet"), f"must be {path} on port http")

    # Every --etcd-endpoints host is an etcd pod of the etcd StatefulSet
    # (through its headless Service) at its client port.
    ei, ests, ec = container("etcd", "etcd")
    if ec is not None:
        eservice = ests["spec"].get("serviceName")
        client_port = next((p.get("containerPort") for p in ec.get("ports") or []
                            if p.get("name") == "client"), None)
        pods = {f"etcd-{n}.{eservice}.$(POD_NAMESPACE).svc:{client_port}"
                for n in range(ests["spec"].get("replicas") or 0)}
        endpoints = (value_of(argv, "--etcd-endpoints") or "").split(",")
        if set(endpoints) != pods:
            fail(where(i, sts, cwhere + ".args"),
                 f"--etcd-endpoints {endpoints} should be the etcd pods {sorted(pods)}")

# etcd: --initial-cluster names the pods; flags known to etcd.
i, sts, c = container("etcd", "etcd")
if c is not None:
    cwhere = "spec.template.spec.containers[etcd]"
    argv = list(c.get("command") or []) + list(c.get("args") or [])
    service = sts["spec"].get("serviceName")
    peer_port = next((p.get("containerPort") for p in c.get("ports") or []
                      if p.get("name") == "peer"), None)
    members = [f"etcd-{n}=http://etcd-{n}.{service}.$(POD_NAMESPACE).svc:{peer_port}"
               for n in range(sts["spec"].get("replicas") or 0)]
    cluster = (value_of(argv, "--initial-cluster") or "").split(",")
    if cluster != members:
        fail(where(i, sts, cwhere + ".args"),
             f"--initial-cluster {cluster} should name the StatefulSet's pods {members}")
    if value_of(argv, "--name") != "$(POD_NAME)":
        fail(where(i, sts, cwhere + ".args"), "--name must be $(POD_NAME)")
    for flag in ("--initial-advertise-peer-urls", "--advertise-client-urls"):
        value = value_of(argv, flag) or ""
        if f"$(POD_NAME).{service}.$(POD_NAMESPACE).svc:" not in value:
            fail(where(i, sts, cwhere + ".args"), f"{flag} {value!r} is not the pod's stable name")
    if not any(t.get("spec", {}).get("resources") for t in sts["spec"].get("volumeClaimTemplates") or []):
        fail(where(i, sts, "spec.volumeClaimTemplates"), "etcd's data needs a persistent volume")
    # The installed etcd is Debian's 3.4, the image's 3.5: a flag new in 3.5
    # would need an exception here (none is used).
    if os.access("/usr/bin/etcd", os.X_OK):
        etcd_help = subprocess.run(["/usr/bin/etcd", "--help"], capture_output=True, text=True)
        known = set(re.findall(r"^\s+(--[a-z][a-z0-9-]*)", etcd_help.stdout + etcd_help.stderr, re.M))
        for flag in flags_of_argv(argv):
            if flag not in known:
                fail(where(i, sts, cwhere + ".args"), f"{flag} is not a flag of /usr/bin/etcd --help")
    else:
        print("note: /usr/bin/etcd is not installed; etcd's flags are not checked")

# ---------------------------------------------------------- systemd default
path = os.path.join(source_dir, DEFAULT_FILE)
with open(path) as f:
    text = f.read()
if not re.search(r'^MUSTERD_OPTS="[^"]*--store etcd', text, re.M):
    fail(DEFAULT_FILE, 'no MUSTERD_OPTS="... --store etcd ..." line')
for opts in re.findall(r'^MUSTERD_OPTS="([^"]*)"', text, re.M):
    if "--data-dir" in opts.split():
        fail(DEFAULT_FILE, "MUSTERD_OPTS repeats --data-dir, which deploy/musterd.service passes")
for number, line in enumerate(text.splitlines(), 1):
    if "musterctl" in line:
        continue  # a client's command line, not musterd's flags
    for flag in re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", line):
        if flag not in musterd_flags:
            fail(f"{DEFAULT_FILE}:{number}", f"{flag} is not a flag of musterd --help")

if errors:
    for e in errors:
        print("FAIL: " + e, file=sys.stderr)
    sys.exit(1)
print(f"ok: {MANIFEST} ({len(objects)} objects) and {DEFAULT_FILE} hold together; "
      f"every musterd flag they use is in musterd --help")
PYTHON
