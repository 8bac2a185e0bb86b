"""`train`: training jobs. A Kubeflow Trainer v2 TrainJob (`trainer.kubeflow.org/v1alpha1`) from a file or
built from a script, or the TFJob/PyTorchJob (`kubeflow.org/v1`) a file declares; the job history, runtimes,
describe, delete, and `--wait` until the job ends (exit 0 Complete, 1 Failed with the reason).

Without YAML (`train NAME --runtime torch-distributed --script train.py -- args`) the script travels inside
the job, as the Kubeflow SDK's custom trainer does: the trainer's command writes it to a file in the container
and runs it with the runtime's launcher (`torchrun` for torch runtimes, `python3` otherwise).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from kfshell import discovery as d
from kfshell import fnkit
from kfshell import workloads as w

KF_COMMAND = {
    "name": "train",
    "help": "training jobs: train NAME FILE | train NAME --runtime R --script S; ls, runtimes, describe, logs, "
            "delete",
    "timeout": 630,
    "requires": [{"verb": "list", "group": "trainer.kubeflow.org", "resource": "trainjobs",
                  "namespace": "$namespace"}],
    "subcommands": [
        {"name": "create", "default": True,
         "help": "a TrainJob (or the TFJob/PyTorchJob a file declares), checked by the server before it is made",
         "requires": [{"verb": "create", "group": "trainer.kubeflow.org", "resource": "trainjobs",
                       "namespace": "$namespace"}],
         "arguments": [
             {"name": "name", "help": "the job's name (an RFC 1035 label)", "required": True},
             {"name": "file", "help": "a YAML file with one TrainJob, PyTorchJob or TFJob", "complete": "files"},
             {"name": "args", "repeat": True, "help": "with --script: the script's arguments (after --)"},
             {"name": "runtime", "kind": "option", "flags": ["--runtime"],
              "help": "the training runtime (see `train runtimes`), e.g. torch-distributed"},
             {"name": "script", "kind": "option", "flags": ["--script"], "complete": "files",
              "help": "a Python script to train with; it travels in the job"},
             {"name": "nodes", "kind": "option", "flags": ["--nodes"], "type": "int", "help": "number of nodes"},
             {"name": "gpus", "kind": "option", "flags": ["--gpus"], "type": "int",
              "help": "NVIDIA GPUs per node (nvidia.com/gpu)"},
             {"name": "image", "kind": "option", "flags": ["--image"], "help": "the trainer's image"},
             {"name": "wait", "kind": "flag", "flags": ["--wait"],
              "help": "wait until the job ends: exit 0 when it completes, 1 when it fails"},
             {"name": "timeout", "kind": "option", "flags": ["--timeout"], "type": "int",
              "help": "seconds to wait (default 600)"},
         ]},
        {"name": "ls", "help": "jobs, newest first, finished ones too: state, nodes, duration, start time"},
        {"name": "runtimes", "help": "the training runtimes you may use"},
        {"name": "describe", "help": "a job's state and why, runtime, trainer, conditions and pods",
         "requires": [{"verb": "get", "group": "trainer.kubeflow.org", "resource": "trainjobs",
                       "namespace": "$namespace"}],
         "arguments": [{"name": "name", "help": "the job", "required": True, "complete": "jobs"}]},
        {"name": "logs", "hands_to": "logs",
         "help": "a job's logs, every node's; -f follows them until the job ends (exit 0 Complete, 1 Failed)",
         "requires": [{"verb": "get", "group": "", "resource": "pods/log", "namespace": "$namespace"}],
         "arguments": [{"name": "name", "help": "the job", "required": True, "complete": "jobs"},
                       {"name": "follow", "kind": "flag", "flags": ["-f", "--follow"],
                        "help": "keep printing until the job ends"},
                       {"name": "tail", "kind": "option", "flags": ["--tail"], "type": "int",
                        "help": "the last N lines of each pod"}]},
        {"name": "delete", "help": "delete a job and its pods", "confirm": "delete training job {name}",
         "requires": [{"verb": "delete", "group": "trainer.kubeflow.org", "resource": "trainjobs",
                       "namespace": "$namespace"}],
         "arguments": [{"name": "name", "help": "the job", "required": True, "complete": "jobs"},
                       {"name": "yes", "kind": "flag", "flags": ["-y", "--yes"], "help": "do not ask"}]},
    ],
}

FILE_KINDS = {"trainer.kubeflow.org/v1alpha1/TrainJob": "TrainJob", "kubeflow.org/v1/PyTorchJob": "PyTorchJob",
              "kubeflow.org/v1/TFJob": "TFJob"}
KIND_KEYS = {"TrainJob": "trainjobs", "PyTorchJob": "pytorchjobs", "TFJob": "tfjobs"}
RUNTIMES = {
    "ClusterTrainingRuntime": d.Kind("ClusterTrainingRuntime", "trainer.kubeflow.org", "clustertrainingruntimes",
                                     ("v1alpha1",), namespaced=False),
    "TrainingRuntime": d.Kind("TrainingRuntime", "trainer.kubeflow.org", "trainingruntimes", ("v1alpha1",)),
}
FRAMEWORK_LABEL = "trainer.kubeflow.org/framework"
GPU = "nvidia.com/gpu"
ENDED = ("Complete", "Succeeded", "Failed")
COLUMNS = ["NAME", "KIND", "STATE", "NODES", "DURATION", "STARTED"]
WIDE = ["RUNTIME", "MESSAGE"]
WAIT = 600.0


@fnkit.entrypoint
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    req = fnkit.request(event)
    api = fnkit.api_client(event)
    sub = req.subcommand or "create"
    discovery = d.discover(api)
    if sub == "ls":
        return job_list(api, discovery, req.namespace)
    if sub == "runtimes":
        return runtime_list(api, discovery, req.namespace)
    name = fnkit.check_name(str(req.arg("name", "")), "training job")
    if sub == "create":
        return create(event, req, api, discovery, name)
    res, job = find_job(api, discovery, req.namespace, name)
    if sub == "describe":
        return fnkit.object(describe(api, req.namespace, job))
    if sub == "delete":
        w.delete(api, res, req.namespace, name, f"{res.kind} {name}")
        return fnkit.message(f"{res.kind} {name} deleted")
    raise fnkit.FunctionError("Usage", f"unknown subcommand 'train {sub}'",
                              hint="use create, ls, runtimes, describe or delete")


# ---- state -------------------------------------------------------------------------------------------------


def job_state(job: dict[str, Any]) -> tuple[str, str]:
    """(state, message): Complete, Failed, Suspended, Running or Created for a TrainJob (as the SDK tells
    them), the latest true condition for a TFJob/PyTorchJob."""
    status = job.get("status") or {}
    if job.get("kind") == "TrainJob":
        for kind in ("Failed", "Complete", "Suspended"):
            if w.is_true(job, kind):
                cond = w.condition(job, kind) or {}
                return kind, _why(cond)
        if any(int(j.get("active") or 0) + int(j.get("ready") or 0) > 0 for j in status.get("jobsStatus") or []):
            return "Running", ""
        return ("Suspended", "") if (job.get("spec") or {}).get("suspend") else ("Created", "")
    latest = d.latest_condition(job)
    cond = w.condition(job, latest) if latest else None
    return latest or "Created", _why(cond or {}) if latest == "Failed" else ""


def _why(cond: dict[str, Any]) -> str:
    return ": ".join(p for p in (cond.get("reason"), cond.get("message")) if p)


def ended_at(job: dict[str, Any]) -> str | None:
    status = job.get("status") or {}
    if status.get("completionTime"):
        return status["completionTime"]
    for kind in ENDED:
        cond = w.condition(job, kind)
        if cond and cond.get("status") == "True":
            return cond.get("lastTransitionTime")
    return None


def started_at(job: dict[str, Any]) -> str | None:
    return (job.get("status") or {}).get("startTime") or w.created(job)


def nodes(job: dict[str, Any]) -> str:
    spec = job.get("spec") or {}
    if job.get("kind") == "TrainJob":
        count = (spec.get("trainer") or {}).get("numNodes")
        return str(count) if count else "-"
    replicas = spec.get("pytorchReplicaSpecs") or spec.get("tfReplicaSpecs") or {}
    return str(sum(int((r or {}).get("replicas") or 1) for r in replicas.values()) or "-")


def job_row(job: dict[str, Any]) -> list[Any]:
    meta = job.get("metadata") or {}
    state, message = job_state(job)
    runtime = ((job.get("spec") or {}).get("runtimeRef") or {}).get("name", "")
    return [meta.get("name", ""), job.get("kind", ""), state, nodes(job),
            w.duration(started_at(job), ended_at(job)), w.clock(started_at(job)), runtime, message]


def job_list(api: Any, discovery: d.Discovery, namespace: str) -> dict[str, Any]:
    listings = d.parallel(lambda key: d.list_kind(api, discovery, key, namespace), list(d.JOB_KINDS))
    if all(any("not installed" in s for s in listing.skipped) for listing in listings):
        w.resource(api, d.KINDS["trainjobs"], discovery)  # none installed: say which component is missing
    jobs = [job for listing in listings for job in listing.items]
    result = fnkit.table(COLUMNS, [job_row(j) for j in w.newest_first(jobs)], WIDE)
    skipped = [s for listing in listings for s in listing.skipped if "not allowed" in s]
    if skipped:
        result["warnings"] = [f"left out {s}" for s in skipped]
    return result


def runtime_list(api: Any, discovery: d.Discovery, namespace: str) -> dict[str, Any]:
    cluster = w.resource(api, RUNTIMES["ClusterTrainingRuntime"], discovery)
    local = discovery.find(RUNTIMES["TrainingRuntime"])
    found = [d.try_list(api, cluster.path(), "clustertrainingruntimes")]
    if local is not None:
        found.append(d.try_list(api, local.path(namespace), f"trainingruntimes in {namespace}"))
    rows = []
    for listing in found:
        for rt in listing.items:
            meta = rt.get("metadata") or {}
            policy = (rt.get("spec") or {}).get("mlPolicy") or {}
            rows.append([meta.get("name", ""), "cluster" if rt.get("kind") == "ClusterTrainingRuntime" else namespace,
                         (meta.get("labels") or {}).get(FRAMEWORK_LABEL, ""), str(policy.get("numNodes") or ""),
                         d.age(meta.get("creationTimestamp"))])
    result = fnkit.table(["NAME", "SCOPE", "FRAMEWORK", "NODES", "AGE"], sorted(rows))
    skipped = [s for listing in found for s in listing.skipped]
    if skipped:
        result["warnings"] = [f"left out {s}" for s in skipped]
    return result


def find_job(api: Any, discovery: d.Discovery, namespace: str, name: str) -> tuple[d.Resource, dict[str, Any]]:
    """The job called `name`, whichever of TrainJob, PyTorchJob, TFJob it is."""
    from kfshell.cluster import ApiError, request_json

    served = [res for res in (discovery.find(d.KINDS[key]) for key in d.JOB_KINDS) if res is not None]
    if not served:
        w.resource(api, d.KINDS["trainjobs"], discovery)
    names: list[str] = []
    for res in served:
        try:
            job = request_json(api, "GET", res.path(namespace, name))
            job.setdefault("kind", res.kind)
            return res, job
        except ApiError as err:
            if err.status != 404:
                raise
        names += [o["metadata"]["name"] for o in d.try_list(api, res.path(namespace), res.plural).items]
    raise fnkit.not_found("training job", name, names, namespace)


# ---- create ------------------------------------------------------------------------------------------------


def create(event: dict[str, Any], req: fnkit.Request, api: Any, discovery: d.Discovery,
           name: str) -> dict[str, Any]:
    ns = req.namespace
    file, script, runtime = req.arg("file"), req.arg("script"), req.arg("runtime")
    if script or runtime:
        if not (script and runtime):
            raise fnkit.FunctionError("Usage", "--script and --runtime go together",
                                      hint="train NAME --runtime torch-distributed --script train.py")
        args = ([file] if file else []) + list(req.arg("args", []))  # with --script every word is the script's
        res = w.resource(api, d.KINDS["trainjobs"], discovery)
        ref, framework = runtime_ref(api, discovery, ns, runtime)
        text, shown = w.input_text(event, req, script)
        job = script_job(name, ns, ref, text, shown, args, framework=framework, nodes=req.arg("nodes"),
                         gpus=req.arg("gpus"), image=req.arg("image"))
    elif file:
        if req.arg("args"):
            raise fnkit.FunctionError("Usage", f"unexpected arguments after {file}",
                                      hint="script arguments go with --script")
        job = w.load_input(event, req, file, FILE_KINDS, name, "train")
        res = w.resource(api, d.KINDS[KIND_KEYS[job["kind"]]], discovery)
        _override(job, nodes=req.arg("nodes"), gpus=req.arg("gpus"), image=req.arg("image"))
    else:
        raise fnkit.FunctionError("Usage", "train needs a file, or --runtime and --script",
                                  hint="train NAME job.yaml, or train NAME --runtime R --script train.py")
    w.check_and_create(api, res, ns, job, f"{job['kind']} {name}")
    if not req.arg("wait"):
        return fnkit.message(f"{job['kind']} {name} created; see it with `train describe {name}`")
    return _wait_for_end(api, res, ns, name, float(req.arg("timeout", WAIT)))


def runtime_ref(api: Any, discovery: d.Discovery, namespace: str, name: str) -> tuple[dict[str, str], str]:
    """(runtimeRef, framework) for `--runtime`: the namespace's TrainingRuntime, else the ClusterTrainingRuntime.

    Where runtimes cannot be read (not installed, or not allowed) the name goes as a ClusterTrainingRuntime and
    the server's dry run says whether it exists.
    """
    from kfshell.cluster import ApiError, request_json

    names: list[str] = []
    readable = False
    for kind in ("TrainingRuntime", "ClusterTrainingRuntime"):
        res = discovery.find(RUNTIMES[kind])
        if res is None:
            continue
        try:
            rt = request_json(api, "GET", res.path(namespace, name))
        except ApiError as err:
            if err.status not in (403, 404):
                raise
            listing = d.try_list(api, res.path(namespace), res.plural)
            readable = readable or not listing.skipped
            names += [o["metadata"]["name"] for o in listing.items]
            continue
        framework = ((rt.get("metadata") or {}).get("labels") or {}).get(FRAMEWORK_LABEL, "")
        return {"name": name, "kind": kind, "apiGroup": "trainer.kubeflow.org"}, framework
    if readable:
        raise fnkit.not_found("training runtime", name, names)
    return ({"name": name, "kind": "ClusterTrainingRuntime", "apiGroup": "trainer.kubeflow.org"},
            "torch" if "torch" in name else "")


def script_command(script: str, filename: str, args: list[str], framework: str) -> list[str]:
    """The trainer's command: write the script into the container (a quoted here-document), then run it."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", filename) or "train.py"
    marker = "KF_SCRIPT_" + hashlib.sha256(script.encode()).hexdigest()[:16].upper()
    launcher = "torchrun" if framework in ("torch", "deepspeed") else "python3"
    body = script if script.endswith("\n") else script + "\n"
    shell = (f"set -e\nmkdir -p /tmp/kf\ncat > /tmp/kf/{safe} <<'{marker}'\n{body}{marker}\n"
             f'exec {launcher} /tmp/kf/{safe} "$@"\n')
    return ["bash", "-c", shell, safe, *args]


