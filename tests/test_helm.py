"""The Helm chart lints, renders offline, and every manifest is valid Kubernetes (schemas of
kubernetes-validate, strict); the properties operators rely on are checked on what it renders:
NATS locked down (users, TLS, NetworkPolicies), every pod under the "restricted" Pod Security
Standard, autoscaling on sessions, drains that fit their grace periods, scheduling values."""

from __future__ import annotations

import copy
import json
import math
import os
import re
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml
from voice_dev.natsauth import ensure_nats_auth, kubernetes_secret
from voice_dev.natsserver import free_port, nats_server_binary
from voice_proto import Bus, channels
from voice_proto import messages as m
from voice_proto.permissions import permissions_document
from voice_proto.settings import NatsCredentials
from voice_testkit.processes import ManagedProcess
from voice_testkit.pss import restricted_violations

CHART = Path(__file__).resolve().parents[1] / "helm" / "voice"
KUBE_VERSION = "1.30"
ROLE = "arn:aws:iam::123456789012:role/voice-nova"
RECORDINGS_ROLE = "arn:aws:iam::123456789012:role/voice-recordings"
POOL = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Example"
#: Custom resources (KEDA, cert-manager): not in Kubernetes' own schemas; checked field by field below.
CUSTOM_KINDS = {"ScaledObject", "Certificate", "PodMonitor", "PrometheusRule"}
WORKLOADS = ("Deployment", "StatefulSet")


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


def workloads(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] in WORKLOADS}


def pod_of(workload: dict[str, Any]) -> dict[str, Any]:
    pod: dict[str, Any] = workload["spec"]["template"]
    return pod


def env_of(workload: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in pod_of(workload)["spec"]["containers"][0]["env"]}


def test_lint_has_no_errors_or_warnings() -> None:
    report = helm.lint(str(CHART), strict=True)
    assert report["errors"] == []
    assert not [m for m in report["messages"] if m["severity"] >= 2]


SCHEDULING = {
    "nodeSelector": {"karpenter.sh/nodepool": "voice"},
    "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "voice", "effect": "NoSchedule"}],
    "affinity": {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {
                        "matchExpressions": [
                            {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}
                        ]
                    }
                ]
            }
        }
    },
    "priorityClassName": "voice-critical",
    "podAnnotations": {"example.com/team": "voice"},
    "podLabels": {"team": "voice"},
}

VARIANTS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "external-nats-ingress-irsa": {
        "nats": {
            "enabled": False,
            "externalUrl": "tls://nats-0.shared:4222,tls://nats-1.shared:4222",
            "tls": {"ca": {"secretName": "ca"}},
        },
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
    "sessions-hpa": {"nova": {"autoscaling": {"mode": "sessions"}}},
    "keda": {"nova": {"autoscaling": {"mode": "keda"}}},
    "cert-manager": {
        "nats": {"tls": {"certManager": {"enabled": True, "issuerRef": {"name": "voice-ca"}}}},
    },
    "scheduled-everywhere": {
        "nats": SCHEDULING,
        "edge": {
            **SCHEDULING,
            "extraEnv": [
                {"name": "EDGE_MAX_TEXT_CHARS", "value": "500"},
                {"name": "EXTRA_TOKEN", "valueFrom": {"secretKeyRef": {"name": "extra", "key": "token"}}},
            ],
            "extraEnvFrom": [{"secretRef": {"name": "edge-extra"}}],
            "env": {"EDGE_HISTORY_TURNS": 20},
        },
        "nova": SCHEDULING,
        "auth": SCHEDULING,
        "transcripts": SCHEDULING,
    },
    "recordings-s3-irsa": {
        "edge": {"ingress": {"enabled": True, "host": "voice.example.org"}},
        "recordings": {
            "enabled": True,
            "s3": {"bucket": "voice-recordings", "region": "eu-west-1"},
            "serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": RECORDINGS_ROLE}},
        },
    },
    "recordings-in-nats": {
        "recordings": {"enabled": True, "storage": "nats", "objectStore": {"maxBytes": 1 << 34}}
    },
    "no-security-extras": {
        "nats": {"auth": {"enabled": False}, "tls": {"enabled": False}, "metrics": {"enabled": False}}
    },
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_manifest_is_valid_kubernetes(variant: str) -> None:
    docs = render(VARIANTS[variant])
    assert docs
    for doc in docs:
        if doc["kind"] not in CUSTOM_KINDS:
            kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_pod_passes_the_restricted_pod_security_standard(variant: str) -> None:
    for name, workload in workloads(render(VARIANTS[variant])).items():
        pod = pod_of(workload)
        assert restricted_violations(pod["spec"], pod["metadata"].get("annotations")) == [], name


