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

var execResource = schema.GroupVersionResource{Group: "kwok.x-k8s.io", Version: "v1alpha1", Resource: "execs"}

// runKwokCRD prints KWOK's Exec CRD, which the launcher applies before KWOK starts with --enable-crds=Exec.
func runKwokCRD(args []string) int {
	_, err := os.Stdout.Write(kwokcrd.Exec)
	if err != nil {
		return 1
	}
	return 0
}

// runPodWorkdirs gives every pod its own working directory for exec: it watches pods and, for each,
// creates the directory ROOT/<namespace>/<pod> and a KWOK Exec object (owned by the pod, so it is
// garbage-collected with it) that runs the pod's commands there. KWOK alone has one directory for all.
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

	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	factory := informers.NewSharedInformerFactory(clients, 10*time.Minute)
	pods := factory.Core().V1().Pods().Informer()
	_, err = pods.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj interface{}) {
			if pod, ok := obj.(*corev1.Pod); ok {
				ensureWorkdir(ctx, execs, *root, pod)
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

func ensureWorkdir(ctx context.Context, execs dynamic.NamespaceableResourceInterface, root string, pod *corev1.Pod) {
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
}
