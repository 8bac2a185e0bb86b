// A stand-in for the Kubeflow notebook controller (kubeflow/notebooks v1.11.0), written here because
// the module proxy refuses the pseudo-version that names the real one. It does what the real one does
// with Istio off (USE_ISTIO unset), the culler off and no webhooks: for each Notebook a StatefulSet and
// a Service of the same name, owned by the Notebook, and the Notebook's status from them.
//
// StatefulSet <nb>: replicas 0 while the annotation kubeflow-resource-stopped exists (any value), else 1;
// selector statefulset=<nb>; the pod template is the Notebook's, with labels statefulset and
// notebook-name added to the Notebook's own; the first container gets NB_PREFIX=/notebook/<ns>/<nb>,
// workingDir /home/jovyan and port 8888 "notebook-port" when it has none; fsGroup 100 unless
// ADD_FSGROUP=false. Service <nb>: ClusterIP, port 80 "http-<nb>" to the first container port (8888).
// Status: readyReplicas from the StatefulSet; containerState and a new first condition (Running,
// Waiting or Terminated, with reason and message) from container <nb> of pod <nb>-0.
package main

import (
	"context"
	"flag"
	"os"
	"reflect"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

const (
	stopAnnotation = "kubeflow-resource-stopped"
	containerPort  = 8888
	servingPort    = 80
	fsGroup        = int64(100)
)

var notebookGVK = schema.GroupVersionKind{Group: "kubeflow.org", Version: "v1", Kind: "Notebook"}

// notebook is the part of a Notebook this controller reads; the rest stays in the unstructured object.
type notebook struct {
	Spec struct {
		Template struct {
			Spec corev1.PodSpec `json:"spec"`
		} `json:"template"`
	} `json:"spec"`
}

type reconciler struct {
	client.Client
	scheme *runtime.Scheme
}

func newNotebook() *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(notebookGVK)
	return u
}

func (r *reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	nb := newNotebook()
	if err := r.Get(ctx, req.NamespacedName, nb); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if nb.GetDeletionTimestamp() != nil {
		return reconcile.Result{}, nil
	}
	var typed notebook
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(nb.Object, &typed); err != nil {
		return reconcile.Result{}, reconcile.TerminalError(err)
	}
	podSpec := typed.Spec.Template.Spec
	if len(podSpec.Containers) == 0 {
		return reconcile.Result{}, nil // the CRD requires one; nothing sensible to run otherwise
	}

	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: nb.GetName(), Namespace: nb.GetNamespace()}}
	if _, err := controllerutil.CreateOrUpdate(ctx, r.Client, sts, func() error {
		desired := statefulSetSpec(nb, podSpec)
		if sts.CreationTimestamp.IsZero() {
			sts.Spec = desired
		} else { // the selector is immutable; the rest follows the Notebook
			sts.Spec.Replicas = desired.Replicas
			sts.Spec.Template.Labels = desired.Template.Labels
			if !reflect.DeepEqual(sts.Spec.Template.Spec.Containers[0].Env, desired.Template.Spec.Containers[0].Env) ||
				len(sts.Spec.Template.Spec.Containers) != len(desired.Template.Spec.Containers) ||
				sts.Spec.Template.Spec.Containers[0].Image != desired.Template.Spec.Containers[0].Image {
				sts.Spec.Template.Spec = desired.Template.Spec
			}
		}
		return controllerutil.SetControllerReference(nb, sts, r.scheme)
	}); err != nil {
		return reconcile.Result{}, err
	}

	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: nb.GetName(), Namespace: nb.GetNamespace()}}
	if _, err := controllerutil.CreateOrUpdate(ctx, r.Client, svc, func() error {
		port := int32(containerPort)
		if ports := podSpec.Containers[0].Ports; len(ports) > 0 {
			port = ports[0].ContainerPort
		}
		svc.Spec.Type = corev1.ServiceTypeClusterIP
		svc.Spec.Selector = map[string]string{"statefulset": nb.GetName()}
		svc.Spec.Ports = []corev1.ServicePort{{Name: "http-" + nb.GetName(), Port: servingPort,
			TargetPort: intstr.FromInt32(port), Protocol: corev1.ProtocolTCP}}
		return controllerutil.SetControllerReference(nb, svc, r.scheme)
	}); err != nil {
		return reconcile.Result{}, err
	}
	return reconcile.Result{}, r.updateStatus(ctx, nb, sts)
}

