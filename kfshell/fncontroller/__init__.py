"""The function controller: reconciles Kubeless Functions (kubeless.io/v1beta1) into a ConfigMap, a Deployment
and a Service each, the way Kubeless's own controller did, on any Kubernetes.

- `render`: pure logic (decoding the source, the checksum, the three objects, the merges of spec.deployment and
  spec.service, the status a Deployment gives), no I/O;
- `informer`: list + watch of one collection with kfshell.rest (resourceVersion, re-list on 410, backoff);
- `controller`: the work queue and the reconcile (server-side apply, status, events, conflicts);
- `deploy.yaml`: its service account, least-privilege RBAC and Deployment for kf-system.

Run it as `python -m kfshell.fncontroller [--kubeconfig PATH] [--image IMAGE] [--namespace NS]... [--selector SEL]
[--health-bind [HOST]:PORT]`: one replica (no leader election); it needs no finalizer (see controller).
"""
