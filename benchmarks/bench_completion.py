"""Completion: keystroke-to-menu latency in process at 100, 1,000 and 10,000 objects, and the time and
memory of a full refresh of 1,000 notebooks and 1,000 pods on the dev cluster.

Latency is measured on the completer the prompt uses, from the text before the cursor to the list of menu
entries (prompt_toolkit `Completion`s with their descriptions), while "typing" names character by character
as a person would: prefixes of real names, fuzzy abbreviations, and names that match nothing.
"""

from __future__ import annotations

import gc
import os
import random
import resource
import statistics
import sys
import time
from collections.abc import Callable

from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document

from kfshell.completion.completer import KfCompleter
from kfshell.completion.snapshot import Item, Snapshot

SIZES = (100, 1_000, 10_000)
WORDS = ("train", "eval", "notebook", "bert", "resnet", "mnist", "gpu", "job", "serve", "data", "tune", "llama")


class _Registry:
    """A one-command registry: `logs <pod>` completes pods."""

    SPEC = {"name": "logs", "help": "logs of a pod", "arguments": [{"name": "pod", "complete": "pods"}]}

    def commands(self) -> list[dict]:
        return [self.SPEC]

    def get(self, name: str) -> dict | None:
        return self.SPEC if name == "logs" else None


def synthetic_snapshot(count: int, seed: int = 7) -> Snapshot:
    rnd = random.Random(seed)
    now = time.time()
    pods = [
        Item(f"{rnd.choice(WORDS)}-{rnd.choice(WORDS)}-{n:05d}-{rnd.randrange(16**5):05x}", "Pod  Running",
             "bench", created_at=now - rnd.randrange(1, 30 * 86400))
        for n in range(count)
    ]
    return Snapshot.build("bench", "bench", {"pods": pods})


def typing_lines(snapshot: Snapshot, seed: int = 11) -> list[str]:
    """Lines as they stand after each keystroke while typing a few names, then a few fuzzy queries."""
    rnd = random.Random(seed)
    pods = snapshot.get("pods")
    typed = [rnd.choice(pods).name[:14] for _ in range(6)]
    typed += ["bgpu", "nbk00", "trn-tune", "zzz", "llm9"]
    lines = []
    for word in typed:
        for end in range(len(word) + 1):
            lines.append("logs " + word[:end])
    return lines


def keystroke_latency(count: int, rounds: int = 5) -> list[float]:
    snapshot = synthetic_snapshot(count)
    completer = KfCompleter(_Registry(), lambda: snapshot)
    completer.remember(f"logs {snapshot.get('pods')[count // 2].name}")
    lines = typing_lines(snapshot)
    event = CompleteEvent(text_inserted=True)
    samples = []
    gc.collect()
    for _ in range(rounds):
        for line in lines:
            document = Document(line)
            started = time.perf_counter()
            menu = list(completer.get_completions(document, event))
            for completion in menu:  # what the menu renders
                completion.display_meta_text  # noqa: B018
            samples.append(time.perf_counter() - started)
    return samples


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def report_latency(print_: Callable[[str], None] = print) -> dict[int, tuple[float, float]]:
    figures = {}
    print_("keystroke to menu, in process (typing names and fuzzy queries into `logs <pod>`)")
    for count in SIZES:
        samples = keystroke_latency(count)
        p50, p99 = statistics.median(samples), percentile(samples, 0.99)
        figures[count] = (p50, p99)
        aim = "  (aim p99 < 10 ms)" if count == 10_000 else ""
        print_(f"  {count:>6} objects  p50 {p50 * 1000:6.2f} ms  p99 {p99 * 1000:6.2f} ms  "
               f"(n={len(samples)}){aim}")
    return figures


def rss_mib() -> float:
    """Resident memory of this process now (from /proc), in MiB."""
    try:
        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---- full refresh on the dev cluster ------------------------------------------------------------------

REFRESH_OBJECTS = int(os.environ.get("KF_BENCH_OBJECTS", "1000"))
REFRESH_RUNS = int(os.environ.get("KF_BENCH_REFRESH_RUNS", "5"))


