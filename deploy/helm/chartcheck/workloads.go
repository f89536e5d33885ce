package chartcheck

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
)

// workload is a Deployment or a StatefulSet: what the checks need of either.
type workload struct {
	kind, name string
	replicas   *int32
	selector   *metav1.LabelSelector
	template   corev1.PodTemplateSpec
	// claims are the names of a StatefulSet's volume claim templates,
	// which its containers mount like volumes.
	claims []string
}

func (ms Manifests) workloads() []workload {
	var ws []workload
	for _, o := range ms {
		switch v := o.Value.(type) {
		case *appsv1.Deployment:
			ws = append(ws, workload{kind: o.Kind, name: o.Name, replicas: v.Spec.Replicas, selector: v.Spec.Selector, template: v.Spec.Template})
		case *appsv1.StatefulSet:
			w := workload{kind: o.Kind, name: o.Name, replicas: v.Spec.Replicas, selector: v.Spec.Selector, template: v.Spec.Template}
			for _, c := range v.Spec.VolumeClaimTemplates {
				w.claims = append(w.claims, c.Name)
			}
			ws = append(ws, w)
		}
	}
	return ws
}

// selecting returns the workloads whose pods sel selects.
func (ms Manifests) selecting(sel labels.Selector) []workload {
	var out []workload
	for _, w := range ms.workloads() {
		if sel.Matches(labels.Set(w.template.Labels)) {
			out = append(out, w)
		}
	}
	return out
}

// labelSelector converts s, which must select something: an empty selector
// selects every pod of the namespace, never what a chart means.
func labelSelector(s *metav1.LabelSelector) (labels.Selector, error) {
	if s == nil || len(s.MatchLabels) == 0 && len(s.MatchExpressions) == 0 {
		return nil, fmt.Errorf("empty label selector")
	}
	return metav1.LabelSelectorAsSelector(s)
}

func (ms Manifests) checkWorkload(w workload) []error {
	var errs []error
	sel, err := labelSelector(w.selector)
	if err != nil {
		return []error{fmt.Errorf("spec.selector: %w", err)}
	}
	if !sel.Matches(labels.Set(w.template.Labels)) {
		errs = append(errs, fmt.Errorf("spec.selector %s does not match the pod template's labels %v", sel, w.template.Labels))
	}
	for k, v := range w.template.Labels {
		errs = append(errs, labelErrors("spec.template.metadata.labels", k, v)...)
	}
	if w.kind == "StatefulSet" {
		errs = append(errs, ms.checkStatefulSet(w)...)
	}
	var pdbs []string
	for _, p := range Of[*policyv1.PodDisruptionBudget](ms) {
		if s, err := labelSelector(p.Spec.Selector); err == nil && s.Matches(labels.Set(w.template.Labels)) {
			pdbs = append(pdbs, p.Name)
		}
	}
	if len(pdbs) > 1 {
		errs = append(errs, fmt.Errorf("pods under several PodDisruptionBudgets %v: the eviction API refuses to evict them", pdbs))
	}
	return append(errs, ms.checkPodSpec(w)...)
}

func (ms Manifests) checkStatefulSet(w workload) []error {
	var errs []error
	st := ms.find("StatefulSet", w.name).(*appsv1.StatefulSet)
	svc, _ := ms.find("Service", st.Spec.ServiceName).(*corev1.Service)
	switch {
	case st.Spec.ServiceName == "":
	case svc == nil:
		errs = append(errs, fmt.Errorf("spec.serviceName %q: no such Service", st.Spec.ServiceName))
	case svc.Spec.ClusterIP != corev1.ClusterIPNone:
		errs = append(errs, fmt.Errorf("spec.serviceName %q: not a headless Service", st.Spec.ServiceName))
	}
	for _, c := range st.Spec.VolumeClaimTemplates {
		if _, ok := c.Spec.Resources.Requests[corev1.ResourceStorage]; !ok {
			errs = append(errs, fmt.Errorf("volumeClaimTemplates %s: no storage request", c.Name))
		}
		if len(c.Spec.AccessModes) == 0 {
			errs = append(errs, fmt.Errorf("volumeClaimTemplates %s: no access modes", c.Name))
		}
	}
	return errs
}

// envReference is $(NAME) in a container's command or arguments, which
// Kubernetes expands from the container's environment, and leaves as it is
// when the environment has no NAME.
var envReference = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

