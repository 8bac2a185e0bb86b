# bash completion for kf (generated from the command registry by `make completions`; do not edit)
# Source it, or install it as /usr/share/bash-completion/completions/kf.

_kf_commands='admin command create delete exit help logs notebook open projects refresh remove run serve shell status tensorboard train use whoami'
_kf_subcommands_admin='manifests install uninstall'
_kf_subcommands_command='list describe add replace upgrade trust untrust remove'
_kf_subcommands_notebook='ls create start stop describe delete'
_kf_subcommands_serve='create ls stop start describe delete'
_kf_subcommands_status='list health info'
_kf_subcommands_tensorboard='create ls delete'
_kf_subcommands_train='create ls runtimes describe logs delete'
_kf_value_options='-o --output -n --namespace --context --kubeconfig --dispatch -c'

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
