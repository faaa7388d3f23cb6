"""Kubernetes manifests: the kustomize base and the local overlay render, and every
reference in them resolves (selectors, ports, probes, ConfigMap/Secret keys, HPA targets,
environment variables the services really read).

Rendering uses ``kubectl kustomize`` (or ``kustomize build``) when present; without either,
the base's resource files are read directly and the overlay test skips."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_support import ALL_IMAGES, ROOT, SERVICES, settings_env_names

from services.common.settings import PORTS

K8S = ROOT / "deploy" / "k8s"
STANDARD = {"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_SERVICE_NAME"}


def render(path: Path) -> list[dict[str, Any]] | None:
    if shutil.which("kubectl"):
        cmd = ["kubectl", "kustomize", str(path)]
    elif shutil.which("kustomize"):
        cmd = ["kustomize", "build", str(path)]
    else:
        return None
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def read_base_directly() -> list[dict[str, Any]]:
    kust = yaml.safe_load((K8S / "base" / "kustomization.yaml").read_text())
    docs: list[dict[str, Any]] = []
    for res in kust["resources"]:
        docs += [d for d in yaml.safe_load_all((K8S / "base" / res).read_text()) if d]
    return docs


@pytest.fixture(scope="module", params=["base", "overlays/local"])
def manifests(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    docs = render(K8S / request.param)
    if docs is None:
        if request.param != "base":
            pytest.skip("no kubectl or kustomize here to render the overlay")
        docs = read_base_directly()
    return docs


def kinds(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def workloads(docs: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for d in docs:
        if d["kind"] in {"Deployment", "StatefulSet"}:
            yield d


def containers(workload: dict[str, Any]) -> list[dict[str, Any]]:
    return workload["spec"]["template"]["spec"]["containers"]


def test_every_file_in_the_tree_is_part_of_a_kustomization() -> None:
    for kdir in (K8S / "base", K8S / "overlays" / "local"):
        kust = yaml.safe_load((kdir / "kustomization.yaml").read_text())
        listed = {r for r in kust.get("resources", []) if not r.startswith("..")}
        listed |= {p["path"] for p in kust.get("patches", []) if "path" in p}
        present = {p.name for p in kdir.glob("*.yaml")} - {"kustomization.yaml"}
        assert present == listed, (kdir, present ^ listed)


def test_a_deployment_and_a_service_per_service(manifests: list[dict[str, Any]]) -> None:
    deployments, services = kinds(manifests, "Deployment"), kinds(manifests, "Service")
    for name in ALL_IMAGES:
        assert name in deployments and name in services, name
        (c,) = containers(deployments[name])
        assert c["image"].split(":")[0] == f"arxivqa-{name}"
    assert "redis" in kinds(manifests, "StatefulSet") and "redis" in services


def test_services_select_real_pods_on_ports_they_expose(manifests: list[dict[str, Any]]) -> None:
    pods = [
        (w["spec"]["template"]["metadata"]["labels"], containers(w), w)
        for w in workloads(manifests)
    ]
    for name, svc in kinds(manifests, "Service").items():
        selector = svc["spec"]["selector"]
        matches = [
            (cs, w)
            for labels, cs, w in pods
            if all(labels.get(k) == v for k, v in selector.items())
        ]
        assert len(matches) == 1, f"Service {name} selects {len(matches)} workloads"
        cs, w = matches[0]
        assert (
            w["spec"]["selector"]["matchLabels"].items()
            <= w["spec"]["template"]["metadata"]["labels"].items()
        )
        named = {p["name"]: p["containerPort"] for c in cs for p in c.get("ports", [])}
        for port in svc["spec"]["ports"]:
            target = port["targetPort"]
            assert target in named or target in named.values(), (name, target)


def test_probes_are_native_grpc_on_the_port_the_service_binds(
    manifests: list[dict[str, Any]],
) -> None:
    deployments = kinds(manifests, "Deployment")
    for name in ALL_IMAGES:
        (c,) = containers(deployments[name])
        env = {e["name"]: e.get("value") for e in c["env"]}
        port = int(env[f"ARXIVQA_{name.upper()}_PORT"])
        assert port == PORTS[name]
        assert env[f"ARXIVQA_{name.upper()}_HOST"] == "0.0.0.0"
        assert port in {p["containerPort"] for p in c["ports"]}
        assert c["readinessProbe"]["grpc"]["port"] == port
        if name == "gateway":
            http = int(env["ARXIVQA_GATEWAY_HTTP_PORT"])
            named = {p["name"]: p["containerPort"] for p in c["ports"]}
            assert named[c["livenessProbe"]["httpGet"]["port"]] == http
            assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
        else:
            assert c["livenessProbe"]["grpc"]["port"] == port
            assert c["startupProbe"]["grpc"]["port"] == port


def test_config_and_secret_references_resolve(manifests: list[dict[str, Any]]) -> None:
    maps, secrets = kinds(manifests, "ConfigMap"), kinds(manifests, "Secret")
    used = {"configMapKeyRef": set(), "secretKeyRef": set()}
    for w in workloads(manifests):
        for c in containers(w):
            for e in c.get("env", []):
                ref = e.get("valueFrom", {})
                if "configMapKeyRef" in ref:
                    r = ref["configMapKeyRef"]
                    assert r["key"] in maps[r["name"]]["data"], (w["metadata"]["name"], r)
                    used["configMapKeyRef"].add(r["key"])
                if "secretKeyRef" in ref:
                    r = ref["secretKeyRef"]
                    sec = secrets[r["name"]]
                    keys = set(sec.get("stringData", {})) | set(sec.get("data", {}))
                    assert r["key"] in keys, (w["metadata"]["name"], r)
                    used["secretKeyRef"].add(r["key"])
    (config,) = maps.values()
    assert set(config["data"]) == used["configMapKeyRef"], "unused ConfigMap keys"
    # The gateway's targets name real Services on ports those Services expose.
    services = kinds(manifests, "Service")
    for name in SERVICES:
        host, port = config["data"][f"ARXIVQA_GATEWAY_{name.upper()}_TARGET"].split(":")
        assert int(port) in {p["port"] for p in services[host]["spec"]["ports"]}
    redis_url = next(iter(secrets.values()))["stringData"]["REDIS_URL"]
    assert redis_url.startswith("redis://redis:6379")


def test_every_variable_is_read_by_that_service(manifests: list[dict[str, Any]]) -> None:
    deployments = kinds(manifests, "Deployment")
    for name in ALL_IMAGES:
        (c,) = containers(deployments[name])
        names = {e["name"] for e in c["env"]}
        unknown = names - settings_env_names(name) - STANDARD
        assert not unknown, f"{name}: {unknown}"


def test_resources_security_and_hpa(manifests: list[dict[str, Any]]) -> None:
    for w in workloads(manifests):
        for c in containers(w):
            res = c["resources"]
            assert res["requests"]["cpu"] and res["requests"]["memory"], w["metadata"]["name"]
            assert res["limits"]["memory"], w["metadata"]["name"]
            assert c["securityContext"]["allowPrivilegeEscalation"] is False
    deployments = kinds(manifests, "Deployment")
    for name in ALL_IMAGES:
        spec = deployments[name]["spec"]["template"]["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] == 10001  # the images' USER
    hpas = kinds(manifests, "HorizontalPodAutoscaler")
    assert set(hpas) == {"embedder", "qa"}
    for name, hpa in hpas.items():
        target = hpa["spec"]["scaleTargetRef"]
        assert target["kind"] == "Deployment" and target["name"] in deployments
        assert hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
        assert "replicas" not in deployments[name]["spec"], "the HPA owns the replica count"


def test_redis_is_a_statefulset_with_a_claim_and_aof(manifests: list[dict[str, Any]]) -> None:
    redis = kinds(manifests, "StatefulSet")["redis"]
    service = kinds(manifests, "Service")[redis["spec"]["serviceName"]]
    assert service["spec"]["clusterIP"] == "None"
    (claim,) = redis["spec"]["volumeClaimTemplates"]
    (c,) = containers(redis)
    assert any(m["name"] == claim["metadata"]["name"] for m in c["volumeMounts"])
    args = next(e["value"] for e in c["env"] if e["name"] == "REDIS_ARGS")
    assert "--appendonly yes" in args
    assert c["image"].startswith("redis/redis-stack-server:7.4")


def test_local_overlay_uses_local_images_and_one_namespace() -> None:
    docs = render(K8S / "overlays" / "local")
    if docs is None:
        pytest.skip("no kubectl or kustomize here to render the overlay")
    namespaced = [d for d in docs if d["kind"] != "Namespace"]
    assert {d["metadata"].get("namespace") for d in namespaced} == {"arxivqa"}
    for name in ALL_IMAGES:
        (c,) = containers(kinds(docs, "Deployment")[name])
        assert c["image"] == f"arxivqa-{name}:local" and c["imagePullPolicy"] == "Never"