def _create_many(api, namespace: str, count: int) -> None:
    """`count` notebooks and `count` pods in `namespace`, a few requests at a time."""
    from concurrent.futures import ThreadPoolExecutor

    from kfshell.cluster import request_json

    def notebook(n: int) -> None:
        request_json(api, "POST", f"/apis/kubeflow.org/v1/namespaces/{namespace}/notebooks", body={
            "apiVersion": "kubeflow.org/v1", "kind": "Notebook", "metadata": {"name": f"nb-{n:05d}"},
            "spec": {"template": {"spec": {"containers": [{"name": "nb", "image": "jupyter/base:1"}]}}}})

    def pod(n: int) -> None:
        request_json(api, "POST", f"/api/v1/namespaces/{namespace}/pods", body={
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"worker-{n:05d}"},
            "spec": {"containers": [{"name": "main", "image": "busybox:1"}, {"name": "sidecar", "image": "envoy:1"}]}})

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(notebook, range(count)))
        list(pool.map(pod, range(count)))


def report_refresh(print_: Callable[[str], None] = print) -> None:
    import subprocess
    import uuid

    import prompt_toolkit  # noqa: F401 - the shell holds it too; count it in the RSS

    from benchmarks.timing import summarise
    from devcluster import cluster, paths
    from kfshell.cluster import api_client, request_json
    from kfshell.completion.refresher import Refresher
    from kfshell.completion.sessions import roomy_client
    from kfshell.kubeconfig import load_kubeconfig

    cluster.up()
    kubeconfig = str(paths.KUBECONFIG)

    def connect(context):
        return roomy_client(api_client(load_kubeconfig(kubeconfig, context), context))

    admin = connect("kf-admin")
    namespace = f"kf-bench-{uuid.uuid4().hex[:6]}"
    request_json(admin, "POST", "/api/v1/namespaces", body={"metadata": {"name": namespace}})
    try:
        started = time.perf_counter()
        _create_many(admin, namespace, REFRESH_OBJECTS)
        print_(f"full refresh of {REFRESH_OBJECTS} notebooks and {REFRESH_OBJECTS} pods (kf-admin, dev cluster; "
               f"created in {time.perf_counter() - started:.0f} s)")
        gc.collect()
        before = rss_mib()
        refresher = Refresher(connect)
        samples = []
        try:
            for run in range(REFRESH_RUNS + 1):
                started = time.perf_counter()
                if run == 0:
                    refresher.start("kf-admin", namespace)
                else:
                    refresher.refresh()
                if not refresher.wait_settled(120):
                    raise RuntimeError("the refresh did not finish within 120 s")
                elapsed = time.perf_counter() - started
                snapshot = refresher.current()
                got = (len(snapshot.get("notebooks")), len(snapshot.get("pods")))
                if got != (REFRESH_OBJECTS, REFRESH_OBJECTS):
                    raise RuntimeError(f"the snapshot holds {got} notebooks/pods, not {REFRESH_OBJECTS} each")
                if run:  # the first run also pays for importing kubernetes and the first connections
                    samples.append(elapsed)
            gc.collect()
            after = rss_mib()
            kubectl = [str(paths.KUBECTL), "--kubeconfig", kubeconfig, "--context", "kf-admin", "get",
                       "notebooks,pods", "-n", namespace, "-o", "json"]
            kubectl_samples = []
            for _ in range(REFRESH_RUNS):
                started = time.perf_counter()
                subprocess.run(kubectl, check=True, stdout=subprocess.DEVNULL)
                kubectl_samples.append(time.perf_counter() - started)
        finally:
            refresher.stop()
        summary = summarise(samples)
        print_(f"  kf refresh (discovery, every source listed, snapshot swapped)  {summary.ms()}")
        print_(f"  kubectl get notebooks,pods -o json (same objects, for scale)   {summarise(kubectl_samples).ms()}")
        print_(f"  RSS of the process holding the snapshot: {after:.0f} MiB "
               f"(+{after - before:.0f} MiB for the refresher, its clients and {snapshot.count()} items)")
    finally:
        request_json(admin, "DELETE", f"/api/v1/namespaces/{namespace}")


def main() -> None:
    report_latency()
    report_refresh()


if __name__ == "__main__":
    if "--latency-only" in sys.argv:
        report_latency()
    else:
        main()
