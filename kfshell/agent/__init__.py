"""The warm per-user agent: one process per user that `kf -c`, `kf CMD` and `kf __complete` hand their work to.

`client` is what every `kf` start imports (socket, os, sys and struct only); `server` is the agent itself,
which runs the very same `kfshell.cli.main` in a process whose modules, connections and completion snapshots
are already warm. Kept import-free: importing `kfshell.agent.client` must cost nothing more.
"""