def script_job(name: str, namespace: str, ref: dict[str, str], script: str, filename: str, args: list[str], *,
               framework: str, nodes: int | None, gpus: int | None, image: str | None) -> dict[str, Any]:
    job = {"apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "TrainJob",
           "metadata": {"name": name, "namespace": namespace},
           "spec": {"runtimeRef": ref, "trainer": {"command": script_command(script, filename, args, framework)}}}
    _override(job, nodes=nodes, gpus=gpus, image=image)
    return job


def _override(job: dict[str, Any], *, nodes: int | None, gpus: int | None, image: str | None) -> None:
    """--nodes, --gpus and --image on a TrainJob's trainer (a TFJob/PyTorchJob file says its own)."""
    if nodes is None and gpus is None and not image:
        return
    if job["kind"] != "TrainJob":
        raise fnkit.FunctionError("Usage", f"--nodes, --gpus and --image apply to a TrainJob, not a {job['kind']}",
                                  hint="set them in the file")
    for flag, value in (("--nodes", nodes), ("--gpus", gpus)):
        if value is not None and value < (1 if flag == "--nodes" else 0):
            raise fnkit.FunctionError("Usage", f"{flag} cannot be {value}")
    trainer = job.setdefault("spec", {}).setdefault("trainer", {})
    if nodes is not None:
        trainer["numNodes"] = nodes
    if gpus:
        trainer.setdefault("resourcesPerNode", {}).setdefault("limits", {})[GPU] = gpus
    if image:
        trainer["image"] = image


