// Command kfdev is the dev cluster's multi-call binary: one Kubernetes
// control-plane component (or KWOK) per process, chosen by the first
// argument or by the name the binary was invoked under (a symlink).
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// components maps a component name to its entry point; each returns an exit code.
var components = map[string]func(args []string) int{
	"etcd":                    runEtcd,
	"kube-apiserver":          runAPIServer,
	"kube-controller-manager": runControllerManager,
	"kube-scheduler":          runScheduler,
	"kwok":                    runKwok,
	"kwok-crd-exec":           runKwokCRD,
	"pod-workdirs":            runPodWorkdirs,
}

func main() {
	name := filepath.Base(os.Args[0])
	args := os.Args[1:]
	if _, ok := components[name]; !ok {
		if len(args) == 0 {
			usage()
			os.Exit(2)
		}
		name, args = args[0], args[1:]
	}
	run, ok := components[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "kfdev: unknown component %q\n", name)
		usage()
		os.Exit(2)
	}
	// Cobra-based commands read os.Args; make them see their own arguments.
	os.Args = append([]string{name}, args...)
	os.Exit(run(args))
}

func usage() {
	names := make([]string, 0, len(components))
	for n := range components {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(os.Stderr, "usage: kfdev COMPONENT [flags]\ncomponents: %v\n", names)
}
