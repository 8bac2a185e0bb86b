package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	kwokcrd "sigs.k8s.io/kwok/kustomize/crd"
)

var (
	execResource = schema.GroupVersionResource{Group: "kwok.x-k8s.io", Version: "v1alpha1", Resource: "execs"}
	logsResource = schema.GroupVersionResource{Group: "kwok.x-k8s.io", Version: "v1alpha1", Resource: "logs"}
)

// PodLog and PreviousLog are each pod's log files in its directory (CRI log format), served by KWOK
// through the pod's Logs object: tests append lines to them as the pod's process would.
const (
	PodLog      = "output.log"
	PreviousLog = "previous.log"
)

// runKwokCRD prints KWOK's Exec, Logs and PortForward CRDs, which the launcher applies before KWOK starts
// watching those objects (Exec, Logs: per-pod directories and logs; PortForward: tests forward a pod's port).
func runKwokCRD(args []string) int {
	sep := []byte("\n---\n")
	for _, crd := range [][]byte{kwokcrd.Exec, sep, kwokcrd.Logs, sep, kwokcrd.PortForward} {
		if _, err := os.Stdout.Write(crd); err != nil {
			return 1
		}
	}
	return 0
}

// runPodWorkdirs gives every pod its own working directory for exec and its own log: it watches pods and,
// for each, creates the directory ROOT/<namespace>/<pod>, a KWOK Exec object that runs the pod's commands
// there and a Logs object serving output.log (and previous.log for --previous) from it, both owned by the
// pod so they are garbage-collected with it. KWOK alone has one directory and one log for all.
func runPodWorkdirs(args []string) int {
	fs := flag.NewFlagSet("pod-workdirs", flag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig of a user that may create kwok.x-k8s.io execs")
	root := fs.String("root", "", "directory under which each pod gets <namespace>/<name>")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *kubeconfig == "" || *root == "" {
		fmt.Fprintln(os.Stderr, "pod-workdirs: --kubeconfig and --root are required")
		return 2
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pod-workdirs:", err)
		return 1
	}
	clients := kubernetes.NewForConfigOrDie(cfg)
	execs := dynamic.NewForConfigOrDie(cfg).Resource(execResource)
	logs := dynamic.NewForConfigOrDie(cfg).Resource(logsResource)

	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	factory := informers.NewSharedInformerFactory(clients, 10*time.Minute)
	pods := factory.Core().V1().Pods().Informer()
	_, err = pods.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj interface{}) {
			if pod, ok := obj.(*corev1.Pod); ok {
				ensureWorkdir(ctx, execs, logs, *root, pod)
			}
		},
		DeleteFunc: func(obj interface{}) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			if pod, ok := obj.(*corev1.Pod); ok {
				_ = os.RemoveAll(filepath.Join(*root, pod.Namespace, pod.Name))
			}
		},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "pod-workdirs:", err)
		return 1
	}
	factory.Start(ctx.Done())
	<-ctx.Done()
	return 0
}

func ensureWorkdir(ctx context.Context, execs, logs dynamic.NamespaceableResourceInterface, root string,
	pod *corev1.Pod) {
	dir := filepath.Join(root, pod.Namespace, pod.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "pod-workdirs: mkdir:", err)
		return
	}
	exec := &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "kwok.x-k8s.io/v1alpha1",
		"kind":       "Exec",
		"metadata": map[string]interface{}{
			"name":      pod.Name,
			"namespace": pod.Namespace,
			"ownerReferences": []interface{}{map[string]interface{}{
				"apiVersion": "v1", "kind": "Pod", "name": pod.Name, "uid": string(pod.UID),
			}},
		},
		"spec": map[string]interface{}{
			"execs": []interface{}{map[string]interface{}{
				"local": map[string]interface{}{
					"workDir": dir,
					"envs": []interface{}{
						map[string]interface{}{"name": "POD_NAME", "value": pod.Name},
						map[string]interface{}{"name": "POD_NAMESPACE", "value": pod.Namespace},
					},
				},
			}},
		},
	}}
	_, err := execs.Namespace(pod.Namespace).Create(ctx, exec, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) && !apierrors.IsNotFound(err) {
		fmt.Fprintln(os.Stderr, "pod-workdirs: create exec:", err)
	}
	ensureLogs(ctx, logs, dir, pod)
}

// createWith makes path holding text unless it exists, in one step: whoever sees the file sees the text, and a
// line appended to it meanwhile (a test writing the pod's output) is never overwritten.
func createWith(path, text string) {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".new-*")
	if err != nil {
		return
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(text)
	if err == nil {
		err = tmp.Chmod(0o644) // as the log KWOK and the pod stand-in read and append to
	}
	if tmp.Close() == nil && err == nil {
		_ = os.Link(tmp.Name(), path) // fails when path exists: then it is left as it is
	}
}

func ensureLogs(ctx context.Context, logs dynamic.NamespaceableResourceInterface, dir string, pod *corev1.Pod) {
	output, previous := filepath.Join(dir, PodLog), filepath.Join(dir, PreviousLog)
	if _, err := os.Stat(output); os.IsNotExist(err) {
		first := fmt.Sprintf("%s stdout F kf dev cluster: pod %s/%s is played by KWOK\n",
			time.Now().UTC().Format(time.RFC3339Nano), pod.Namespace, pod.Name)
		_ = os.WriteFile(previous, nil, 0o644)
		createWith(output, first)
	}
	object := &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "kwok.x-k8s.io/v1alpha1",
		"kind":       "Logs",
		"metadata": map[string]interface{}{
			"name":      pod.Name,
			"namespace": pod.Namespace,
			"ownerReferences": []interface{}{map[string]interface{}{
				"apiVersion": "v1", "kind": "Pod", "name": pod.Name, "uid": string(pod.UID),
			}},
		},
		"spec": map[string]interface{}{
			"logs": []interface{}{map[string]interface{}{
				"logsFile": output, "previousLogsFile": previous, "follow": true,
			}},
		},
	}}
	_, err := logs.Namespace(pod.Namespace).Create(ctx, object, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) && !apierrors.IsNotFound(err) {
		fmt.Fprintln(os.Stderr, "pod-workdirs: create logs:", err)
	}
}
