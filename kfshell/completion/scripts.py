"""Generating completions/ (bash, zsh, fish) from the command registry: `python -m kfshell.completion.scripts`
(`make completions`); `--check` exits 1 when the committed scripts differ from what the registry says.

The scripts know the built-in command words and subcommands (with their help, for zsh and fish), so the
first words complete without starting Python. Everything after them (arguments, flags, option values, a
user's own commands) comes from `kf __complete`, which answers from an on-disk cache.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kfshell.completion.analyze import OUTER_OPTIONS

PROGRAMS = ("kf", "kubectl-kf")
FILES = {"bash": "kf.bash", "zsh": "_kf", "fish": "kf.fish"}
HEADER = "generated from the command registry by `make completions`; do not edit"


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text and text.strip() else ""


def _tree(registry: Any) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(command, help, [(subcommand, help), ...]) for every command, sorted by name."""
    tree = []
    for spec in sorted(registry.commands(), key=lambda s: s.name):
        subs = [(sub.name, _first_line(sub.help)) for sub in spec.subcommands]
        tree.append((spec.name, _first_line(spec.help), subs))
    return tree


def _value_options() -> list[str]:
    return [flag for option in OUTER_OPTIONS if option.takes_value for flag in option.flags]


def _var(name: str) -> str:
    return name.replace("-", "_")


def _sq(text: str) -> str:
    """Single-quoted for bash and zsh (a quote inside closes, escapes and reopens)."""
    return "'" + text.replace("'", "'\\''") + "'"