func (ms Manifests) checkPodSpec(w workload) []error {
	var errs []error
	spec := w.template.Spec
	if len(spec.Containers) == 0 {
		return []error{fmt.Errorf("no containers")}
	}
	if sa := spec.ServiceAccountName; sa != "" && sa != "default" && ms.find("ServiceAccount", sa) == nil {
		errs = append(errs, fmt.Errorf("serviceAccountName %q: no such ServiceAccount", sa))
	}
	volumes := slices.Clone(w.claims)
	for _, v := range spec.Volumes {
		if slices.Contains(volumes, v.Name) {
			errs = append(errs, fmt.Errorf("volume %q declared twice", v.Name))
		}
		volumes = append(volumes, v.Name)
		if v.ConfigMap != nil && ms.find("ConfigMap", v.ConfigMap.Name) == nil {
			errs = append(errs, fmt.Errorf("volume %q: no ConfigMap %q", v.Name, v.ConfigMap.Name))
		}
	}
	grace := int64(corev1.DefaultTerminationGracePeriodSeconds)
	if spec.TerminationGracePeriodSeconds != nil {
		grace = *spec.TerminationGracePeriodSeconds
	}
	for i, t := range spec.TopologySpreadConstraints {
		if t.MaxSkew <= 0 || t.TopologyKey == "" || (t.WhenUnsatisfiable != corev1.DoNotSchedule && t.WhenUnsatisfiable != corev1.ScheduleAnyway) {
			errs = append(errs, fmt.Errorf("topologySpreadConstraints[%d]: needs maxSkew > 0, a topologyKey and whenUnsatisfiable DoNotSchedule or ScheduleAnyway", i))
		}
		if s, err := labelSelector(t.LabelSelector); err != nil || !s.Matches(labels.Set(w.template.Labels)) {
			errs = append(errs, fmt.Errorf("topologySpreadConstraints[%d]: its labelSelector must select the workload's own pods", i))
		}
	}
	if a := spec.Affinity; a != nil && a.PodAntiAffinity != nil {
		terms := slices.Clone(a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution)
		for _, t := range a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
			terms = append(terms, t.PodAffinityTerm)
		}
		for i, t := range terms {
			if t.TopologyKey == "" {
				errs = append(errs, fmt.Errorf("podAntiAffinity term %d: no topologyKey", i))
			}
		}
	}
	for _, c := range spec.Containers {
		for _, err := range ms.checkContainer(c, volumes, grace) {
			errs = append(errs, fmt.Errorf("container %s: %w", c.Name, err))
		}
	}
	return errs
}

func (ms Manifests) checkContainer(c corev1.Container, volumes []string, grace int64) []error {
	var errs []error
	if msgs := validation.IsDNS1123Label(c.Name); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("name: %s", strings.Join(msgs, "; ")))
	}
	if c.Image == "" || strings.ContainsAny(c.Image, " \t") {
		errs = append(errs, fmt.Errorf("image %q", c.Image))
	}
	ports := map[string]int32{}
	for _, p := range c.Ports {
		if p.ContainerPort < 1 || p.ContainerPort > 65535 {
			errs = append(errs, fmt.Errorf("port %q: containerPort %d out of range", p.Name, p.ContainerPort))
		}
		if p.Name == "" {
			continue
		}
		if msgs := validation.IsValidPortName(p.Name); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("port name %q: %s", p.Name, strings.Join(msgs, "; ")))
		}
		if _, dup := ports[p.Name]; dup {
			errs = append(errs, fmt.Errorf("port name %q declared twice", p.Name))
		}
		ports[p.Name] = p.ContainerPort
	}
	probes := map[string]*corev1.Probe{"startupProbe": c.StartupProbe, "readinessProbe": c.ReadinessProbe, "livenessProbe": c.LivenessProbe}
	for _, name := range slices.Sorted(maps.Keys(probes)) {
		p := probes[name]
		if p == nil {
			continue
		}
		if err := checkHandlerPort(p.HTTPGet, p.TCPSocket, ports); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
		if p.HTTPGet != nil && !strings.HasPrefix(p.HTTPGet.Path, "/") {
			errs = append(errs, fmt.Errorf("%s: path %q is not absolute", name, p.HTTPGet.Path))
		}
		if p.Exec == nil && p.HTTPGet == nil && p.TCPSocket == nil && p.GRPC == nil {
			errs = append(errs, fmt.Errorf("%s: no handler", name))
		}
	}
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil {
		h := c.Lifecycle.PreStop
		if err := checkHandlerPort(h.HTTPGet, h.TCPSocket, ports); err != nil {
			errs = append(errs, fmt.Errorf("preStop: %w", err))
		}
		if s := h.Sleep; s != nil && (s.Seconds <= 0 || s.Seconds >= grace) {
			errs = append(errs, fmt.Errorf("preStop: sleep of %ds must be more than 0 and less than terminationGracePeriodSeconds %d", s.Seconds, grace))
		}
	}
	env := map[string]bool{}
	for _, e := range c.Env {
		if msgs := validation.IsEnvVarName(e.Name); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("env %q: %s", e.Name, strings.Join(msgs, "; ")))
		}
		env[e.Name] = true
		if e.ValueFrom == nil {
			continue
		}
		if e.Value != "" {
			errs = append(errs, fmt.Errorf("env %s: both value and valueFrom", e.Name))
		}
		if err := ms.checkEnvSource(e.ValueFrom); err != nil {
			errs = append(errs, fmt.Errorf("env %s: %w", e.Name, err))
		}
	}
	if len(c.EnvFrom) == 0 {
		for _, arg := range slices.Concat(c.Command, c.Args) {
			for _, m := range envReference.FindAllStringSubmatch(arg, -1) {
				if !env[m[1]] {
					errs = append(errs, fmt.Errorf("argument %q: no env %s to expand", arg, m[1]))
				}
			}
		}
	}
	mounts := map[string]bool{}
	for _, m := range c.VolumeMounts {
		if !slices.Contains(volumes, m.Name) {
			errs = append(errs, fmt.Errorf("volumeMount %q: no such volume", m.Name))
		}
		if !strings.HasPrefix(m.MountPath, "/") || mounts[m.MountPath] {
			errs = append(errs, fmt.Errorf("volumeMount %q: mountPath %q not absolute, or mounted twice", m.Name, m.MountPath))
		}
		mounts[m.MountPath] = true
	}
	for name, limit := range c.Resources.Limits {
		if req, ok := c.Resources.Requests[name]; ok && req.Cmp(limit) > 0 {
			errs = append(errs, fmt.Errorf("resources: %s request %s above its limit %s", name, req.String(), limit.String()))
		}
	}
	return errs
}

