"""Build the lab's programs from their Go modules, cached per version.

Every piece is built through a small wrapper module (a go.mod written here) because
k8s.io/kubernetes and etcd's server module carry replace directives that make a plain
`go install module@version` fail. Binaries land in
``$MESHOPS_LAB_CACHE/bin/<piece>-<version>/`` (default ``~/.cache/meshops-istio``) and a
piece is rebuilt only when one of its binaries is missing.

Usage: python -m lab.build [--list] [--skip-previous] [piece ...]

Versions: lab/versions.env pins what only the lab needs (Kubernetes, etcd, kwok, the Istio commit
built for the collection's Istio version, the previous Istio release for the canary-upgrade
tests); the collection's Istio version itself is ``istioctl_version`` in
roles/istioctl/defaults/main.yml, read through lab/collection.py.
"""

import argparse
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time

from . import collection

HERE = os.path.dirname(os.path.abspath(__file__))
VERSIONS_ENV = os.path.join(HERE, "versions.env")
PROBE_SOURCE = os.path.join(HERE, "dataplane", "probe", "main.go")

# Staging modules that k8s.io/kubernetes replaces with ./staging paths; each is published
# on its own as k8s.io/<name> v0.<minor>.<patch>.
K8S_STAGING = [
    "api", "apiextensions-apiserver", "apimachinery", "apiserver", "cli-runtime", "client-go",
    "cloud-provider", "cluster-bootstrap", "code-generator", "component-base",
    "component-helpers", "controller-manager", "cri-api", "cri-client", "csi-translation-lib",
    "dynamic-resource-allocation", "endpointslice", "externaljwt", "kms", "kube-aggregator",
    "kube-controller-manager", "kube-proxy", "kube-scheduler", "kubectl", "kubelet", "metrics",
    "mount-utils", "pod-security-admission", "sample-apiserver", "sample-cli-plugin",
    "sample-controller",
]
# The Istio release before the collection's: only the canary-upgrade tests install it.
PREVIOUS = "istio-previous"
ETCD_SUBMODULES = {
    "go.etcd.io/etcd/api/v3": "", "go.etcd.io/etcd/client/pkg/v3": "",
    "go.etcd.io/etcd/client/v3": "", "go.etcd.io/etcd/pkg/v3": "",
}


def read_env(path=VERSIONS_ENV):
    """KEY=value lines of versions.env, as written."""
    values = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values


def version_key(version):
    """Suffix of the versions.env keys that pin the Istio commit of a release: 1.31.0 -> 1_31_0."""
    return version.replace(".", "_").replace("-", "_")


def load_versions(path=VERSIONS_ENV, istio_version=None):
    """Every version the lab builds: versions.env, plus ISTIO_VERSION (the collection's, from the
    istioctl role) and the ISTIO_PSEUDO/ISTIO_REPLACE that versions.env pins for that version."""
    versions = read_env(path)
    version = istio_version or collection.istio_version()
    pseudo = "ISTIO_PSEUDO_" + version_key(version)
    if pseudo not in versions:
        pinned = sorted(k[len("ISTIO_PSEUDO_"):] for k in versions if k.startswith("ISTIO_PSEUDO_"))
        raise SystemExit("[lab build] the collection installs Istio %s (istioctl_version in roles/istioctl/defaults/main.yml), "
                         "but lab/versions.env pins no commit for it: add %s=<pseudo-version of the release commit> "
                         "(and ISTIO_REPLACE_%s if needed); it pins %s"
                         % (version, pseudo, version_key(version), ", ".join(pinned) or "none"))
    versions["ISTIO_VERSION"] = version
    versions["ISTIO_PSEUDO"] = versions[pseudo]
    versions["ISTIO_REPLACE"] = versions.get("ISTIO_REPLACE_" + version_key(version), "")
    return versions


