"""The Kubeflow controllers that run beside the control plane: what each is built from and where it listens.

Each controller is its own Go module under this directory (their controller-runtime lines differ), built into
.cache/devcluster/bin/<name> when that module's files change (devcluster/build.py). `run.py` starts them;
`manifests.py` makes what the seed applies for them from the upstream files in the Go module cache.
Every port is on loopback except KServe's webhook port (its server has no host flag and binds every interface).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .. import paths


@dataclass(frozen=True)
class Controller:
    """One controller process: its module, the package built, its service account and ports."""

    name: str  # process, binary and log name
    directory: str  # its Go module under devcluster/controllers/
    package: str  # what `go build` builds in that module
    service_account: str  # in namespace kubeflow; the controller's kubeconfig uses its token
    probe_port: int  # /healthz and /readyz on 127.0.0.1
    webhook_port: int | None = None  # its webhook server, registered by URL with the dev CA's caBundle
    upstream: str | None = None  # the Go module whose manifests (CRDs, RBAC, webhooks) the seed applies

    @property
    def module(self) -> Path:
        return paths.CONTROLLERS / self.directory

    @property
    def binary(self) -> Path:
        return paths.BIN / self.name


NAMESPACE = "kubeflow"  # where their service accounts live, and KServe's POD_NAMESPACE (as on Kubeflow)

# Start order: JobSet's mutating webhook must serve before Trainer makes its first JobSet.
NOTEBOOK = Controller("notebook-controller", "notebook", ".", "notebook-controller-service-account", 18081)
JOBSET = Controller("jobset-controller", "jobset", "sigs.k8s.io/jobset", "jobset-controller-manager", 18082,
                    webhook_port=19444, upstream="sigs.k8s.io/jobset")
TRAINER = Controller("trainer-controller", "trainer", "github.com/kubeflow/trainer/v2/cmd/trainer-controller-manager",
                     "kubeflow-trainer-controller-manager", 18083, webhook_port=19443,
                     upstream="github.com/kubeflow/trainer/v2")
KSERVE = Controller("kserve-controller", "kserve", "github.com/kserve/kserve/cmd/manager", "kserve-controller-manager",
                    18084, webhook_port=19445, upstream="github.com/kserve/kserve")
CONTROLLERS = (NOTEBOOK, JOBSET, TRAINER, KSERVE)
TRAINER_STATUS_PORT = 19446  # Trainer's runtime status server (only with its TrainJobStatus feature gate)
