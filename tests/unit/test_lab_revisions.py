"""The lab package (lab/lab.py, lab/istiod_supervisor.py): one istiod per control-plane revision, each on its
own ports, and the lab inventory that points each revision's webhooks at its istiod."""

import os
import sys

import jinja2
import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from lab import build, lab as labmod  # noqa: E402  pylint: disable=wrong-import-position,import-error
from ansible_collections.meshops.istio.plugins.module_utils.istio import operator  # noqa: E402  pylint: disable=wrong-import-position

PORTS = {"apiserver": 1, "mirror": 2, "istiod_http": 10, "istiod_https": 11, "istiod_grpc": 12,
         "istiod_sgrpc": 13, "istiod_monitoring": 14}
REVISION_PORTS = {"canary": {"http": 20, "https": 21, "grpc": 22, "sgrpc": 23, "monitoring": 24},
                  "1-31-0": {"http": 30, "https": 31, "grpc": 32, "sgrpc": 33, "monitoring": 34}}


@pytest.fixture
def lab(tmp_path, monkeypatch):
    monkeypatch.setenv("MESHOPS_LAB_CACHE", str(tmp_path))
    return labmod.Lab("unit")


def test_the_extra_revisions_are_canary_and_the_pinned_versions_with_dashes(lab):
    versions = build.load_versions()
    assert labmod.extra_revisions(lab) == [
        "canary", versions["ISTIO_VERSION"].replace(".", "-"), versions["ISTIO_PREVIOUS_VERSION"].replace(".", "-")]


def test_each_revision_has_its_own_ports_and_files(lab):
    info = {"ports": PORTS, "revision_ports": REVISION_PORTS}
    assert labmod.istiod_revisions(info) == ["", "1-31-0", "canary"]
    assert labmod.istiod_ports(info, "") == {"http": 10, "https": 11, "grpc": 12, "sgrpc": 13, "monitoring": 14}
    assert labmod.istiod_ports(info, "canary")["https"] == 21
    assert labmod.istiod_ports(info, "blue") is None
    assert os.path.basename(labmod.istiod_pid_path(lab, "")) == "istiod.pid"
    assert os.path.basename(labmod.istiod_pid_path(lab, "canary")) == "istiod-rev-canary.pid"
    assert os.path.basename(labmod.istiod_log(lab, "1-31-0")) == "istiod-rev-1-31-0.log"


@pytest.mark.parametrize("name, revision", [
    ("istio-sidecar-injector", ""),
    ("istio-sidecar-injector-canary", "canary"),
    ("istio-sidecar-injector-1-31-0", "1-31-0"),
])
def test_the_revision_comes_from_the_injector_configmap(name, revision):
    assert labmod.injector_revisions("configmap/%s\n" % name) == [revision]
    assert labmod.injector_revisions("other\n%s" % name) == [revision]  # bare names, as the istiod supervisor reads them


@pytest.mark.parametrize("name", ["istio", "istio-ca-root-cert", "istio-sidecar-injector-", "istio-sidecar-injector-Blue",
                                  "istio-sidecar-injector-canary-", "values"])
def test_other_configmaps_are_not_revisions(name):
    assert labmod.injector_revisions("configmap/%s\n" % name) == []


@pytest.mark.parametrize("revision, port", [("", 11), ("canary", 21), ("1-31-0", 31)])
def test_the_inventory_points_each_revisions_webhooks_at_its_istiod(lab, revision, port):
    info = {"ports": PORTS, "revision_ports": REVISION_PORTS}
    labmod.write_inventory(lab, info)
    with open(os.path.join(lab.inventory, "group_vars", "all.yml"), encoding="utf-8") as handle:
        group_vars = yaml.safe_load(handle)
    assert group_vars["lab_istiod_webhook_ports"] == {"": 11, "canary": 21, "1-31-0": 31}
    values = group_vars["control_plane_values"]
    variables = {"lab_istiod_webhook_ports": group_vars["lab_istiod_webhook_ports"], "control_plane_revision": revision}
    render = jinja2.Environment(undefined=jinja2.StrictUndefined)
    assert render.from_string(values["istiodRemote"]["injectionURL"]).render(variables) == \
        "https://localhost:%d/inject" % port
    assert render.from_string(values["base"]["validationURL"]).render(variables) == \
        "https://localhost:%d/validate" % port


def test_every_installed_revision_is_listed_from_kubectls_output():
    output = "configmap/istio\nconfigmap/istio-sidecar-injector\nconfigmap/istio-sidecar-injector-1-31-0\nconfigmap/x\n"
    assert labmod.injector_revisions(output) == ["", "1-31-0"]


@pytest.mark.parametrize("revision", ["", "canary", "1-31-0"])
def test_the_lab_reads_revision_names_the_way_the_collection_writes_them(revision):
    assert labmod.injector_revisions("configmap/%s\n" % operator.injector_webhook_name(revision)) == [revision]
    assert operator.istiod_name(revision) == ("istiod-%s" % revision if revision else "istiod")
