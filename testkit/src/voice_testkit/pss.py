"""The Kubernetes Pod Security Standards, "restricted" profile (which includes "baseline"), as a check
of a pod spec: what a namespace labelled ``pod-security.kubernetes.io/enforce: restricted`` admits.

Written from the rules as the Pod Security Standards page states them for Kubernetes 1.30 (no
validator of them ships in a registry package usable here: Kyverno, kubeconform and kube-score do
not). Each rule says which field it reads; tests/test_helm.py checks that every rule catches a pod
that breaks it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

#: Baseline: the only sysctls a pod may set.
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)
#: Restricted: the only volume types.
ALLOWED_VOLUMES = frozenset(
    {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
)
_SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"})


def _containers(spec: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for kind in ("initContainers", "containers", "ephemeralContainers"):
        for container in spec.get(kind) or []:
            yield f"{kind}[{container.get('name', '?')}]", container


def restricted_violations(
    pod_spec: Mapping[str, Any], annotations: Mapping[str, str] | None = None
) -> list[str]:
    """Every rule of the restricted profile that ``pod_spec`` (with its pod's ``annotations``)
    breaks, as "<where>: <rule>"; an empty list means the pod is admitted."""
    problems: list[str] = []
    pod_sc: Mapping[str, Any] = pod_spec.get("securityContext") or {}
    containers = list(_containers(pod_spec))

    # --- baseline ---
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if pod_spec.get(field):
            problems.append(f"pod: {field} must not be true (host namespaces)")
    if (pod_sc.get("windowsOptions") or {}).get("hostProcess"):
        problems.append("pod: hostProcess must not be true")
    for volume in pod_spec.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if "hostPath" in kinds:
            problems.append(f"volume {volume.get('name')}: hostPath volumes are forbidden")
        elif not kinds <= ALLOWED_VOLUMES:
            problems.append(f"volume {volume.get('name')}: type {sorted(kinds)} is not allowed (restricted)")
    for sysctl in pod_sc.get("sysctls") or []:
        if sysctl.get("name") not in SAFE_SYSCTLS:
            problems.append(f"pod: sysctl {sysctl.get('name')} is not in the safe set")
    problems += _selinux("pod", pod_sc)
    problems += _apparmor("pod", pod_sc)
    for key, value in (annotations or {}).items():
        if key.startswith("container.apparmor.security.beta.kubernetes.io/") and not (
            value == "runtime/default" or value.startswith("localhost/")
        ):
            problems.append(f"annotation {key}: AppArmor profile {value!r} is not allowed")

    pod_non_root = pod_sc.get("runAsNonRoot") is True
    pod_seccomp = (pod_sc.get("seccompProfile") or {}).get("type")
    if pod_seccomp not in (None, "RuntimeDefault", "Localhost"):
        problems.append(f"pod: seccompProfile {pod_seccomp} is not allowed")
    if pod_sc.get("runAsUser") == 0:
        problems.append("pod: runAsUser must not be 0")

    for where, container in containers:
        sc: Mapping[str, Any] = container.get("securityContext") or {}
        if sc.get("privileged"):
            problems.append(f"{where}: privileged must not be true")
        if (sc.get("windowsOptions") or {}).get("hostProcess"):
            problems.append(f"{where}: hostProcess must not be true")
        for port in container.get("ports") or []:
            if port.get("hostPort"):
                problems.append(f"{where}: hostPort {port['hostPort']} is forbidden")
        if sc.get("procMount", "Default") != "Default":
            problems.append(f"{where}: procMount must be Default")
        problems += _selinux(where, sc)
        problems += _apparmor(where, sc)
        # --- restricted ---
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{where}: allowPrivilegeEscalation must be false")
        if sc.get("runAsNonRoot") is False or not (pod_non_root or sc.get("runAsNonRoot") is True):
            problems.append(f"{where}: runAsNonRoot must be true (on the pod or the container)")
        if sc.get("runAsUser") == 0:
            problems.append(f"{where}: runAsUser must not be 0")
        seccomp = (sc.get("seccompProfile") or {}).get("type")
        if seccomp not in (None, "RuntimeDefault", "Localhost") or (seccomp is None and pod_seccomp is None):
            problems.append(f"{where}: seccompProfile must be RuntimeDefault or Localhost (pod or container)")
        capabilities: Mapping[str, Any] = sc.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            problems.append(f"{where}: capabilities must drop ALL")
        added = set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}
        if added:
            problems.append(f"{where}: capabilities may add only NET_BIND_SERVICE, not {sorted(added)}")
    return problems


def _selinux(where: str, sc: Mapping[str, Any]) -> list[str]:
    options: Mapping[str, Any] = sc.get("seLinuxOptions") or {}
    problems = []
    if options.get("type", "") not in _SELINUX_TYPES:
        problems.append(f"{where}: SELinux type {options['type']} is not allowed")
    if options.get("user") or options.get("role"):
        problems.append(f"{where}: SELinux user and role must not be set")
    return problems


def _apparmor(where: str, sc: Mapping[str, Any]) -> list[str]:
    profile = (sc.get("appArmorProfile") or {}).get("type")
    if profile not in (None, "RuntimeDefault", "Localhost"):
        return [f"{where}: AppArmor profile {profile} is not allowed"]
    return []
