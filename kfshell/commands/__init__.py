"""Client-side commands: the shell's own commands, which run in the kf process, not as functions.

Each module declares `KF_COMMAND` (the same dict shape as a function module) and
`run(invocation, session) -> Result`. Module level imports stay light: the registry imports these
modules to read their specs on every start.
"""

CLIENT_COMMANDS = (
    "kfshell.commands.use",
    "kfshell.commands.help",
    "kfshell.commands.exit",
    "kfshell.commands.refresh",
    "kfshell.commands.command",
    "kfshell.commands.projects",
    "kfshell.commands.shell",
    "kfshell.commands.run",
    "kfshell.commands.logs",
    "kfshell.commands.open",
    "kfshell.commands.admin",
)