def restricted_pod() -> dict[str, Any]:
    spec: dict[str, Any] = pod_of(workloads(render())["rel-voice-nova"])["spec"]
    return spec


BREAKS: dict[str, Callable[[dict[str, Any]], object]] = {
    "privileged": lambda s: s["containers"][0]["securityContext"].update(privileged=True),
    "host network": lambda s: s.update(hostNetwork=True),
    "hostPath": lambda s: s["volumes"].append({"name": "h", "hostPath": {"path": "/"}}),
    "escalation": lambda s: s["containers"][0]["securityContext"].pop("allowPrivilegeEscalation"),
    "root": lambda s: s["securityContext"].update(runAsUser=0),
    "non-root off": lambda s: s["containers"][0]["securityContext"].update(runAsNonRoot=False),
    "non-root unset": lambda s: (
        s["securityContext"].pop("runAsNonRoot"),
        s["containers"][0]["securityContext"].pop("runAsNonRoot"),
    ),
    "seccomp unset": lambda s: s["securityContext"].pop("seccompProfile"),
    "seccomp unconfined": lambda s: s["containers"][0]["securityContext"].update(
        seccompProfile={"type": "Unconfined"}
    ),
    "capabilities kept": lambda s: s["containers"][0]["securityContext"].pop("capabilities"),
    "capability added": lambda s: s["containers"][0]["securityContext"]["capabilities"].update(
        add=["NET_ADMIN"]
    ),
    "host port": lambda s: s["containers"][0]["ports"][0].update(hostPort=8081),
    "sysctl": lambda s: s["securityContext"].update(sysctls=[{"name": "net.core.somaxconn", "value": "1"}]),
    "nfs volume": lambda s: s["volumes"].append({"name": "n", "nfs": {"server": "x", "path": "/"}}),
    "selinux user": lambda s: s["securityContext"].update(seLinuxOptions={"user": "root"}),
    "proc mount": lambda s: s["containers"][0]["securityContext"].update(procMount="Unmasked"),
}


@pytest.mark.parametrize("broken", BREAKS)
def test_the_pod_security_check_catches_each_rule(broken: str) -> None:
    spec = copy.deepcopy(restricted_pod())
    assert restricted_violations(spec) == []
    BREAKS[broken](spec)
    assert restricted_violations(spec), broken


def test_the_schema_rejects_wrong_values() -> None:
    for wrong, message in (
        ({"nova": {"replicas": "two"}}, "/nova/replicas"),
        ({"nova": {"autoscaling": {"mode": "memory"}}}, "/nova/autoscaling/mode"),
        ({"edge": {"drainTimeoutSecs": 60}}, "drainTimeoutSecs"),  # a typo is not silently ignored
        ({"nats": {"jetstream": {"storageSize": "10GB"}}}, "/nats/jetstream/storageSize"),
        ({"edge": {"extraEnv": [{"value": "no name"}]}}, "/edge/extraEnv/0"),
        ({"nova": {"tolerations": [{"key": "k", "effect": "Sometimes"}]}}, "/nova/tolerations/0/effect"),
    ):
        with pytest.raises(helm.HelmValuesError, match=re.escape(message)):
            render(wrong)


