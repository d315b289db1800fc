"""Every manifest under deploy/k8s validates against the Kubernetes API schemas shipped by
kubernetes-validate (offline, strict: unknown fields are errors) for a pinned Kubernetes
version, and the manifests agree with each other and with the streamfeat CLI."""

from __future__ import annotations

import re
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from streamfeat.loader import load_views
from tests.deploy._cli import check_command_line, expand

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
# The oldest Kubernetes these manifests are written for: the StatefulSet pod-index label
# (1.28) and persistentVolumeClaimRetentionPolicy (GA in 1.32) need no feature gate there.
KUBERNETES_VERSION = "1.33.0"

MANIFESTS = sorted(K8S.rglob("*.yaml"))


def documents(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def resources() -> dict[tuple[str, str], dict]:
    found = {}
    for path in MANIFESTS:
        for doc in documents(path):
            key = (doc["kind"], doc["metadata"]["name"])
            assert key not in found, f"{key} defined twice"
            found[key] = doc
    return found


def test_there_are_manifests():
    assert {p.relative_to(K8S).as_posix() for p in MANIFESTS} >= {
        "configmap.yaml", "dataflow.yaml", "feature-server.yaml", "jobs/backfill.yaml"
    }


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.relative_to(K8S).as_posix())
def test_manifest_validates_against_the_kubernetes_schemas(path):
    docs = documents(path)
    assert docs, f"{path} holds no resource"
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{path.name}: {doc.get('kind')}/{doc.get('metadata', {}).get('name')}: "
                        f"{'.'.join(str(p) for p in exc.path)}: {exc.message}")


def test_the_validator_rejects_bad_manifests():
    """The gate can fail: a wrong type, and (strict) a misspelt field."""
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"a": "b"}},
                 "template": {"metadata": {"labels": {"a": "b"}},
                              "spec": {"containers": [{"name": "c", "image": "i"}]}}},
    }
    kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)
    wrong_type = {**deployment, "spec": {**deployment["spec"], "replicas": "two"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(wrong_type, KUBERNETES_VERSION, strict=True)
    misspelt = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(misspelt, KUBERNETES_VERSION, strict=True)


def _container(workload: dict) -> dict:
    (container,) = workload["spec"]["template"]["spec"]["containers"]
    return container


def _env(container: dict, config: dict) -> dict[str, str]:
    env = {}
    for source in container.get("envFrom", []):
        env.update(config[("ConfigMap", source["configMapRef"]["name"])]["data"])
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
        else:
            field = item["valueFrom"]["fieldRef"]["fieldPath"]
            assert field == "metadata.labels['apps.kubernetes.io/pod-index']", field
            env[item["name"]] = "0"
    return env


def test_dataflow_cluster_addresses_match_the_statefulset():
    found = resources()
    sts = found[("StatefulSet", "streamfeat-dataflow")]
    service = found[("Service", sts["spec"]["serviceName"])]
    assert service["spec"]["clusterIP"] == "None", "the cluster addresses need a headless Service"
    assert service["spec"]["publishNotReadyAddresses"] is True, "peers must resolve before they are ready"
    assert sts["spec"]["podManagementPolicy"] == "Parallel"
    container = _container(sts)
    env = {item["name"]: item for item in container["env"]}
    addresses = env["CLUSTER_ADDRESSES"]["value"].split(";")
    assert len(addresses) == sts["spec"]["replicas"], "one cluster address per replica, in ordinal order"
    cluster_port = {p["name"]: p["containerPort"] for p in container["ports"]}["cluster"]
    for ordinal, address in enumerate(addresses):
        assert address == f"{sts['metadata']['name']}-{ordinal}.{service['metadata']['name']}:{cluster_port}"
    assert env["POD_INDEX"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.labels['apps.kubernetes.io/pod-index']"
    assert "--process-id=$(POD_INDEX)" in container["args"]
    assert "--addresses=$(CLUSTER_ADDRESSES)" in container["args"]


def test_dataflow_state_lives_on_the_per_pod_volume():
    sts = resources()[("StatefulSet", "streamfeat-dataflow")]
    container = _container(sts)
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    state_dir = next(a.split("=", 1)[1] for a in container["args"] if a.startswith("--state-dir="))
    assert mounts[claim["metadata"]["name"]] == state_dir


def test_every_streamfeat_command_line_parses():
    found = resources()
    commands = {}
    for (kind, name), doc in found.items():
        if kind not in {"StatefulSet", "Deployment", "Job"}:
            continue
        container = _container(doc)
        args = expand(container["args"], _env(container, found))
        commands[args[0]] = check_command_line(args, f"{kind}/{name}")
        mounts = [m["mountPath"] for m in container["volumeMounts"]]
        assert any(args[1].startswith(m.rstrip("/") + "/") for m in mounts), f"{kind}/{name}: {args[1]} not mounted"
    assert set(commands) == {"run", "serve", "backfill"}
    assert commands["backfill"].state_dir and commands["backfill"].bootstrap_servers, "the Job runs a bootstrap"


def test_probes_and_resources_are_set_on_long_running_containers():
    for (kind, name), doc in resources().items():
        if kind not in {"StatefulSet", "Deployment", "Job"}:
            continue
        container = _container(doc)
        assert container["resources"]["requests"].keys() >= {"cpu", "memory"}, f"{kind}/{name}"
        assert doc["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
        if kind != "Job":
            assert {"readinessProbe", "livenessProbe"} <= container.keys(), f"{kind}/{name}"


def test_configmap_features_are_the_example_and_load(tmp_path):
    features = resources()[("ConfigMap", "streamfeat-features")]["data"]["features.py"]
    example = (REPO / "streamfeat" / "examples" / "transactions.py").read_text()
    assert features == example, "deploy/k8s/configmap.yaml must carry streamfeat/examples/transactions.py verbatim"
    path = tmp_path / "features.py"
    path.write_text(features)
    assert [view.name for view in load_views(path)] == ["user_txn"]


def test_selectors_match_their_pods():
    found = resources()
    for (kind, name), doc in found.items():
        if kind in {"StatefulSet", "Deployment"}:
            labels = doc["spec"]["template"]["metadata"]["labels"]
            assert doc["spec"]["selector"]["matchLabels"].items() <= labels.items(), f"{kind}/{name}"
            assert any(
                k == "Service" and s["spec"]["selector"].items() <= labels.items() for (k, _), s in found.items()
            ), f"no Service selects {kind}/{name}"
    assert re.fullmatch(r"\d+\.\d+\.\d+", KUBERNETES_VERSION)