func statefulSetSpec(nb *unstructured.Unstructured, podSpec corev1.PodSpec) appsv1.StatefulSetSpec {
	replicas := int32(1)
	if _, stopped := nb.GetAnnotations()[stopAnnotation]; stopped {
		replicas = 0
	}
	labels := map[string]string{}
	for k, v := range nb.GetLabels() {
		labels[k] = v
	}
	labels["statefulset"] = nb.GetName()
	labels["notebook-name"] = nb.GetName()

	spec := *podSpec.DeepCopy()
	c := &spec.Containers[0]
	if c.WorkingDir == "" {
		c.WorkingDir = "/home/jovyan"
	}
	if len(c.Ports) == 0 {
		c.Ports = []corev1.ContainerPort{{Name: "notebook-port", ContainerPort: containerPort, Protocol: corev1.ProtocolTCP}}
	}
	prefix := "/notebook/" + nb.GetNamespace() + "/" + nb.GetName()
	env := c.Env[:0:0]
	for _, e := range c.Env {
		if e.Name != "NB_PREFIX" {
			env = append(env, e)
		}
	}
	c.Env = append(env, corev1.EnvVar{Name: "NB_PREFIX", Value: prefix})
	if os.Getenv("ADD_FSGROUP") != "false" && spec.SecurityContext == nil {
		group := fsGroup
		spec.SecurityContext = &corev1.PodSecurityContext{FSGroup: &group}
	}
	return appsv1.StatefulSetSpec{
		Replicas: &replicas,
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"statefulset": nb.GetName()}},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: spec},
	}
}

func (r *reconciler) updateStatus(ctx context.Context, nb *unstructured.Unstructured, sts *appsv1.StatefulSet) error {
	status, _, _ := unstructured.NestedMap(nb.Object, "status")
	if status == nil {
		status = map[string]interface{}{}
	}
	changed := false
	if got, _, _ := unstructured.NestedInt64(status, "readyReplicas"); got != int64(sts.Status.ReadyReplicas) ||
		status["readyReplicas"] == nil {
		status["readyReplicas"] = int64(sts.Status.ReadyReplicas)
		changed = true
	}
	pod := &corev1.Pod{}
	err := r.Get(ctx, types.NamespacedName{Namespace: nb.GetNamespace(), Name: nb.GetName() + "-0"}, pod)
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	if err == nil {
		for _, cs := range pod.Status.ContainerStatuses {
			if cs.Name != nb.GetName() {
				continue
			}
			state, convErr := runtime.DefaultUnstructuredConverter.ToUnstructured(&cs.State)
			if convErr != nil {
				return convErr
			}
			if !reflect.DeepEqual(runtime.DeepCopyJSONValue(state), runtime.DeepCopyJSONValue(asJSON(status["containerState"]))) {
				status["containerState"] = state
				status["conditions"] = prependCondition(status["conditions"], cs.State)
				changed = true
			}
		}
	}
	if !changed {
		return nil
	}
	patch := client.MergeFrom(nb.DeepCopy())
	nb.Object["status"] = status
	return r.Status().Patch(ctx, nb, patch)
}

func asJSON(v interface{}) interface{} {
	if v == nil {
		return map[string]interface{}{}
	}
	return v
}

// prependCondition puts the condition for the container's state first, unless the first already says it.
func prependCondition(old interface{}, cs corev1.ContainerState) []interface{} {
	kind, reason, message := "Terminated", "", ""
	switch {
	case cs.Running != nil:
		kind = "Running"
	case cs.Waiting != nil:
		kind, reason, message = "Waiting", cs.Waiting.Reason, cs.Waiting.Message
	case cs.Terminated != nil:
		reason, message = cs.Terminated.Reason, cs.Terminated.Message
	}
	conditions, _ := old.([]interface{})
	if len(conditions) > 0 {
		if first, ok := conditions[0].(map[string]interface{}); ok &&
			first["type"] == kind && first["reason"] == reason && first["message"] == message {
			return conditions
		}
	}
	condition := map[string]interface{}{"type": kind, "status": "True", "reason": reason, "message": message,
		"lastProbeTime": metav1.Now().UTC().Format("2006-01-02T15:04:05Z")}
	return append([]interface{}{condition}, conditions...)
}

func main() {
	var metricsAddr, probeAddr string
	flag.StringVar(&metricsAddr, "metrics-addr", "0", "metrics address (0 turns metrics off)")
	flag.StringVar(&probeAddr, "probe-addr", "127.0.0.1:18081", "health probe address")
	opts := zap.Options{}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))
	log := ctrl.Log.WithName("notebook-controller")

	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		log.Error(err, "scheme")
		os.Exit(1)
	}
	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: metricsAddr},
		HealthProbeBindAddress: probeAddr,
	})
	if err != nil {
		log.Error(err, "unable to create the manager")
		os.Exit(1)
	}
	r := &reconciler{Client: mgr.GetClient(), scheme: scheme}
	toNotebook := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		name := o.GetLabels()["notebook-name"]
		if name == "" {
			return nil
		}
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: name}}}
	})
	err = ctrl.NewControllerManagedBy(mgr).Named("notebook").For(newNotebook()).
		Owns(&appsv1.StatefulSet{}).Owns(&corev1.Service{}).
		Watches(&corev1.Pod{}, toNotebook).
		Complete(r)
	if err != nil {
		log.Error(err, "unable to create the controller")
		os.Exit(1)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		log.Error(err, "health check")
		os.Exit(1)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		log.Error(err, "ready check")
		os.Exit(1)
	}
	log.Info("starting")
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		log.Error(err, "manager stopped")
		os.Exit(1)
	}
}
