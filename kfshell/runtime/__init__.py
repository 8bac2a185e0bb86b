"""The Kubeless-compatible HTTP runtime that serves one function.

It speaks the contract of Kubeless's Python runtime (the same environment variables, the same
`handler(event, context)` call, `/healthz`, Prometheus `/metrics`, 408 on timeout), so a kf function
runs unchanged under Kubeless, under this runtime in kf's image, and in the tests.

`python -m kfshell.runtime` serves the function named by MOD_NAME / FUNC_HANDLER; see `config.py`.
Nothing is imported here: the image's entry point and the client share this package.
"""
