"""The dev cluster: a real Kubernetes control plane and KWOK, run as local processes."""