def _fish_sq(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def render_bash(registry: Any) -> str:
    tree = _tree(registry)
    lines = [
        f"# bash completion for kf ({HEADER})",
        "# Source it, or install it as /usr/share/bash-completion/completions/kf.",
        "",
        f"_kf_commands={_sq(' '.join(name for name, _, _ in tree))}",
    ]
    for name, _, subs in tree:
        if subs:
            lines.append(f"_kf_subcommands_{_var(name)}={_sq(' '.join(sub for sub, _ in subs))}")
    lines.append(f"_kf_value_options={_sq(' '.join(_value_options()))}")
    lines.append(_BASH_BODY)
    return "\n".join(lines)


_BASH_BODY = r"""
_kf() {
    local cur words cword
    if declare -F _get_comp_words_by_ref >/dev/null; then
        _get_comp_words_by_ref -n =: cur words cword
    else
        # Without bash-completion: split the line up to the cursor on blanks (keeps --opt=value whole).
        read -r -a words <<< "${COMP_LINE:0:COMP_POINT}"
        [[ ${COMP_LINE:COMP_POINT-1:1} == [[:blank:]] ]] && words+=("")
        cword=$(( ${#words[@]} - 1 ))
        cur=${words[cword]}
    fi
    # Which command word the cursor is at: skip kf's options and their values.
    local i=1 word command="" count=0
    while (( i < cword )); do
        word=${words[i]}
        case " $_kf_value_options " in *" $word "*) (( i += 2 )); continue ;; esac
        if [[ $word != -* ]]; then
            (( count == 0 )) && command=$word
            (( count += 1 ))
        fi
        (( i += 1 ))
    done
    local candidates=""
    if [[ $cur != -* ]]; then
        if (( count == 0 )); then
            candidates=$_kf_commands
        elif (( count == 1 )); then
            local var="_kf_subcommands_${command//-/_}"
            candidates=${!var-}
        fi
    fi
    COMPREPLY=()
    if [[ -n $candidates ]]; then
        COMPREPLY=( $(compgen -W "$candidates" -- "$cur") )
        (( ${#COMPREPLY[@]} )) && return 0
    fi
    local out line prefix
    out=$("${words[0]}" __complete -- "${words[@]:1:cword}" 2>/dev/null) || return 0
    if [[ $out == ":files" ]]; then
        compopt -o filenames 2>/dev/null
        COMPREPLY=( $(compgen -f -- "$cur") )
        return 0
    fi
    # bash replaces only the part of the word after its last '=' or ':'; offer just that part.
    prefix=${cur%"${cur##*[=:]}"}
    while IFS= read -r line; do
        [[ -z $line ]] && continue
        line=${line%%$'\t'*}
        COMPREPLY+=( "${line#"$prefix"}" )
    done <<< "$out"
    return 0
}
complete -F _kf kf kubectl-kf
"""


def render_zsh(registry: Any) -> str:
    tree = _tree(registry)
    lines = [
        "#compdef kf kubectl-kf",
        f"# zsh completion for kf ({HEADER})",
        "# Put it in a directory of $fpath (before compinit), or source it after compinit.",
        "",
        "_kf_commands=(",
        *[f"  {_sq(_zsh_entry(name, help_))}" for name, help_, _ in tree],
        ")",
    ]
    for name, _, subs in tree:
        if subs:
            lines.append(f"_kf_subcommands_{_var(name)}=(")
            lines.extend(f"  {_sq(_zsh_entry(sub, help_))}" for sub, help_ in subs)
            lines.append(")")
    lines.append(f"_kf_value_options=({' '.join(_value_options())})")
    lines.append(_ZSH_BODY)
    return "\n".join(lines)


def _zsh_entry(name: str, help_: str) -> str:
    """A `_describe` entry: `name:help`, with colons in the name escaped."""
    escaped = name.replace(":", "\\:")
    return f"{escaped}:{help_}" if help_ else escaped


_ZSH_BODY = r"""
_kf() {
  local -i i=2 count=0
  local command="" word cur=${words[CURRENT]}
  while (( i < CURRENT )); do
    word=${words[i]}
    if (( ${_kf_value_options[(Ie)$word]} )); then
      (( i += 2 ))
      continue
    fi
    if [[ $word != -* ]]; then
      (( count == 0 )) && command=$word
      (( count += 1 ))
    fi
    (( i += 1 ))
  done
  if [[ $cur != -* ]]; then
    if (( count == 0 )); then
      _describe -t commands 'kf command' _kf_commands && return 0
    elif (( count == 1 )); then
      local var="_kf_subcommands_${command//-/_}"
      if (( ${(P)+var} )); then
        _describe -t subcommands "$command subcommand" "$var" && return 0
      fi
    fi
  fi
  local -a lines entries
  local line value
  lines=("${(@f)$(${words[1]} __complete -- "${(@)words[2,CURRENT]}" 2>/dev/null)}")
  if [[ ${lines[1]} == ":files" ]]; then
    _files
    return
  fi
  for line in $lines; do
    [[ -z $line ]] && continue
    value=${line%%$'\t'*}
    if [[ $line == *$'\t'* ]]; then
      entries+=("${value//:/\\:}:${line#*$'\t'}")
    else
      entries+=("${value//:/\\:}")
    fi
  done
  (( ${#entries} )) && _describe -t values 'kf' entries
}

if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
  _kf "$@"
else
  compdef _kf kf kubectl-kf
fi
"""


def render_fish(registry: Any) -> str:
    tree = _tree(registry)
    value_options = " ".join(_value_options())
    with_subs = " ".join(name for name, _, subs in tree if subs)
    lines = [
        f"# fish completion for kf ({HEADER})",
        "# Install it as ~/.config/fish/completions/kf.fish.",
        _FISH_BODY.replace("@VALUE_OPTIONS@", value_options).replace("@WITH_SUBCOMMANDS@", with_subs).strip("\n"),
        "",
    ]
    for program in PROGRAMS:
        lines.append(f"complete -c {program} -f")
        lines.append(f"complete -c {program} -n 'not __kf_static' -a '(__kf_dynamic)'")
        for name, help_, subs in tree:
            lines.append(f"complete -c {program} -n '__kf_static_at_command' -a {name} -d {_fish_sq(help_)}")
            for sub, sub_help in subs:
                lines.append(f"complete -c {program} -n '__kf_static_at_subcommand {name}' -a {sub} "
                             f"-d {_fish_sq(sub_help)}")
    return "\n".join(lines) + "\n"


_FISH_BODY = r"""
function __kf_words --description 'the command words before the cursor, without kf options'
    set -l tokens (commandline -opc)
    set -e tokens[1]
    set -l skip 0
    for token in $tokens
        if test $skip -eq 1
            set skip 0
            continue
        end
        if contains -- $token @VALUE_OPTIONS@
            set skip 1
            continue
        end
        string match -q -- '-*' $token; and continue
        echo $token
    end
end

function __kf_static --description 'whether the cursor is at a command word or a built-in subcommand'
    string match -q -- '-*' (commandline -ct); and return 1
    set -l words (__kf_words)
    test (count $words) -eq 0; and return 0
    test (count $words) -eq 1; and contains -- $words[1] @WITH_SUBCOMMANDS@
end

function __kf_static_at_command
    __kf_static; and test (count (__kf_words)) -eq 0
end

function __kf_static_at_subcommand
    set -l words (__kf_words)
    __kf_static; and test (count $words) -eq 1; and test "$words[1]" = $argv[1]
end

function __kf_dynamic --description 'ask kf itself: names from its cache, flags, option values'
    set -l tokens (commandline -opc) (commandline -ct)
    set -l program $tokens[1]
    set -e tokens[1]
    set -l out ($program __complete -- $tokens 2>/dev/null)
    if test "$out" = ":files"
        __fish_complete_path (commandline -ct)
        return
    end
    printf '%s\n' $out
end
"""


def generate(registry: Any) -> dict[str, str]:
    """File name in completions/ → its text."""
    return {FILES["bash"]: render_bash(registry), FILES["zsh"]: render_zsh(registry),
            FILES["fish"]: render_fish(registry)}


def stale(directory: Path, scripts: Mapping[str, str]) -> list[str]:
    """The scripts in `directory` that differ from `scripts` (or are missing)."""
    found = []
    for name, text in scripts.items():
        path = directory / name
        try:
            current = path.read_text(encoding="utf-8")
        except OSError:
            current = None
        if current != text:
            found.append(name)
    return found


def builtin_registry() -> Any:
    """The registry the scripts describe: client commands and built-in functions (no user's own)."""
    from kfshell.registry import Registry

    return Registry.load(user_dir=None)


def default_directory() -> Path:
    return Path(__file__).resolve().parents[2] / "completions"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kfshell.completion.scripts", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the scripts in the directory are stale")
    parser.add_argument("directory", nargs="?", type=Path, default=default_directory())
    args = parser.parse_args(argv)
    scripts = generate(builtin_registry())
    if args.check:
        outdated = stale(args.directory, scripts)
        if outdated:
            print(f"kf: completion scripts are stale: {', '.join(outdated)} (run `make completions`)",
                  file=sys.stderr)
            return 1
        return 0
    args.directory.mkdir(parents=True, exist_ok=True)
    for name, text in scripts.items():
        (args.directory / name).write_text(text, encoding="utf-8")
    print(f"wrote {', '.join(str(args.directory / name) for name in scripts)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
