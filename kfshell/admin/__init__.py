"""`kf admin`: what a cluster administrator installs so kf's functions run on a cluster.

- `crd-functions.yaml`: the Function CRD (kubeless.io/v1beta1), structural, with the status subresource;
- `builtins.py`: kf's built-in function modules (functions/) as Function objects;
- `rbac.py`: the functions' own service account (TokenReview, impersonation) and the callers' RBAC;
- `install.py`: every object in install order (with the function controller from kfshell/fncontroller/deploy.yaml),
  and applying, diffing and removing them.

Nothing here is imported on kf's start-up path: only `kf admin` and the dev cluster's `functions up` use it.
"""
