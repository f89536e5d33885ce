// Package chartcheck checks the manifests helm renders from spanlog's chart
// (deploy/helm/spanlog) as a schema validator such as kubeconform would,
// offline: each document is decoded strictly into its typed Kubernetes
// object (k8s.io/api), so an unknown or misspelt field, or a value of the
// wrong type, is an error. Then it checks what the schemas leave to the API
// server or to nobody: required fields, names, selectors that select the
// pods they are meant to, ports referenced by name that exist, probes on
// declared ports, variables in arguments that the environment defines, and
// the references between objects (Services, Secrets, ConfigMaps, the
// ServiceAccount, the target of an autoscaler, the Services of a
// ServiceMonitor).
//
// It does not check what spanlog makes of its configuration: cmd/spanlog's
// chart test loads each pod's config and arguments with spanlog's own
// loader.
//
// It is a module of its own so that the Kubernetes API types stay out of
// spanlog's.
package chartcheck

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// Object is one rendered document, decoded.
type Object struct {
	Kind string
	Name string
	// Value is a pointer to the typed object: *appsv1.Deployment,
	// *ServiceMonitor...
	Value any
}

// Manifests are the objects of one rendering, in order.
type Manifests []Object

// newObject returns a typed object for a document's apiVersion and kind.
// Only what the chart renders is known: anything else is an error.
func newObject(apiVersion, kind string) (any, error) {
	switch apiVersion + " " + kind {
	case "v1 ConfigMap":
		return &corev1.ConfigMap{}, nil
	case "v1 Secret":
		return &corev1.Secret{}, nil
	case "v1 Service":
		return &corev1.Service{}, nil
	case "v1 ServiceAccount":
		return &corev1.ServiceAccount{}, nil
	case "apps/v1 Deployment":
		return &appsv1.Deployment{}, nil
	case "apps/v1 StatefulSet":
		return &appsv1.StatefulSet{}, nil
	case "policy/v1 PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}, nil
	case "autoscaling/v2 HorizontalPodAutoscaler":
		return &autoscalingv2.HorizontalPodAutoscaler{}, nil
	case "networking.k8s.io/v1 NetworkPolicy":
		return &networkingv1.NetworkPolicy{}, nil
	case "monitoring.coreos.com/v1 ServiceMonitor":
		return &ServiceMonitor{}, nil
	}
	return nil, fmt.Errorf("unknown apiVersion %q kind %q", apiVersion, kind)
}

// Decode splits helm's output into documents and decodes each strictly:
// unknown fields, duplicate fields and values of the wrong type are errors.
func Decode(rendered []byte) (Manifests, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(rendered)))
	var (
		ms   Manifests
		errs []error
	)
	for i := 0; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if isEmpty(doc) {
			continue
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			errs = append(errs, fmt.Errorf("document %d: %w", i, err))
			continue
		}
		v, err := newObject(tm.APIVersion, tm.Kind)
		if err != nil {
			errs = append(errs, fmt.Errorf("document %d: %w", i, err))
			continue
		}
		if err := decodeStrict(doc, v); err != nil {
			errs = append(errs, fmt.Errorf("document %d (%s %s): %w", i, tm.Kind, name(doc), err))
			continue
		}
		ms = append(ms, Object{Kind: tm.Kind, Name: objectMeta(v).Name, Value: v})
	}
	return ms, errors.Join(errs...)
}

// decodeStrict decodes a YAML document into v as the API server's strict
// field validation does: field names match in case, and an unknown or
// duplicate field is an error naming its path.
func decodeStrict(doc []byte, v any) error {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	strict, err := sigsjson.UnmarshalStrict(j, v, sigsjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

// name returns the metadata.name of a document that could not be decoded,
// for its error.
func name(doc []byte) string {
	var m struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	_ = yaml.Unmarshal(doc, &m)
	return m.Metadata.Name
}

// isEmpty reports a document of comments and blank lines only (helm
// renders one for a template whose condition is false).
func isEmpty(doc []byte) bool {
	for line := range strings.SplitSeq(string(doc), "\n") {
		if l := strings.TrimSpace(line); l != "" && l != "---" && !strings.HasPrefix(l, "#") {
			return false
		}
	}
	return true
}

func objectMeta(v any) *metav1.ObjectMeta {
	switch o := v.(type) {
	case *corev1.ConfigMap:
		return &o.ObjectMeta
	case *corev1.Secret:
		return &o.ObjectMeta
	case *corev1.Service:
		return &o.ObjectMeta
	case *corev1.ServiceAccount:
		return &o.ObjectMeta
	case *appsv1.Deployment:
		return &o.ObjectMeta
	case *appsv1.StatefulSet:
		return &o.ObjectMeta
	case *policyv1.PodDisruptionBudget:
		return &o.ObjectMeta
	case *autoscalingv2.HorizontalPodAutoscaler:
		return &o.ObjectMeta
	case *networkingv1.NetworkPolicy:
		return &o.ObjectMeta
	case *ServiceMonitor:
		return &o.ObjectMeta
	}
	panic(fmt.Sprintf("chartcheck: no metadata for %T", v)) // newObject's list and this one disagree
}

// Of returns the objects of type T.
func Of[T any](ms Manifests) []T {
	var out []T
	for _, o := range ms {
		if v, ok := o.Value.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

// Check decodes rendered and checks the objects and their references.
func Check(rendered []byte) (Manifests, error) {
	ms, err := Decode(rendered)
	if err != nil {
		return nil, err
	}
	return ms, ms.Check()
}

// Check checks every object, and the references between them.
func (ms Manifests) Check() error {
	var errs []error
	seen := map[string]bool{}
	for _, o := range ms {
		key := o.Kind + "/" + o.Name
		if seen[key] {
			errs = append(errs, fmt.Errorf("%s: rendered twice", key))
		}
		seen[key] = true
		for _, err := range checkMeta(o.Kind, objectMeta(o.Value)) {
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
		}
	}
	for _, w := range ms.workloads() {
		for _, err := range ms.checkWorkload(w) {
			errs = append(errs, fmt.Errorf("%s/%s: %w", w.kind, w.name, err))
		}
	}
	checks := []struct {
		kind  string
		check func(any) []error
	}{
		{"Service", func(v any) []error { return ms.checkService(v.(*corev1.Service)) }},
		{"PodDisruptionBudget", func(v any) []error { return ms.checkPDB(v.(*policyv1.PodDisruptionBudget)) }},
		{"HorizontalPodAutoscaler", func(v any) []error { return ms.checkHPA(v.(*autoscalingv2.HorizontalPodAutoscaler)) }},
		{"NetworkPolicy", func(v any) []error { return ms.checkNetworkPolicy(v.(*networkingv1.NetworkPolicy)) }},
		{"ServiceMonitor", func(v any) []error { return ms.checkServiceMonitor(v.(*ServiceMonitor)) }},
	}
	for _, o := range ms {
		for _, c := range checks {
			if c.kind != o.Kind {
				continue
			}
			for _, err := range c.check(o.Value) {
				errs = append(errs, fmt.Errorf("%s/%s: %w", o.Kind, o.Name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// find returns the object of kind and name, or nil.
func (ms Manifests) find(kind, name string) any {
	for _, o := range ms {
		if o.Kind == kind && o.Name == name {
			return o.Value
		}
	}
	return nil
}
