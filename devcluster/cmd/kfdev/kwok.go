package main

import (
	"context"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"sigs.k8s.io/kwok/pkg/apis/internalversion"
	"sigs.k8s.io/kwok/pkg/config"
	"sigs.k8s.io/kwok/pkg/kwok/cmd"
	"sigs.k8s.io/kwok/pkg/log"
	"sigs.k8s.io/kwok/pkg/utils/signals"
)

// runKwok starts KWOK the way its own main does: global flags for logging
// and --config are parsed first, the rest go to the cobra command.
func runKwok(args []string) int {
	// Kubernetes packages linked into this binary register a non-bool --version on the global
	// flag set, which cobra would merge into KWOK's command; KWOK must start from a clean one.
	pflag.CommandLine = pflag.NewFlagSet("kwok", pflag.ExitOnError)
	flags := pflag.NewFlagSet("global", pflag.ContinueOnError)
	flags.ParseErrorsAllowlist.UnknownFlags = true
	flags.Usage = func() {}

	ctx := signals.SetupSignalContext()
	ctx, logger := log.InitFlags(ctx, flags)
	ctx, err := config.InitFlags(ctx, flags)
	if err != nil {
		_, _ = os.Stderr.WriteString(flags.FlagUsages())
		logger.Error("init config flags", "err", err)
		return 1
	}
	if err := frontKubelet(ctx, args); err != nil {
		logger.Error("kubelet front", "err", err)
		return 1
	}
	command := cmd.NewCommand(ctx)
	command.PersistentFlags().AddFlagSet(flags)
	command.SetArgs(args)
	if err := command.ExecuteContext(ctx); err != nil {
		logger.Error("kwok exited", "err", err)
		return 1
	}
	return 0
}

// internalPortOffset: KWOK's own server listens this far above the advertised kubelet port, behind the
// front that serves exec (see kwok_front.go).
const internalPortOffset = 1000

// frontKubelet moves KWOK's server to an internal port and serves the advertised kubelet address with
// the front. It also turns on KWOK's Logs objects (pod-workdirs gives each pod its own log file) and
// PortForward objects (a test forwards a pod's port to a local server); `kfdev kwok-crd-exec` prints
// their CRDs with the Exec one.
func frontKubelet(ctx context.Context, args []string) error {
	conf := config.GetKwokConfiguration(ctx)
	public := conf.Options.ServerAddress
	if public == "" {
		return nil // no kubelet API at all
	}
	host, port, err := net.SplitHostPort(public)
	if err != nil {
		return err
	}
	number, err := strconv.Atoi(port)
	if err != nil {
		return err
	}
	internal := net.JoinHostPort(host, strconv.Itoa(number+internalPortOffset))
	conf.Options.ServerAddress = internal
	for _, kind := range []string{"Logs", "PortForward"} {
		if !slices.Contains(conf.Options.EnableCRDs, kind) {
			conf.Options.EnableCRDs = append(conf.Options.EnableCRDs, kind)
		}
	}
	kubeconfig := ""
	for i, arg := range args {
		if value, ok := strings.CutPrefix(arg, "--kubeconfig="); ok {
			kubeconfig = value
		} else if arg == "--kubeconfig" && i+1 < len(args) {
			kubeconfig = args[i+1]
		}
	}
	clusterExecs := config.FilterWithTypeFromContext[*internalversion.ClusterExec](ctx)
	return startKubeletFront(ctx, public, internal, kubeconfig, clusterExecs)
}