def cache_root():
    return os.environ.get("MESHOPS_LAB_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "meshops-istio")


def bin_dir(piece, version):
    return os.path.join(cache_root(), "bin", "%s-%s" % (piece, version))


def go_env():
    env = dict(os.environ)
    env.update({"GOTOOLCHAIN": "local", "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod -buildvcs=false"})
    return env


def run(cmd, cwd):
    print("    $ %s" % " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=cwd, env=go_env(), check=True)


def pieces(v):
    """Describe every piece: binaries, wrapper go.mod, packages and link flags."""
    kver = v["KUBERNETES_VERSION"]
    kminor = kver.lstrip("v").split(".")[1]
    staging_ver = "v0." + ".".join(kver.lstrip("v").split(".")[1:])
    k8s_x = []
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        k8s_x += ["-X", "%s.gitVersion=%s" % (pkg, kver), "-X", "%s.gitMajor=1" % pkg,
                  "-X", "%s.gitMinor=%s" % (pkg, kminor), "-X", "%s.gitTreeState=clean" % pkg,
                  "-X", "%s.buildDate=1970-01-01T00:00:00Z" % pkg]
    k8s_mod = ["require k8s.io/kubernetes %s" % kver]
    k8s_mod += ["replace k8s.io/%s => k8s.io/%s %s" % (m, m, staging_ver) for m in K8S_STAGING]
    eget = v["ETCD_VERSION"]
    etcd_mod = ["require go.etcd.io/etcd/server/v3 %s" % eget]
    etcd_mod += ["replace %s => %s %s" % (m, m, eget) for m in ETCD_SUBMODULES]
    result = {
        "kubernetes": {
            "version": kver,
            "binaries": ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"],
            "packages": ["k8s.io/kubernetes/cmd/%s" % b for b in
                         ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")],
            "mod": k8s_mod, "x": k8s_x,
        },
        "etcd": {
            "version": eget, "binaries": ["etcd"], "packages": ["go.etcd.io/etcd/server/v3"],
            "mod": etcd_mod, "x": [],
        },
        "kwok": {
            "version": v["KWOK_VERSION"], "binaries": ["kwok", "kwokctl"],
            "packages": ["sigs.k8s.io/kwok/cmd/kwok", "sigs.k8s.io/kwok/cmd/kwokctl"],
            "mod": ["require sigs.k8s.io/kwok %s" % v["KWOK_VERSION"]],
            "x": ["-X", "sigs.k8s.io/kwok/pkg/consts.Version=%s" % v["KWOK_VERSION"]],
        },
    }
    for key, prefix in (("istio", "ISTIO_"), ("istio-previous", "ISTIO_PREVIOUS_")):
        iver, pseudo = v[prefix + "VERSION"], v[prefix + "PSEUDO"]
        replaces = ["replace %s => %s %s" % (mv.split("@")[0], mv.split("@")[0], mv.split("@")[1])
                    for mv in v.get(prefix + "REPLACE", "").split()]
        pkg = "istio.io/istio/pkg/version"
        result[key] = {
            "version": iver, "dir": "istio", "binaries": ["istioctl", "pilot-discovery"],
            "packages": ["istio.io/istio/istioctl/cmd/istioctl",
                         "istio.io/istio/pilot/cmd/pilot-discovery"],
            "mod": ["require istio.io/istio %s" % pseudo] + replaces,
            "x": ["-X", "%s.buildVersion=%s" % (pkg, iver), "-X", "%s.buildTag=%s" % (pkg, iver),
                  "-X", "%s.buildHub=docker.io/istio" % pkg, "-X", "%s.buildStatus=Clean" % pkg,
                  "-X", "%s.buildGitRevision=%s" % (pkg, pseudo.rsplit("-", 1)[-1])],
        }
    # The lab's data plane (lab/dataplane.py): Istio's pilot-agent (grpc-agent mode, no Envoy) and
    # echo server from the same istio.io/istio module as istioctl, and the lab's own test client
    # (lab/dataplane/probe), whose source is part of the cache key so an edit rebuilds it.
    istio = result["istio"]
    result["istio-dataplane"] = {
        "version": "%s-%s" % (istio["version"], _digest(PROBE_SOURCE)), "dir": "istio-dataplane",
        "binaries": ["pilot-agent", "server", "meshops-probe"],
        "packages": ["istio.io/istio/pilot/cmd/pilot-agent", "istio.io/istio/pkg/test/echo/cmd/server",
                     "./cmd/meshops-probe"],
        "local": {"cmd/meshops-probe/main.go": PROBE_SOURCE},
        "mod": istio["mod"], "x": istio["x"],
    }
    order = ["kubernetes", "etcd", "kwok", "istio", "istio-dataplane", PREVIOUS]
    return dict((name, result[name]) for name in order)


def _digest(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()[:10]


def default_pieces(specs, skip_previous=False):
    """Every piece, in build order; without the previous Istio release when skip_previous."""
    return [name for name in specs if not (skip_previous and name == PREVIOUS)]


def path_of(name, spec):
    return bin_dir(spec.get("dir", name), spec["version"])


def build(name, spec):
    """Build one piece unless cached; a lock file serialises concurrent builds of a piece."""
    out = path_of(name, spec)
    if all(os.access(os.path.join(out, b), os.X_OK) for b in spec["binaries"]):
        print("[lab build] %-15s %-10s cached in %s" % (name, spec["version"], out), flush=True)
        return 0.0
    os.makedirs(os.path.join(cache_root(), "locks"), exist_ok=True)
    with open(os.path.join(cache_root(), "locks", "%s-%s.lock" % (name, spec["version"])), "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print("[lab build] %-15s %-10s another build is running; waiting for it" % (name, spec["version"]), flush=True)
            fcntl.flock(lock, fcntl.LOCK_EX)
        if all(os.access(os.path.join(out, b), os.X_OK) for b in spec["binaries"]):
            print("[lab build] %-15s %-10s cached in %s" % (name, spec["version"], out), flush=True)
            return 0.0
        return _build_locked(name, spec, out)


def _build_locked(name, spec, out):
    started = time.monotonic()
    binaries = ", ".join(spec["binaries"])
    print("[lab build] %-15s %-10s building %s" % (name, spec["version"], binaries), flush=True)
    work = os.path.join(cache_root(), "src", "%s-%s" % (name, spec["version"]))
    os.makedirs(work, exist_ok=True)
    with open(os.path.join(work, "go.mod"), "w", encoding="utf-8") as handle:
        handle.write("module meshops.local/labbuild/%s\n\ngo 1.26\n\n" % name.replace("-", ""))
        handle.write("\n".join(spec["mod"]) + "\n")
    # tools.go pins the packages so `go mod tidy` keeps everything they import.
    with open(os.path.join(work, "tools.go"), "w", encoding="utf-8") as handle:
        handle.write("//go:build tools\n\npackage tools\n\nimport (\n")
        handle.writelines('\t_ "%s"\n' % p for p in spec["packages"] if not p.startswith("./"))
        handle.write(")\n")
    # programs of this repository built inside the wrapper module (./cmd/...)
    for rel, source in spec.get("local", {}).items():
        os.makedirs(os.path.dirname(os.path.join(work, rel)), exist_ok=True)
        shutil.copyfile(source, os.path.join(work, rel))
    run(["go", "mod", "tidy", "-e"], work)
    staging = out + ".partial"
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    ldflags = " ".join(["-s", "-w"] + spec["x"])
    if len(spec["packages"]) == 1:
        cmd = ["go", "build", "-trimpath", "-ldflags", ldflags,
               "-o", os.path.join(staging, spec["binaries"][0])] + spec["packages"]
    else:
        cmd = ["go", "build", "-trimpath", "-ldflags", ldflags, "-o", staging + "/"] + spec["packages"]
    run(cmd, work)
    for binary in spec["binaries"]:
        if not os.access(os.path.join(staging, binary), os.X_OK):
            raise SystemExit("[lab build] %s: %s was not produced" % (name, binary))
    shutil.rmtree(out, ignore_errors=True)
    os.rename(staging, out)
    took = time.monotonic() - started
    print("[lab build] %-15s %-10s built in %.0f s" % (name, spec["version"], took), flush=True)
    return took


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m lab.build", description=__doc__.splitlines()[0])
    parser.add_argument("pieces", nargs="*", help="pieces to build (default: all)")
    parser.add_argument("--list", action="store_true", help="print piece, version and path")
    parser.add_argument("--skip-previous", action="store_true",
                        help="leave out %s (only the canary-upgrade tests use it)" % PREVIOUS)
    args = parser.parse_args(argv)
    specs = pieces(load_versions())
    names = args.pieces or default_pieces(specs, args.skip_previous)
    unknown = [n for n in names if n not in specs]
    if unknown:
        parser.error("unknown piece(s) %s; known: %s" % (", ".join(unknown), ", ".join(specs)))
    if args.list:
        for name in names:
            print("%s\t%s\t%s" % (name, specs[name]["version"], path_of(name, specs[name])))
        return 0
    if not shutil.which("go"):
        raise SystemExit("[lab build] go is not on PATH; the lab builds its programs with Go")
    total = time.monotonic()
    for name in names:
        build(name, specs[name])
    print("[lab build] all pieces ready in %.0f s" % (time.monotonic() - total), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