// checkHandlerPort checks that a probe's or a hook's port is one the
// container declares.
func checkHandlerPort(get *corev1.HTTPGetAction, tcp *corev1.TCPSocketAction, ports map[string]int32) error {
	var port intstr.IntOrString
	switch {
	case get != nil:
		port = get.Port
	case tcp != nil:
		port = tcp.Port
	default:
		return nil
	}
	if port.Type == intstr.String {
		if _, ok := ports[port.StrVal]; !ok {
			return fmt.Errorf("port %q is not a port of the container", port.StrVal)
		}
		return nil
	}
	if !slices.Contains(slices.Collect(maps.Values(ports)), port.IntVal) {
		return fmt.Errorf("port %d is not a port of the container", port.IntVal)
	}
	return nil
}

// checkEnvSource checks that a Secret or ConfigMap key an environment
// variable reads exists, when the chart renders that object. A Secret it
// does not render is the user's (s3Credentials.existingSecret).
func (ms Manifests) checkEnvSource(src *corev1.EnvVarSource) error {
	switch {
	case src.SecretKeyRef != nil:
		ref := src.SecretKeyRef
		s, ok := ms.find("Secret", ref.Name).(*corev1.Secret)
		if !ok {
			return nil
		}
		if _, inData := s.Data[ref.Key]; !inData {
			if _, inString := s.StringData[ref.Key]; !inString {
				return fmt.Errorf("no key %q in Secret %s", ref.Key, ref.Name)
			}
		}
	case src.ConfigMapKeyRef != nil:
		ref := src.ConfigMapKeyRef
		cm, ok := ms.find("ConfigMap", ref.Name).(*corev1.ConfigMap)
		if !ok {
			return fmt.Errorf("no ConfigMap %q", ref.Name)
		}
		if _, ok := cm.Data[ref.Key]; !ok {
			return fmt.Errorf("no key %q in ConfigMap %s", ref.Key, ref.Name)
		}
	case src.FieldRef != nil:
		if src.FieldRef.FieldPath == "" {
			return fmt.Errorf("fieldRef without fieldPath")
		}
	}
	return nil
}

// checkMeta checks an object's name, labels and annotations.
func checkMeta(kind string, m *metav1.ObjectMeta) []error {
	var errs []error
	nameCheck := validation.IsDNS1123Subdomain
	if kind == "Service" {
		nameCheck = validation.IsDNS1035Label
	}
	if msgs := nameCheck(m.Name); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("metadata.name %q: %s", m.Name, strings.Join(msgs, "; ")))
	}
	for k, v := range m.Labels {
		errs = append(errs, labelErrors("metadata.labels", k, v)...)
	}
	for k := range m.Annotations {
		if msgs := validation.IsQualifiedName(k); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("metadata.annotations %q: %s", k, strings.Join(msgs, "; ")))
		}
	}
	return errs
}

func labelErrors(where, k, v string) []error {
	var errs []error
	if msgs := validation.IsQualifiedName(k); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("%s key %q: %s", where, k, strings.Join(msgs, "; ")))
	}
	if msgs := validation.IsValidLabelValue(v); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("%s %s=%q: %s", where, k, v, strings.Join(msgs, "; ")))
	}
	return errs
}
