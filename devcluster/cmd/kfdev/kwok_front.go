package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"

	"sigs.k8s.io/kwok/pkg/apis/internalversion"
	"sigs.k8s.io/kwok/pkg/client/clientset/versioned"
	"sigs.k8s.io/kwok/pkg/kwok/server"
)

// The kubelet address the node advertises is served by this front, not by KWOK itself: exec is answered
// here so that a command's exit code comes back as the kubelet's structured status (reason
// NonZeroExitCode, cause ExitCode), and everything else (logs, attach, port-forward, metrics) is
// passed on to KWOK's own server on a second, internal address.
//
// Why: KWOK's executor returns os/exec's error wrapped in its own message, which the streaming server
// cannot recognise as an exit, so every non-zero exit became an InternalError ending in "exit status N"
// and kubectl exited 1. A real kubelet's runtime returns an exit error, and kubectl exits with the code.

const execIdleTimeout = 4 * time.Hour

// exitCode is an exit the streaming server recognises (k8s.io/utils/exec's ExitError interface).
type exitCode struct {
	err  error
	code int
}

func (e exitCode) Error() string   { return e.err.Error() }
func (e exitCode) String() string  { return e.err.Error() }
func (e exitCode) Exited() bool    { return true }
func (e exitCode) ExitStatus() int { return e.code }

// exitStatusExecutor runs commands with KWOK's own executor and reports how they ended as a runtime does.
type exitStatusExecutor struct{ kwok *server.Server }

func (x exitStatusExecutor) ExecInContainer(ctx context.Context, name, uid, container string, cmd []string,
	in io.Reader, out, errOut io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize,
	timeout time.Duration) error {
	if in != nil && !tty && len(cmd) > 0 {
		return x.execWithStdinEOF(ctx, name, uid, container, cmd, in, out, errOut, timeout)
	}
	if tty && len(cmd) > 0 {
		// KWOK starts the command on a pty that is not its controlling terminal, so Ctrl-C and Ctrl-Z
		// (signals the terminal sends its foreground process group) would reach nothing, and shells
		// have no job control. A container runtime makes the pty the session's terminal; so does this.
		cmd = append([]string{"setsid", "--ctty", "--wait"}, cmd...)
	}
	return asExitCode(x.kwok.ExecInContainer(ctx, name, uid, container, cmd, in, out, errOut, tty, resize, timeout))
}

// execWithStdinEOF runs cmd with its stdin read from a FIFO that is closed when the client's stdin ends.
// KWOK copies stdin into the process's pipe but never closes it, so `kubectl exec -i pod -- cat < file`
// would never see its end of file; a kubelet closes it.
func (x exitStatusExecutor) execWithStdinEOF(ctx context.Context, name, uid, container string, cmd []string,
	in io.Reader, out, errOut io.WriteCloser, timeout time.Duration) error {
	dir, err := os.MkdirTemp("", "kfdev-stdin-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	fifo := filepath.Join(dir, "stdin")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		return err
	}
	go func() {
		writer, err := os.OpenFile(fifo, os.O_WRONLY, 0) // waits for the command to open it
		if err != nil {
			return
		}
		_, _ = io.Copy(writer, in)
		_ = writer.Close()
	}()
	wrapped := append([]string{"sh", "-c", `exec "$@" < "$0"`, fifo}, cmd...)
	err = x.kwok.ExecInContainer(ctx, name, uid, container, wrapped, nil, out, errOut, false, nil, timeout)
	// If the command never opened the FIFO, let the writer's open return.
	if unblock, openErr := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0); openErr == nil {
		_ = unblock.Close()
	}
	return asExitCode(err)
}

// asExitCode maps how a local process ended to what a container runtime reports: its exit code, 128+N
// when signal N killed it, 127 for a command that does not exist and 126 for one that may not run
// (as a shell reports them). Other failures stay errors (the server sends them as InternalError).
func asExitCode(err error) error {
	if err == nil {
		return nil
	}
	var exited *exec.ExitError
	if errors.As(err, &exited) {
		if status, ok := exited.Sys().(syscall.WaitStatus); ok && status.Signaled() {
			return exitCode{err, 128 + int(status.Signal())}
		}
		return exitCode{err, exited.ExitCode()}
	}
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
		return exitCode{err, 127}
	}
	if errors.Is(err, fs.ErrPermission) {
		return exitCode{err, 126}
	}
	return err
}

// startKubeletFront serves `public` (TLS, as a kubelet does): /exec/ here, the rest proxied to KWOK
// at `internal` (plain HTTP, which KWOK's server also accepts on its port).
func startKubeletFront(ctx context.Context, public, internal, kubeconfig string,
	clusterExecs []*internalversion.ClusterExec) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return fmt.Errorf("kubelet front: %w", err)
	}
	typed, err := versioned.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("kubelet front: %w", err)
	}
	// A KWOK server of our own, used only as the executor: it watches the per-pod Exec objects as KWOK does.
	kwok, err := server.NewServer(server.Config{TypedKwokClient: typed, EnableCRDs: []string{"Exec"},
		ClusterExecs: clusterExecs})
	if err != nil {
		return fmt.Errorf("kubelet front: %w", err)
	}
	if err := kwok.InstallCRD(ctx); err != nil {
		return fmt.Errorf("kubelet front: %w", err)
	}
	target, err := url.Parse("http://" + internal)
	if err != nil {
		return fmt.Errorf("kubelet front: %w", err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.FlushInterval = -1 // followed logs stream as they are written

	executor := exitStatusExecutor{kwok: kwok}
	mux := http.NewServeMux()
	mux.HandleFunc("/exec/", func(w http.ResponseWriter, r *http.Request) { serveExec(w, r, executor) })
	mux.Handle("/", proxy)

	listener, err := net.Listen("tcp", public)
	if err != nil {
		return fmt.Errorf("kubelet front: %w", err)
	}
	front := httptest.NewUnstartedServer(mux) // a self-signed certificate, as KWOK serves without one
	_ = front.Listener.Close()
	front.Listener = listener
	front.Config.BaseContext = func(net.Listener) context.Context { return ctx }
	front.StartTLS()
	go func() {
		<-ctx.Done()
		front.Close()
	}()
	return nil
}

// serveExec answers /exec/{namespace}/{pod}[/{uid}]/{container}?command=...
func serveExec(w http.ResponseWriter, r *http.Request, executor exitStatusExecutor) {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/exec/"), "/")
	var namespace, pod, uid, container string
	switch len(parts) {
	case 3:
		namespace, pod, container = parts[0], parts[1], parts[2]
	case 4:
		namespace, pod, uid, container = parts[0], parts[1], parts[2], parts[3]
	default:
		http.Error(w, "expected /exec/{namespace}/{pod}[/{uid}]/{container}", http.StatusNotFound)
		return
	}
	options, err := remotecommand.NewOptions(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	// KWOK's executor takes "pod/namespace".
	remotecommand.ServeExec(w, r, executor, pod+"/"+namespace, uid, container, r.URL.Query()["command"], options,
		execIdleTimeout, remotecommand.DefaultStreamCreationTimeout, remotecommand.SupportedStreamingProtocols)
}