def test_services_have_probes_metrics_and_nats_credentials_from_secrets() -> None:
    docs = render()
    deployments = by_kind(docs, "Deployment")
    assert set(deployments) == {"rel-voice-edge", "rel-voice-nova", "rel-voice-auth", "rel-voice-transcripts"}
    for service_doc in by_kind(docs, "Service").values():
        for port in service_doc["spec"]["ports"]:
            assert port.get("targetPort") not in (9464, "metrics"), service_doc["metadata"]["name"]
    for name, deployment in deployments.items():
        service = name.removeprefix("rel-voice-")
        pod = pod_of(deployment)
        (container,) = pod["spec"]["containers"]
        assert container["livenessProbe"]["httpGet"]["path"] == "/health"
        assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
        assert pod["metadata"]["annotations"]["prometheus.io/path"] == "/metrics"
        # Metrics on a port of their own, which no Service publishes.
        assert pod["metadata"]["annotations"]["prometheus.io/port"] == "9464"
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports["metrics"] == 9464
        assert ports["http"] != 9464
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        env = env_of(deployment)
        assert (env["METRICS_HOST"]["value"], env["METRICS_PORT"]["value"]) == ("0.0.0.0", "9464")
        # The resource of every span and metric names the pod, its namespace and the environment.
        assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
        assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
        assert env["OTEL_RESOURCE_ATTRIBUTES"]["value"] == (
            "k8s.pod.name=$(POD_NAME),k8s.namespace.name=$(POD_NAMESPACE),deployment.environment=voice"
        )
        names = [e["name"] for e in container["env"]]
        assert names.index("POD_NAME") < names.index("OTEL_RESOURCE_ATTRIBUTES")  # $(...) expands
        # Every replica of the bundled cluster by name: a service that loses one goes to the next.
        assert env["NATS_URL"]["value"] == ",".join(
            f"tls://rel-voice-nats-{i}.rel-voice-nats-cluster:4222" for i in range(3)
        )
        assert env["NATS_NKEY_SEED_FILE"]["value"] == "/etc/voice/nats-user/seed.nk"
        assert env["NATS_TLS_CA"]["value"] == "/etc/voice/nats-ca/ca.crt"
        volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
        # Each pod gets its own user's seed and nobody else's.
        assert volumes["nats-user"]["secret"]["secretName"] == "rel-voice-nats-users"
        assert volumes["nats-user"]["secret"]["items"] == [{"key": f"{service}.nk", "path": "seed.nk"}]
        assert volumes["nats-ca"]["secret"]["items"] == [{"key": "ca.crt", "path": "ca.crt"}]
        mounts = {v["mountPath"] for v in container["volumeMounts"]}
        assert {"/etc/voice/nats-user", "/etc/voice/nats-ca"} <= mounts
        assert pod["spec"]["automountServiceAccountToken"] is False


def test_env_is_structured_and_takes_secrets_and_extra_sources() -> None:
    edge = by_kind(render(VARIANTS["scheduled-everywhere"]), "Deployment")["rel-voice-edge"]
    env = env_of(edge)
    assert env["EXTRA_TOKEN"] == {
        "name": "EXTRA_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": "extra", "key": "token"}},
    }
    assert env["EDGE_MAX_TEXT_CHARS"]["value"] == "500"
    assert env["EDGE_HISTORY_TURNS"]["value"] == "20"  # a number in values is a string in env
    assert pod_of(edge)["spec"]["containers"][0]["envFrom"] == [{"secretRef": {"name": "edge-extra"}}]
    templates = (CHART / "templates").glob("*")
    assert not [p.name for p in templates if re.search(r"printf \"[^\"]*- name:", p.read_text())]


def test_workers_get_time_to_hand_sessions_over_and_irsa() -> None:
    values = VARIANTS["external-nats-ingress-irsa"]
    docs = render(values)
    nova = pod_of(by_kind(docs, "Deployment")["rel-voice-nova"])["spec"]
    account = by_kind(docs, "ServiceAccount")[nova["serviceAccountName"]]
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == ROLE
    env = {e["name"]: e for e in nova["containers"][0]["env"]}
    assert env["NATS_URL"]["value"] == "tls://nats-0.shared:4222,tls://nats-1.shared:4222"
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"]["value"] == "http://jaeger-collector:4318"
    volumes = {v["name"]: v for v in nova["volumes"]}
    assert volumes["nats-ca"]["secret"]["secretName"] == "ca"
    assert not by_kind(docs, "StatefulSet")  # no NATS of our own
    assert "rel-voice-nats" not in by_kind(docs, "NetworkPolicy")


def seconds(value: str) -> float:
    return float(value)


def prestop_seconds(container: dict[str, Any]) -> float:
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    return float(command[1])


