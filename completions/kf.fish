# fish completion for kf (generated from the command registry by `make completions`; do not edit)
# Install it as ~/.config/fish/completions/kf.fish.
function __kf_words --description 'the command words before the cursor, without kf options'
    set -l tokens (commandline -opc)
    set -e tokens[1]
    set -l skip 0
    for token in $tokens
        if test $skip -eq 1
            set skip 0
            continue
        end
        if contains -- $token -o --output -n --namespace --context --kubeconfig --dispatch -c
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
    test (count $words) -eq 1; and contains -- $words[1] admin command notebook serve status tensorboard train
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

complete -c kf -f
complete -c kf -n 'not __kf_static' -a '(__kf_dynamic)'
complete -c kf -n '__kf_static_at_command' -a admin -d 'install kf\'s functions on a cluster, or remove them (for cluster administrators)'
complete -c kf -n '__kf_static_at_subcommand admin' -a manifests -d 'print every object install applies, as YAML (for GitOps)'
complete -c kf -n '__kf_static_at_subcommand admin' -a install -d 'install or upgrade: the Function CRD, the controller, RBAC, the built-ins'
complete -c kf -n '__kf_static_at_subcommand admin' -a uninstall -d 'remove what install made (what was there before stays)'
complete -c kf -n '__kf_static_at_command' -a command -d 'list, describe, add, upgrade and remove commands (functions)'
complete -c kf -n '__kf_static_at_subcommand command' -a list -d 'every command: scope, source, version, where it runs, whether you may run it'
complete -c kf -n '__kf_static_at_subcommand command' -a describe -d 'a command\'s spec, arguments, requirements and checksum'
complete -c kf -n '__kf_static_at_subcommand command' -a add -d 'add a function module as a command'
complete -c kf -n '__kf_static_at_subcommand command' -a replace -d 'replace a command you added: new source, spec and requirements'
complete -c kf -n '__kf_static_at_subcommand command' -a upgrade -d 'give a command you added a new source (keeps its --requires and deps)'
complete -c kf -n '__kf_static_at_subcommand command' -a trust -d 'let a namespace\'s Function run as you (pins its name and source\'s sha256)'
complete -c kf -n '__kf_static_at_subcommand command' -a untrust -d 'stop a Function running as you (kf-system\'s are trusted until this)'
complete -c kf -n '__kf_static_at_subcommand command' -a remove -d 'remove a command you added'
complete -c kf -n '__kf_static_at_command' -a create -d 'create a project (a Kubeflow Profile you own) and optionally apply a repository of manifests'
complete -c kf -n '__kf_static_at_command' -a delete -d 'delete a project (its Profile and namespace, with everything in it) and wait until it is gone'
complete -c kf -n '__kf_static_at_command' -a exit -d 'leave the shell (Ctrl-D does the same); in a script, stop it'
complete -c kf -n '__kf_static_at_command' -a help -d 'list the commands, or show how to use one'
complete -c kf -n '__kf_static_at_command' -a logs -d 'print (and follow) the logs of a notebook\'s, job\'s or component\'s pods'
complete -c kf -n '__kf_static_at_command' -a notebook -d 'notebook servers: ls, create, start, stop, describe, delete'
complete -c kf -n '__kf_static_at_subcommand notebook' -a ls -d 'notebooks with image, state (and why), CPU/memory/GPU, age and URL path'
complete -c kf -n '__kf_static_at_subcommand notebook' -a create -d 'a notebook server, with a workspace volume, as the Jupyter web app makes it'
complete -c kf -n '__kf_static_at_subcommand notebook' -a start -d 'start a stopped notebook'
complete -c kf -n '__kf_static_at_subcommand notebook' -a stop -d 'stop a notebook (its pod goes; the workspace stays)'
complete -c kf -n '__kf_static_at_subcommand notebook' -a describe -d 'a notebook\'s state and why, resources, volumes, pod, URL and conditions'
complete -c kf -n '__kf_static_at_subcommand notebook' -a delete -d 'delete a notebook (its workspace PVC stays)'
complete -c kf -n '__kf_static_at_command' -a open -d 'open a notebook, tensorboard or dashboard in the browser through a port-forward'
complete -c kf -n '__kf_static_at_command' -a projects -d 'the namespaces (projects) you may work in, and your role in each: owner, edit or view'
complete -c kf -n '__kf_static_at_command' -a refresh -d 'reload your commands, the cluster\'s, your privileges and the names completion offers'
complete -c kf -n '__kf_static_at_command' -a remove -d 'remove a component\'s Deployments, Services and ConfigMaps from the current namespace'
complete -c kf -n '__kf_static_at_command' -a run -d 'run a command in a notebook\'s, job\'s or component\'s pod and exit with its status'
complete -c kf -n '__kf_static_at_command' -a serve -d 'model servers: serve NAME FILE | serve NAME --model-format F --storage-uri URI; ls, stop, start, describe, delete'
complete -c kf -n '__kf_static_at_subcommand serve' -a create -d 'an InferenceService, checked by the server first; waits until it is Ready and prints its URL'
complete -c kf -n '__kf_static_at_subcommand serve' -a ls -d 'inference services: ready, URL, model state, age'
complete -c kf -n '__kf_static_at_subcommand serve' -a stop -d 'stop serving (the serving.kserve.io/stop annotation)'
complete -c kf -n '__kf_static_at_subcommand serve' -a start -d 'serve a stopped service again'
complete -c kf -n '__kf_static_at_subcommand serve' -a describe -d 'a service\'s URL, model, conditions and why it is not ready'
complete -c kf -n '__kf_static_at_subcommand serve' -a delete -d 'delete an inference service'
complete -c kf -n '__kf_static_at_command' -a shell -d 'open a shell (bash, else sh) in a notebook\'s, job\'s or component\'s pod'
complete -c kf -n '__kf_static_at_command' -a status -d 'Kubeflow components and your services: list, health, info'
complete -c kf -n '__kf_static_at_subcommand status' -a list -d 'components with ready/desired replicas, age and version; notebooks, jobs, services'
complete -c kf -n '__kf_static_at_subcommand status' -a health -d 'per component: pods ready, restarts, recent warnings; exits 1 when something is unhealthy'
complete -c kf -n '__kf_static_at_subcommand status' -a info -d 'a component\'s images, services, endpoints and URLs'
complete -c kf -n '__kf_static_at_command' -a tensorboard -d 'TensorBoard servers: tensorboard NAME --logspath pvc://PVC/PATH | tensorboard NAME FILE; ls, delete'
complete -c kf -n '__kf_static_at_subcommand tensorboard' -a create -d 'a Tensorboard reading logs from a PVC or an object store'
complete -c kf -n '__kf_static_at_subcommand tensorboard' -a ls -d 'tensorboards: logs path, ready, age, URL path'
complete -c kf -n '__kf_static_at_subcommand tensorboard' -a delete -d 'delete a tensorboard (the logs stay)'
complete -c kf -n '__kf_static_at_command' -a train -d 'training jobs: train NAME FILE | train NAME --runtime R --script S; ls, runtimes, describe, logs, delete'
complete -c kf -n '__kf_static_at_subcommand train' -a create -d 'a TrainJob (or the TFJob/PyTorchJob a file declares), checked by the server before it is made'
complete -c kf -n '__kf_static_at_subcommand train' -a ls -d 'jobs, newest first, finished ones too: state, nodes, duration, start time'
complete -c kf -n '__kf_static_at_subcommand train' -a runtimes -d 'the training runtimes you may use'
complete -c kf -n '__kf_static_at_subcommand train' -a describe -d 'a job\'s state and why, runtime, trainer, conditions and pods'
complete -c kf -n '__kf_static_at_subcommand train' -a logs -d 'a job\'s logs, every node\'s; -f follows them until the job ends (exit 0 Complete, 1 Failed)'
complete -c kf -n '__kf_static_at_subcommand train' -a delete -d 'delete a job and its pods'
complete -c kf -n '__kf_static_at_command' -a use -d 'switch to another namespace (project) or context; without arguments, show where you are'
complete -c kf -n '__kf_static_at_command' -a whoami -d 'your user and groups, context, cluster and namespace, and how many commands you may run here'
complete -c kubectl-kf -f
complete -c kubectl-kf -n 'not __kf_static' -a '(__kf_dynamic)'
complete -c kubectl-kf -n '__kf_static_at_command' -a admin -d 'install kf\'s functions on a cluster, or remove them (for cluster administrators)'
complete -c kubectl-kf -n '__kf_static_at_subcommand admin' -a manifests -d 'print every object install applies, as YAML (for GitOps)'
complete -c kubectl-kf -n '__kf_static_at_subcommand admin' -a install -d 'install or upgrade: the Function CRD, the controller, RBAC, the built-ins'
complete -c kubectl-kf -n '__kf_static_at_subcommand admin' -a uninstall -d 'remove what install made (what was there before stays)'
complete -c kubectl-kf -n '__kf_static_at_command' -a command -d 'list, describe, add, upgrade and remove commands (functions)'
complete -c kubectl-kf -n '__kf_static_at_subcommand command' -a list -d 'every command: scope, source, version, where it runs, whether you may run it'
complete -c kubectl-kf -n '__kf_static_at_subcommand command' -a describe -d 'a command\'s spec, arguments, requirements and checksum'
complete -c kubectl-kf -n '__kf_static_at_subcommand command' -a add -d 'add a function module as a command'
complete -c kubectl-kf -n '__kf_static_at_subcommand command' -a replace -d 'replace a command you added: new source, spec and requirements'
complete -c kubectl-kf -n '__kf_static_at_subcommand command' -a upgrade -d 'give a command you added a new source (keeps its --requires and deps)'
complete -c kubectl-kf -n '__kf_static_at_subcommand command' -a trust -d 'let a namespace\'s Function run as you (pins its name and source\'s sha256)'
complete -c kubectl-kf -n '__kf_static_at_subcommand command' -a untrust -d 'stop a Function running as you (kf-system\'s are trusted until this)'
complete -c kubectl-kf -n '__kf_static_at_subcommand command' -a remove -d 'remove a command you added'
complete -c kubectl-kf -n '__kf_static_at_command' -a create -d 'create a project (a Kubeflow Profile you own) and optionally apply a repository of manifests'
complete -c kubectl-kf -n '__kf_static_at_command' -a delete -d 'delete a project (its Profile and namespace, with everything in it) and wait until it is gone'
complete -c kubectl-kf -n '__kf_static_at_command' -a exit -d 'leave the shell (Ctrl-D does the same); in a script, stop it'
complete -c kubectl-kf -n '__kf_static_at_command' -a help -d 'list the commands, or show how to use one'
complete -c kubectl-kf -n '__kf_static_at_command' -a logs -d 'print (and follow) the logs of a notebook\'s, job\'s or component\'s pods'
complete -c kubectl-kf -n '__kf_static_at_command' -a notebook -d 'notebook servers: ls, create, start, stop, describe, delete'
complete -c kubectl-kf -n '__kf_static_at_subcommand notebook' -a ls -d 'notebooks with image, state (and why), CPU/memory/GPU, age and URL path'
complete -c kubectl-kf -n '__kf_static_at_subcommand notebook' -a create -d 'a notebook server, with a workspace volume, as the Jupyter web app makes it'
complete -c kubectl-kf -n '__kf_static_at_subcommand notebook' -a start -d 'start a stopped notebook'
complete -c kubectl-kf -n '__kf_static_at_subcommand notebook' -a stop -d 'stop a notebook (its pod goes; the workspace stays)'
complete -c kubectl-kf -n '__kf_static_at_subcommand notebook' -a describe -d 'a notebook\'s state and why, resources, volumes, pod, URL and conditions'
complete -c kubectl-kf -n '__kf_static_at_subcommand notebook' -a delete -d 'delete a notebook (its workspace PVC stays)'
complete -c kubectl-kf -n '__kf_static_at_command' -a open -d 'open a notebook, tensorboard or dashboard in the browser through a port-forward'
complete -c kubectl-kf -n '__kf_static_at_command' -a projects -d 'the namespaces (projects) you may work in, and your role in each: owner, edit or view'
complete -c kubectl-kf -n '__kf_static_at_command' -a refresh -d 'reload your commands, the cluster\'s, your privileges and the names completion offers'
complete -c kubectl-kf -n '__kf_static_at_command' -a remove -d 'remove a component\'s Deployments, Services and ConfigMaps from the current namespace'
complete -c kubectl-kf -n '__kf_static_at_command' -a run -d 'run a command in a notebook\'s, job\'s or component\'s pod and exit with its status'
complete -c kubectl-kf -n '__kf_static_at_command' -a serve -d 'model servers: serve NAME FILE | serve NAME --model-format F --storage-uri URI; ls, stop, start, describe, delete'
complete -c kubectl-kf -n '__kf_static_at_subcommand serve' -a create -d 'an InferenceService, checked by the server first; waits until it is Ready and prints its URL'
complete -c kubectl-kf -n '__kf_static_at_subcommand serve' -a ls -d 'inference services: ready, URL, model state, age'
complete -c kubectl-kf -n '__kf_static_at_subcommand serve' -a stop -d 'stop serving (the serving.kserve.io/stop annotation)'
complete -c kubectl-kf -n '__kf_static_at_subcommand serve' -a start -d 'serve a stopped service again'
complete -c kubectl-kf -n '__kf_static_at_subcommand serve' -a describe -d 'a service\'s URL, model, conditions and why it is not ready'
complete -c kubectl-kf -n '__kf_static_at_subcommand serve' -a delete -d 'delete an inference service'
complete -c kubectl-kf -n '__kf_static_at_command' -a shell -d 'open a shell (bash, else sh) in a notebook\'s, job\'s or component\'s pod'
complete -c kubectl-kf -n '__kf_static_at_command' -a status -d 'Kubeflow components and your services: list, health, info'
complete -c kubectl-kf -n '__kf_static_at_subcommand status' -a list -d 'components with ready/desired replicas, age and version; notebooks, jobs, services'
complete -c kubectl-kf -n '__kf_static_at_subcommand status' -a health -d 'per component: pods ready, restarts, recent warnings; exits 1 when something is unhealthy'
complete -c kubectl-kf -n '__kf_static_at_subcommand status' -a info -d 'a component\'s images, services, endpoints and URLs'
complete -c kubectl-kf -n '__kf_static_at_command' -a tensorboard -d 'TensorBoard servers: tensorboard NAME --logspath pvc://PVC/PATH | tensorboard NAME FILE; ls, delete'
complete -c kubectl-kf -n '__kf_static_at_subcommand tensorboard' -a create -d 'a Tensorboard reading logs from a PVC or an object store'
complete -c kubectl-kf -n '__kf_static_at_subcommand tensorboard' -a ls -d 'tensorboards: logs path, ready, age, URL path'
complete -c kubectl-kf -n '__kf_static_at_subcommand tensorboard' -a delete -d 'delete a tensorboard (the logs stay)'
complete -c kubectl-kf -n '__kf_static_at_command' -a train -d 'training jobs: train NAME FILE | train NAME --runtime R --script S; ls, runtimes, describe, logs, delete'
complete -c kubectl-kf -n '__kf_static_at_subcommand train' -a create -d 'a TrainJob (or the TFJob/PyTorchJob a file declares), checked by the server before it is made'
complete -c kubectl-kf -n '__kf_static_at_subcommand train' -a ls -d 'jobs, newest first, finished ones too: state, nodes, duration, start time'
complete -c kubectl-kf -n '__kf_static_at_subcommand train' -a runtimes -d 'the training runtimes you may use'
complete -c kubectl-kf -n '__kf_static_at_subcommand train' -a describe -d 'a job\'s state and why, runtime, trainer, conditions and pods'
complete -c kubectl-kf -n '__kf_static_at_subcommand train' -a logs -d 'a job\'s logs, every node\'s; -f follows them until the job ends (exit 0 Complete, 1 Failed)'
complete -c kubectl-kf -n '__kf_static_at_subcommand train' -a delete -d 'delete a job and its pods'
complete -c kubectl-kf -n '__kf_static_at_command' -a use -d 'switch to another namespace (project) or context; without arguments, show where you are'
complete -c kubectl-kf -n '__kf_static_at_command' -a whoami -d 'your user and groups, context, cluster and namespace, and how many commands you may run here'
