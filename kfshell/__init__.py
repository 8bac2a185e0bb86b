"""kf: the data scientist's shell for Kubeflow.

Kept import-free on purpose: `kf` must reach its prompt fast, so nothing heavy is imported here.
"""

__version__ = "0.1.0"