def test_grace_periods_leave_room_for_prestop_and_the_drains() -> None:
    """The kubelet sends SIGTERM after preStop and SIGKILL at the end of the grace period: the edge
    needs preStop + EDGE_DRAIN_TIMEOUT + EDGE_SHUTDOWN_GRACE, the worker preStop + its drain
    (NOVA_DRAIN_TIMEOUT, the answer in progress; issue 11) + handing sessions over."""
    for values in ({}, {"edge": {"drainTimeoutSeconds": 600}, "nova": {"drainTimeoutSeconds": 45}}):
        deployments = by_kind(render(values), "Deployment")
        edge = pod_of(deployments["rel-voice-edge"])["spec"]
        env = env_of(deployments["rel-voice-edge"])
        container = edge["containers"][0]
        needed = prestop_seconds(container) + seconds(env["EDGE_DRAIN_TIMEOUT"]["value"])
        needed += seconds(env["EDGE_SHUTDOWN_GRACE"]["value"])
        assert edge["terminationGracePeriodSeconds"] > needed
        assert seconds(env["EDGE_DRAIN_TIMEOUT"]["value"]) >= 60  # "a few minutes" by default
        nova = pod_of(deployments["rel-voice-nova"])["spec"]
        env = env_of(deployments["rel-voice-nova"])
        needed = prestop_seconds(nova["containers"][0]) + seconds(env["NOVA_DRAIN_TIMEOUT"]["value"])
        assert nova["terminationGracePeriodSeconds"] >= needed + 10  # and time to hand over
        for deployment in deployments.values():
            assert prestop_seconds(pod_of(deployment)["spec"]["containers"][0]) >= 5
    with pytest.raises(helm.HelmRenderError, match="shorter than its drain needs"):
        render({"edge": {"terminationGracePeriodSeconds": 30}})


def test_api_keys_come_from_a_secret_never_from_values() -> None:
    auth = by_kind(render(VARIANTS["external-nats-ingress-irsa"]), "Deployment")["rel-voice-auth"]
    assert env_of(auth)["AUTH_API_KEYS"] == {
        "name": "AUTH_API_KEYS",
        "valueFrom": {"secretKeyRef": {"name": "voice-auth", "key": "api-keys"}},
    }


def nats_config(docs: list[dict[str, Any]]) -> str:
    config: str = by_kind(docs, "ConfigMap")["rel-voice-nats"]["data"]["nats.conf"]
    return config