def _wait_for_end(api: Any, res: d.Resource, ns: str, name: str, timeout: float) -> dict[str, Any]:
    def read() -> dict[str, Any]:
        job = w.get(api, res, ns, name, "training job")
        job.setdefault("kind", res.kind)
        return job

    job = w.wait_until(read, lambda j: job_state(j)[0] in ENDED, timeout, f"{res.kind} {name}",
                       lambda j: job_state(j)[0])
    state, why = job_state(job)
    took = w.duration(started_at(job), ended_at(job))
    if state == "Failed":
        raise fnkit.FunctionError("Failed", f"{res.kind} {name} failed after {took}" + (f": {why}" if why else ""),
                                  hint=f"see `train describe {name}` and its logs")
    return fnkit.message(f"{res.kind} {name} completed in {took}")


# ---- describe ----------------------------------------------------------------------------------------------


def pod_selector(job: dict[str, Any]) -> str:
    name = job["metadata"]["name"]
    if job.get("kind") == "TrainJob":
        return f"jobset.sigs.k8s.io/jobset-name={name}"
    return f"training.kubeflow.org/job-name={name}"


def pod_view(pod: dict[str, Any]) -> dict[str, Any]:
    labels = (pod.get("metadata") or {}).get("labels") or {}
    status = pod.get("status") or {}
    view = {"name": pod["metadata"]["name"], "phase": status.get("phase", ""),
            "step": labels.get("jobset.sigs.k8s.io/replicatedjob-name")
            or labels.get("training.kubeflow.org/replica-type", "")}
    for cs in status.get("containerStatuses") or []:
        ended = (cs.get("state") or {}).get("terminated") or {}
        if ended and ended.get("exitCode"):
            view["failure"] = (f"container {cs.get('name')} exited {ended.get('exitCode')}"
                               + (f" ({ended['reason']})" if ended.get("reason") else "")
                               + (f": {ended['message']}" if ended.get("message") else ""))
    return view


def describe(api: Any, ns: str, job: dict[str, Any]) -> dict[str, Any]:
    meta, spec = job.get("metadata") or {}, job.get("spec") or {}
    state, why = job_state(job)
    pods = d.try_list(api, f"/api/v1/namespaces/{ns}/pods", "pods", selector=pod_selector(job))
    trainer = dict(spec.get("trainer") or {})
    if isinstance(trainer.get("command"), list) and len(trainer["command"]) > 2 and trainer["command"][:2] == [
            "bash", "-c"]:
        trainer["command"] = ["bash", "-c", "<the script kf sent>", *trainer["command"][3:]]
    info = {
        "name": meta.get("name"), "namespace": ns, "kind": job.get("kind"), "state": state, "reason": why,
        "runtime": spec.get("runtimeRef"), "trainer": trainer or None, "nodes": nodes(job),
        "started": started_at(job), "ended": ended_at(job), "duration": w.duration(started_at(job), ended_at(job)),
        "conditions": w.conditions_view(job), "jobs": (job.get("status") or {}).get("jobsStatus"),
        "pods": [pod_view(p) for p in sorted(pods.items, key=lambda p: p["metadata"]["name"])],
    }
    return {k: v for k, v in info.items() if v not in (None, "", [], {})}
