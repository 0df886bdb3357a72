"""The Helm chart lints, renders offline, and every manifest is valid Kubernetes (schemas of
kubernetes-validate, strict); the properties operators rely on are checked on what it renders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

CHART = Path(__file__).resolve().parents[1] / "helm" / "voice"
KUBE_VERSION = "1.30"
ROLE = "arn:aws:iam::123456789012:role/voice-nova"
POOL = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Example"


def render(values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    manifests = helm.Chart.load(str(CHART)).render(values or {}, name="rel", namespace="voice")
    docs: list[dict[str, Any]] = []
    for path, text in manifests.items():
        if path.endswith(".txt"):
            continue
        docs += [doc for doc in yaml.safe_load_all(text) if doc]
    return docs


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def test_lint_has_no_errors_or_warnings() -> None:
    report = helm.lint(str(CHART), strict=True)
    assert report["errors"] == []
    assert not [m for m in report["messages"] if m["severity"] >= 2]


VARIANTS = {
    "defaults": {},
    "external-nats-ingress-irsa": {
        "nats": {"enabled": False, "externalUrl": "nats://nats.shared:4222"},
        "edge": {"ingress": {"enabled": True, "host": "voice.example.org", "tlsSecretName": "voice-tls"}},
        "nova": {"serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": ROLE}}},
        "auth": {
            "apiKeys": {"existingSecret": "voice-auth"},
            "jwt": {
                "jwksUrl": f"{POOL}/.well-known/jwks.json",
                "issuer": POOL,
                "audience": "app-client-id",
                "redirectUri": "https://voice.example.org/",
            },
        },
        "transcripts": {
            "database": {"existingSecret": "voice-transcripts-db"},
            "corsOrigins": "https://voice.example.org",
        },
        "otel": {"endpoint": "http://jaeger-collector:4318"},
    },
    "no-autoscaling-single-nats": {
        "nats": {"replicas": 1},
        "edge": {"autoscaling": {"enabled": False}},
        "nova": {"autoscaling": {"enabled": False}, "maxSessions": 6, "engine": "local"},
        "podDisruptionBudget": {"enabled": False},
    },
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_manifest_is_valid_kubernetes(variant: str) -> None:
    docs = render(VARIANTS[variant])
    assert docs
    for doc in docs:
        kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)


def test_services_have_probes_metrics_and_run_unprivileged() -> None:
    deployments = by_kind(render(), "Deployment")
    assert set(deployments) == {"rel-voice-edge", "rel-voice-nova", "rel-voice-auth", "rel-voice-transcripts"}
    for deployment in deployments.values():
        pod = deployment["spec"]["template"]
        (container,) = pod["spec"]["containers"]
        assert container["livenessProbe"]["httpGet"]["path"] == "/health"
        assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
        assert pod["metadata"]["annotations"]["prometheus.io/path"] == "/metrics"
        assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        env = {e["name"]: e for e in container["env"]}
        assert env["NATS_URL"]["value"] == "nats://rel-voice-nats:4222"


def test_workers_get_time_to_hand_sessions_over_and_irsa() -> None:
    values = VARIANTS["external-nats-ingress-irsa"]
    docs = render(values)
    nova = by_kind(docs, "Deployment")["rel-voice-nova"]["spec"]["template"]["spec"]
    assert nova["terminationGracePeriodSeconds"] >= 30
    account = by_kind(docs, "ServiceAccount")[nova["serviceAccountName"]]
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == ROLE
    env = {e["name"]: e for e in nova["containers"][0]["env"]}
    assert env["NATS_URL"]["value"] == "nats://nats.shared:4222"
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"]["value"] == "http://jaeger-collector:4318"
    assert not by_kind(docs, "StatefulSet")  # no NATS of our own


def test_api_keys_come_from_a_secret_never_from_values() -> None:
    auth = by_kind(render(VARIANTS["external-nats-ingress-irsa"]), "Deployment")["rel-voice-auth"]
    env = {e["name"]: e for e in auth["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["AUTH_API_KEYS"] == {
        "name": "AUTH_API_KEYS",
        "valueFrom": {"secretKeyRef": {"name": "voice-auth", "key": "api-keys"}},
    }


def test_nats_is_a_jetstream_cluster_with_routes_to_every_replica() -> None:
    docs = render()
    config = by_kind(docs, "ConfigMap")["rel-voice-nats"]["data"]["nats.conf"]
    assert "jetstream" in config
    for i in range(3):
        assert f"nats://rel-voice-nats-{i}.rel-voice-nats-cluster:6222" in config
    statefulset = by_kind(docs, "StatefulSet")["rel-voice-nats"]
    assert statefulset["spec"]["replicas"] == 3
    (claim,) = statefulset["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "10Gi"


def test_autoscalers_target_their_deployments() -> None:
    docs = render()
    deployments = by_kind(docs, "Deployment")
    for hpa in by_kind(docs, "HorizontalPodAutoscaler").values():
        assert hpa["spec"]["scaleTargetRef"]["name"] in deployments
        # With an autoscaler, the Deployment leaves the replica count to it.
        assert "replicas" not in deployments[hpa["spec"]["scaleTargetRef"]["name"]]["spec"]


def env_of(deployment: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}


def test_transcripts_keep_their_sqlite_file_on_a_volume_of_their_own() -> None:
    docs = render()
    deployment = by_kind(docs, "Deployment")["rel-voice-transcripts"]
    assert deployment["spec"]["replicas"] == 1  # one writer of the file
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    claim = volumes["data"]["persistentVolumeClaim"]["claimName"]
    assert claim in by_kind(docs, "PersistentVolumeClaim")
    assert (
        env_of(deployment)["TRANSCRIPTS_DATABASE_URL"]["value"] == "sqlite+aiosqlite:////data/transcripts.db"
    )


def test_transcripts_on_postgresql_read_its_url_from_a_secret_and_scale() -> None:
    docs = render(VARIANTS["external-nats-ingress-irsa"])
    deployment = by_kind(docs, "Deployment")["rel-voice-transcripts"]
    assert deployment["spec"]["replicas"] == 2
    assert env_of(deployment)["TRANSCRIPTS_DATABASE_URL"]["valueFrom"] == {
        "secretKeyRef": {"name": "voice-transcripts-db", "key": "database-url"}
    }
    assert not by_kind(docs, "PersistentVolumeClaim")
    assert "rel-voice-transcripts" in by_kind(docs, "PodDisruptionBudget")


def test_cognito_settings_reach_auth_and_half_of_them_is_refused() -> None:
    auth = by_kind(render(VARIANTS["external-nats-ingress-irsa"]), "Deployment")["rel-voice-auth"]
    env = env_of(auth)
    assert env["AUTH_JWKS_URL"]["value"] == f"{POOL}/.well-known/jwks.json"
    assert env["AUTH_ISSUER"]["value"] == POOL
    assert env["AUTH_AUDIENCE"]["value"] == "app-client-id"
    assert env["AUTH_TOKEN_USE"]["value"] == "access"
    with pytest.raises(helm.HelmRenderError, match="issuer is required"):
        render({"auth": {"jwt": {"jwksUrl": "https://idp/jwks.json", "audience": "x"}}})


def test_the_records_stream_is_replicated_like_the_nats_cluster() -> None:
    for deployment in by_kind(render(), "Deployment").values():
        assert env_of(deployment)["VOICE_RECORDS_REPLICAS"]["value"] == "3"
    single = by_kind(render(VARIANTS["no-autoscaling-single-nats"]), "Deployment")
    assert env_of(single["rel-voice-edge"])["VOICE_RECORDS_REPLICAS"]["value"] == "1"