def test_nats_is_a_jetstream_cluster_with_routes_to_every_replica() -> None:
    docs = render()
    config = nats_config(docs)
    assert "jetstream" in config
    for i in range(3):
        assert f"nats://rel-voice-nats-{i}.rel-voice-nats-cluster:6222" in config
    statefulset = by_kind(docs, "StatefulSet")["rel-voice-nats"]
    assert statefulset["spec"]["replicas"] == 3
    (claim,) = statefulset["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "10Gi"


def test_the_bundled_nats_is_on_par_with_the_official_chart() -> None:
    docs = render({"nats": {"jetstream": {"storageSize": "25Gi"}}})
    statefulset = by_kind(docs, "StatefulSet")["rel-voice-nats"]
    pod = pod_of(statefulset)
    containers = {c["name"]: c for c in pod["spec"]["containers"]}
    nats = containers["nats"]
    assert nats["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert nats["startupProbe"]["failureThreshold"] * nats["startupProbe"]["periodSeconds"] >= 300
    assert "js-enabled-only" in nats["livenessProbe"]["httpGet"]["path"]
    assert "max_file_store: 25Gi" in nats_config(docs)  # tied to the volume
    assert (
        statefulset["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "25Gi"
    )
    assert "prometheus-nats-exporter" in containers["metrics"]["image"]
    assert "-jsz=all" in containers["metrics"]["args"]
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == "7777"
    assert re.search(r"^nats:[\w.-]+@sha256:[0-9a-f]{64}$", nats["image"])
    # The configuration's checksum rolls the pods when it changes, and only then.
    checksum = pod["metadata"]["annotations"]["checksum/config"]
    same = pod_of(
        by_kind(render({"nats": {"jetstream": {"storageSize": "25Gi"}}}), "StatefulSet")["rel-voice-nats"]
    )
    assert same["metadata"]["annotations"]["checksum/config"] == checksum
    other = pod_of(by_kind(render(), "StatefulSet")["rel-voice-nats"])
    assert other["metadata"]["annotations"]["checksum/config"] != checksum


def test_nats_requires_tls_and_a_user_per_service_with_permissions_from_the_channel_table() -> None:
    docs = render()
    config = nats_config(docs)
    assert re.search(r"^tls \{", config, re.M)
    assert "verify: true" in config  # routes authenticate each other
    document = permissions_document()
    users = re.findall(r"\{nkey: \$(VOICE_NKEY_\w+), permissions: (\{.*\})\}$", config, re.M)
    assert {variable: json.loads(text) for variable, text in users} == {
        f"VOICE_NKEY_{service.upper()}": document[service]
        for service in ("edge", "nova", "auth", "transcripts")
    }
    env = {
        e["name"]: e
        for e in pod_of(by_kind(docs, "StatefulSet")["rel-voice-nats"])["spec"]["containers"][0]["env"]
    }
    assert env["VOICE_NKEY_NOVA"]["valueFrom"] == {
        "secretKeyRef": {"name": "rel-voice-nats-users", "key": "nova.pub"}
    }


def test_the_chart_carries_the_permissions_of_the_current_channel_table() -> None:
    committed = json.loads((CHART / "files" / "nats-permissions.json").read_text())
    assert committed == permissions_document(), (
        "regenerate: python -m voice_proto.permissions --write helm/voice/files/nats-permissions.json"
    )


async def test_the_charts_nats_configuration_admits_the_services_users_and_no_one_else(
    tmp_path: Path,
) -> None:
    """The nats.conf the chart renders, run by a real nats-server with the Secret voice-nats-auth
    makes: each service's seed logs in and gets its permissions; no seed, no entry."""
    secret = yaml.safe_load(kubernetes_secret("rel-voice-nats-users"))["stringData"]
    tls = ensure_nats_auth(tmp_path / "tls")  # a CA and a server certificate for 127.0.0.1
    files = {"tls.crt": tls.folder / "server" / "cert.pem", "tls.key": tls.folder / "server" / "key.pem"}
    config = nats_config(render({"nats": {"replicas": 1}}))
    for name, path in files.items():
        config = config.replace(f"/etc/nats-tls/{name}", str(path))
    config = config.replace("/etc/nats-tls/ca.crt", str(tls.ca_file()))
    config = config.replace("store_dir: /data", f"store_dir: {tmp_path / 'js'}")
    config = config.replace("/var/run/nats/nats.pid", str(tmp_path / "nats.pid"))
    (tmp_path / "nats.conf").write_text(config)
    port = free_port()
    env = {**os.environ, "POD_NAME": "nats-0"}
    env |= {f"VOICE_NKEY_{s.upper()}": secret[f"{s}.pub"] for s in ("edge", "nova", "auth", "transcripts")}
    server = ManagedProcess(
        "chart-nats",
        [nats_server_binary(), "-c", str(tmp_path / "nats.conf"), "-p", str(port)],
        env,
        tmp_path,
    ).start()
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert server.running, server.log_text()
                assert time.monotonic() < deadline
                time.sleep(0.05)
        url = f"tls://127.0.0.1:{port}"

        async def connect(service: str) -> Bus:
            seed = tmp_path / f"{service}.nk"
            seed.write_text(secret[f"{service}.nk"])
            credentials = NatsCredentials(nkey_seed_file=seed, tls_ca=tls.ca_file())
            return await Bus.connect(url, service, credentials=credentials, retry_for=5)

        auth = await connect("auth")
        edge = await connect("edge")
        config_reply = m.SignInConfig(api_keys=True)

        async def answer(_request: m.SignInConfigRequest, delivery: Any) -> None:
            await auth.respond(channels.AUTH_CONFIG, delivery, config_reply)

        await auth.subscribe(channels.AUTH_CONFIG, answer, queue=channels.AUTH_QUEUE)
        await auth.flush()
        assert (await edge.request(channels.AUTH_CONFIG, m.SignInConfigRequest())) == config_reply
        await auth.drain()
        await edge.drain()
        import ssl

        import nats

        context = ssl.create_default_context(cafile=str(tls.ca_file()))
        with pytest.raises(nats.errors.Error, match="Authorization Violation"):
            await nats.connect(url, tls=context, allow_reconnect=False)
    finally:
        server.stop()


def test_network_policies_admit_only_the_release_ingress_and_monitoring() -> None:
    docs = render()
    policies = by_kind(docs, "NetworkPolicy")
    pods = {name: pod_of(w)["metadata"]["labels"] for name, w in workloads(docs).items()}
    # Every pod of the release is behind a policy.
    for name, labels in pods.items():
        assert any(
            all(labels.get(k) == v for k, v in p["spec"]["podSelector"]["matchLabels"].items())
            for p in policies.values()
        ), name
    nats = policies["rel-voice-nats"]["spec"]
    rules = {rule["ports"][0]["port"]: rule["from"] for rule in nats["ingress"]}
    (clients,) = rules[4222]
    assert clients["podSelector"]["matchLabels"] == {"app.kubernetes.io/instance": "rel"}
    (expression,) = clients["podSelector"]["matchExpressions"]
    assert set(expression["values"]) == {"edge", "nova", "auth", "transcripts"}
    assert "namespaceSelector" not in clients  # this namespace only
    assert rules[6222] == [
        {
            "podSelector": {
                "matchLabels": {"app.kubernetes.io/instance": "rel", "app.kubernetes.io/component": "nats"}
            }
        }
    ]
    monitoring = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]
    assert rules[8222] == monitoring
    ingress = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}]
    for service, port, allowed in (
        ("edge", 8000, ingress + monitoring),
        ("nova", 8081, monitoring),
        ("auth", 8082, monitoring),
        ("transcripts", 8083, ingress + monitoring),
    ):
        rule, metrics = policies[f"rel-voice-{service}"]["spec"]["ingress"]
        assert rule["ports"] == [{"port": port, "protocol": "TCP"}]
        assert rule["from"] == allowed
        # /metrics has a port of its own, reached by monitoring only.
        assert metrics == {"ports": [{"port": 9464, "protocol": "TCP"}], "from": monitoring}
        assert policies[f"rel-voice-{service}"]["spec"]["policyTypes"] == ["Ingress"]


def disruptions_allowed(pdb: dict[str, Any], pods: int, ready: int) -> int:
    """What the disruption controller computes for maxUnavailable: ready pods beyond the
    desired healthy count (expected pods - maxUnavailable)."""
    max_unavailable: int | str = pdb["spec"]["maxUnavailable"]
    if isinstance(max_unavailable, str):
        max_unavailable = math.ceil(pods * int(max_unavailable.rstrip("%")) / 100)
    return max(0, ready - (pods - max_unavailable))


def test_a_node_drain_at_peak_may_evict_a_full_worker() -> None:
    """PodDisruptionBudgets count Ready pods. The worker's readiness probe is /ready, which a full
    worker answers 200 (tests/test_readiness.py runs one): at peak, with every worker full, all are
    Ready and a drain may evict one. Were fullness "not ready", every full worker would count as
    disrupted already, and a drain at peak would stall."""
    docs = render()
    pdb = by_kind(docs, "PodDisruptionBudget")["rel-voice-nova"]
    assert pdb["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"  # a stuck pod never blocks a drain
    probe = pod_of(by_kind(docs, "Deployment")["rel-voice-nova"])["spec"]["containers"][0]["readinessProbe"]
    assert probe["httpGet"]["path"] == "/ready"
    for workers in (2, 5, 20):
        assert disruptions_allowed(pdb, pods=workers, ready=workers) == 1  # all full, all ready
        assert disruptions_allowed(pdb, pods=workers, ready=0) == 0  # what "full = not ready" gave


def hpa_metrics(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    metrics: list[dict[str, Any]] = by_kind(docs, "HorizontalPodAutoscaler")["rel-voice-nova"]["spec"][
        "metrics"
    ]
    return metrics


def test_autoscaling_variants_for_workers() -> None:
    cpu = render()
    assert [m["type"] for m in hpa_metrics(cpu)] == ["Resource"]

    sessions = render(VARIANTS["sessions-hpa"])
    pods, resource = hpa_metrics(sessions)
    assert pods["pods"]["metric"]["name"] == "voice_worker_session_utilization"
    assert pods["pods"]["target"] == {"type": "AverageValue", "averageValue": "700m"}
    assert resource["resource"]["name"] == "cpu"  # the fallback when the sessions metric is missing
    hpa = by_kind(sessions, "HorizontalPodAutoscaler")["rel-voice-nova"]["spec"]
    # Calls last minutes: scale down slowly, one worker at a time; scale up at once.
    assert hpa["behavior"]["scaleDown"]["stabilizationWindowSeconds"] >= 300
    assert hpa["behavior"]["scaleDown"]["policies"] == [{"type": "Pods", "value": 1, "periodSeconds": 120}]
    assert hpa["behavior"]["scaleUp"]["stabilizationWindowSeconds"] == 0
    assert "replicas" not in by_kind(sessions, "Deployment")["rel-voice-nova"]["spec"]

    keda = render(VARIANTS["keda"])
    assert "rel-voice-nova" not in by_kind(keda, "HorizontalPodAutoscaler")  # KEDA makes its own
    scaled = by_kind(keda, "ScaledObject")["rel-voice-nova"]
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    assert scaled["spec"]["scaleTargetRef"]["name"] == "rel-voice-nova"
    prometheus, cpu_trigger = scaled["spec"]["triggers"]
    assert prometheus["type"] == "prometheus"
    assert prometheus["metadata"]["query"] == (
        'sum(voice_worker_sessions{namespace="voice"}) / sum(voice_worker_capacity{namespace="voice"})'
    )
    assert prometheus["metadata"]["threshold"] == "0.7"
    assert cpu_trigger == {"type": "cpu", "metricType": "Utilization", "metadata": {"value": "60"}}
    behavior = scaled["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] >= 300
    assert "replicas" not in by_kind(keda, "Deployment")["rel-voice-nova"]["spec"]


def test_the_prometheus_adapter_rule_serves_the_metric_the_hpa_asks_for() -> None:
    rules = yaml.safe_load((CHART / "files" / "prometheus-adapter-rules.yaml").read_text())
    (rule,) = rules["rules"]["custom"]
    assert rule["name"]["as"] == "voice_worker_session_utilization"
    assert "voice_worker_sessions" in rule["metricsQuery"]
    assert "voice_worker_capacity" in rule["metricsQuery"]
    assert rule["resources"]["overrides"]["pod"] == {"resource": "pod"}


def test_autoscalers_target_their_deployments() -> None:
    docs = render()
    deployments = by_kind(docs, "Deployment")
    for hpa in by_kind(docs, "HorizontalPodAutoscaler").values():
        assert hpa["spec"]["scaleTargetRef"]["name"] in deployments
        # With an autoscaler, the Deployment leaves the replica count to it.
        assert "replicas" not in deployments[hpa["spec"]["scaleTargetRef"]["name"]]["spec"]


def test_nats_and_workers_spread_over_zones_and_hosts_by_default() -> None:
    docs = render()
    for name in ("rel-voice-nats", "rel-voice-nova"):
        workload = workloads(docs)[name]
        constraints = pod_of(workload)["spec"]["topologySpreadConstraints"]
        assert {c["topologyKey"] for c in constraints} == {
            "topology.kubernetes.io/zone",
            "kubernetes.io/hostname",
        }
        for constraint in constraints:
            assert constraint["labelSelector"]["matchLabels"] == workload["spec"]["selector"]["matchLabels"]
    nats_host = [
        c
        for c in pod_of(workloads(docs)["rel-voice-nats"])["spec"]["topologySpreadConstraints"]
        if c["topologyKey"] == "kubernetes.io/hostname"
    ]
    assert nats_host[0]["whenUnsatisfiable"] == "DoNotSchedule"  # never two JetStream copies on one node


def test_every_workload_takes_the_scheduling_values() -> None:
    for name, workload in workloads(render(VARIANTS["scheduled-everywhere"])).items():
        pod = pod_of(workload)
        spec = pod["spec"]
        assert spec["nodeSelector"] == SCHEDULING["nodeSelector"], name
        assert spec["tolerations"] == SCHEDULING["tolerations"], name
        assert spec["affinity"] == SCHEDULING["affinity"], name
        assert spec["priorityClassName"] == "voice-critical", name
        assert pod["metadata"]["annotations"]["example.com/team"] == "voice", name
        assert pod["metadata"]["labels"]["team"] == "voice", name
        # A pod label never replaces the selector's.
        assert pod["metadata"]["labels"]["app.kubernetes.io/instance"] == "rel", name


def test_cert_manager_makes_the_nats_certificate_for_the_service_and_the_routes() -> None:
    docs = render(VARIANTS["cert-manager"])
    certificate = by_kind(docs, "Certificate")["rel-voice-nats"]["spec"]
    assert certificate["secretName"] == "rel-voice-nats-tls"
    assert certificate["issuerRef"]["name"] == "voice-ca"
    assert set(certificate["usages"]) == {"server auth", "client auth"}
    assert "rel-voice-nats" in certificate["dnsNames"]
    assert "*.rel-voice-nats-cluster" in certificate["dnsNames"]
    assert "rel-voice-nats.voice.svc.cluster.local" in certificate["dnsNames"]
    with pytest.raises(helm.HelmRenderError, match=r"issuerRef\.name"):
        render({"nats": {"tls": {"certManager": {"enabled": True}}}})


def test_transcripts_keep_their_sqlite_file_on_a_volume_of_their_own() -> None:
    docs = render()
    deployment = by_kind(docs, "Deployment")["rel-voice-transcripts"]
    assert deployment["spec"]["replicas"] == 1  # one writer of the file
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    volumes = {v["name"]: v for v in pod_of(deployment)["spec"]["volumes"]}
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


def test_the_operators_kit_is_optional_and_ships_the_rules_and_the_dashboard() -> None:
    kinds = {doc["kind"] for doc in render()}
    assert not kinds & {"PodMonitor", "PrometheusRule"}
    docs = render(
        {
            "monitoring": {
                "podMonitor": {"enabled": True, "labels": {"release": "kps"}},
                "prometheusRule": {"enabled": True},
                "grafanaDashboard": {"enabled": True},
            }
        }
    )
    (monitor,) = by_kind(docs, "PodMonitor").values()
    assert monitor["metadata"]["labels"]["release"] == "kps"
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert (endpoint["port"], endpoint["path"]) == ("metrics", "/metrics")
    (rule,) = by_kind(docs, "PrometheusRule").values()
    shipped = yaml.safe_load((CHART / "files" / "prometheus-rules.yaml").read_text())
    assert rule["spec"] == shipped
    alerts = {r["alert"] for group in shipped["groups"] for r in group["rules"]}
    assert {"VoiceFirstAudioSlow", "VoicePlacementFailures", "VoiceWorkersNearlyFull"} <= alerts
    assert {"VoiceConsumerLagging", "VoiceNovaSonicStreamFailures"} <= alerts
    dashboard = by_kind(docs, "ConfigMap")["rel-voice-dashboard"]
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(dashboard["data"]["voice.json"])["uid"] == "voice-platform"


def test_recordings_are_off_unless_enabled_and_then_on_s3_with_irsa() -> None:
    assert "rel-voice-recordings" not in by_kind(render(), "Deployment")
    assert "EDGE_RECORDING" not in env_of(by_kind(render(), "Deployment")["rel-voice-edge"])
    docs = render(VARIANTS["recordings-s3-irsa"])
    deployment = by_kind(docs, "Deployment")["rel-voice-recordings"]
    # One recorder at a time: it repositions its consumers when it starts.
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    env = env_of(deployment)
    assert env["RECORDINGS_STORAGE"]["value"] == "s3"
    assert env["RECORDINGS_S3_BUCKET"]["value"] == "voice-recordings"
    assert env["RECORDINGS_S3_REGION"]["value"] == "eu-west-1"
    assert "AWS_ACCESS_KEY_ID" not in env  # the standard chain: IRSA's web identity
    account = pod_of(deployment)["spec"]["serviceAccountName"]
    annotations = by_kind(docs, "ServiceAccount")[account]["metadata"]["annotations"]
    assert annotations["eks.amazonaws.com/role-arn"] == RECORDINGS_ROLE
    assert env_of(by_kind(docs, "Deployment")["rel-voice-edge"])["EDGE_RECORDING"]["value"] == "true"
    (rule,) = by_kind(docs, "Ingress")["rel-voice-edge"]["spec"]["rules"]
    paths = {p["path"]: p["backend"]["service"]["name"] for p in rule["http"]["paths"]}
    assert paths == {"/api/recordings": "rel-voice-recordings", "/": "rel-voice-edge"}
    policy, metrics = by_kind(docs, "NetworkPolicy")["rel-voice-recordings"]["spec"]["ingress"]
    assert policy["ports"] == [{"port": 8084, "protocol": "TCP"}]
    assert metrics["ports"] == [{"port": 9464, "protocol": "TCP"}]
    config = nats_config(docs)
    assert "VOICE_NKEY_RECORDINGS" in config
    in_nats = env_of(by_kind(render(VARIANTS["recordings-in-nats"]), "Deployment")["rel-voice-recordings"])
    assert in_nats["RECORDINGS_STORAGE"]["value"] == "nats"
    assert in_nats["RECORDINGS_OBJECT_STORE_MAX_BYTES"]["value"] == str(1 << 34)
    with pytest.raises(Exception, match=re.escape("recordings.s3.bucket")):
        render({"recordings": {"enabled": True}})
