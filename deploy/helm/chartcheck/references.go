package chartcheck

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
)

// containerPorts returns the ports the containers of w's pods declare, by
// name, and all their numbers.
func containerPorts(w workload) (map[string]int32, []int32) {
	named := map[string]int32{}
	var numbers []int32
	for _, c := range w.template.Spec.Containers {
		for _, p := range c.Ports {
			if p.Name != "" {
				named[p.Name] = p.ContainerPort
			}
			numbers = append(numbers, p.ContainerPort)
		}
	}
	return named, numbers
}

// hasPort reports whether port, by name or number, is one of w's pods'.
func hasPort(w workload, port intstr.IntOrString) bool {
	named, numbers := containerPorts(w)
	if port.Type == intstr.String {
		_, ok := named[port.StrVal]
		return ok
	}
	return slices.Contains(numbers, port.IntVal)
}

func (ms Manifests) checkService(s *corev1.Service) []error {
	var errs []error
	switch s.Spec.Type {
	case "", corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort, corev1.ServiceTypeLoadBalancer:
	default:
		errs = append(errs, fmt.Errorf("spec.type %q", s.Spec.Type))
	}
	if s.Spec.ClusterIP == corev1.ClusterIPNone && s.Spec.Type != "" && s.Spec.Type != corev1.ServiceTypeClusterIP {
		errs = append(errs, fmt.Errorf("headless, but of type %s", s.Spec.Type))
	}
	if len(s.Spec.Ports) == 0 {
		errs = append(errs, fmt.Errorf("no ports"))
	}
	names := map[string]bool{}
	for _, p := range s.Spec.Ports {
		if p.Port < 1 || p.Port > 65535 {
			errs = append(errs, fmt.Errorf("port %q: %d out of range", p.Name, p.Port))
		}
		if len(s.Spec.Ports) > 1 && p.Name == "" {
			errs = append(errs, fmt.Errorf("port %d: a Service of several ports names each", p.Port))
		}
		if p.Name != "" {
			if msgs := validation.IsDNS1123Label(p.Name); len(msgs) > 0 {
				errs = append(errs, fmt.Errorf("port name %q: %s", p.Name, strings.Join(msgs, "; ")))
			}
			if names[p.Name] {
				errs = append(errs, fmt.Errorf("port name %q twice", p.Name))
			}
			names[p.Name] = true
		}
	}
	sel, err := labelSelector(&metav1.LabelSelector{MatchLabels: s.Spec.Selector})
	if err != nil {
		return append(errs, fmt.Errorf("spec.selector: %w", err))
	}
	selected := ms.selecting(sel)
	if len(selected) == 0 {
		return append(errs, fmt.Errorf("spec.selector %s selects no workload's pods", sel))
	}
	for _, w := range selected {
		for _, p := range s.Spec.Ports {
			target := p.TargetPort
			if target.Type == intstr.Int && target.IntVal == 0 {
				target = intstr.FromInt32(p.Port) // targetPort defaults to port
			}
			if !hasPort(w, target) {
				errs = append(errs, fmt.Errorf("port %q: targetPort %s is not a port of %s/%s's pods", p.Name, target.String(), w.kind, w.name))
			}
		}
	}
	return errs
}

func (ms Manifests) checkPDB(p *policyv1.PodDisruptionBudget) []error {
	var errs []error
	if (p.Spec.MinAvailable == nil) == (p.Spec.MaxUnavailable == nil) {
		errs = append(errs, fmt.Errorf("set exactly one of minAvailable and maxUnavailable"))
	}
	sel, err := labelSelector(p.Spec.Selector)
	if err != nil {
		return append(errs, fmt.Errorf("spec.selector: %w", err))
	}
	if len(ms.selecting(sel)) != 1 {
		errs = append(errs, fmt.Errorf("spec.selector %s selects the pods of %d workloads, want 1", sel, len(ms.selecting(sel))))
	}
	return errs
}

func (ms Manifests) checkHPA(h *autoscalingv2.HorizontalPodAutoscaler) []error {
	var errs []error
	ref := h.Spec.ScaleTargetRef
	var target *workload
	for _, w := range ms.workloads() {
		if w.kind == ref.Kind && w.name == ref.Name {
			target = &w
		}
	}
	switch {
	case ref.APIVersion != "apps/v1" || target == nil:
		errs = append(errs, fmt.Errorf("scaleTargetRef %s %s/%s: no such workload", ref.APIVersion, ref.Kind, ref.Name))
	case target.replicas != nil:
		// Each upgrade would set the replicas back, undoing the autoscaler.
		errs = append(errs, fmt.Errorf("scaleTargetRef %s/%s sets spec.replicas, which the autoscaler owns", ref.Kind, ref.Name))
	}
	if h.Spec.MinReplicas != nil && (*h.Spec.MinReplicas < 1 || *h.Spec.MinReplicas > h.Spec.MaxReplicas) {
		errs = append(errs, fmt.Errorf("minReplicas %d must be in [1, maxReplicas %d]", *h.Spec.MinReplicas, h.Spec.MaxReplicas))
	}
	if len(h.Spec.Metrics) == 0 {
		errs = append(errs, fmt.Errorf("no metrics"))
	}
	for i, m := range h.Spec.Metrics {
		if err := checkMetric(m); err != nil {
			errs = append(errs, fmt.Errorf("metrics[%d]: %w", i, err))
		}
	}
	return errs
}

// checkMetric checks that a metric's source is the one its type names, and
// that its target sets the field its type names.
func checkMetric(m autoscalingv2.MetricSpec) error {
	var (
		target autoscalingv2.MetricTarget
		name   string
	)
	switch {
	case m.Type == autoscalingv2.ExternalMetricSourceType && m.External != nil:
		target, name = m.External.Target, m.External.Metric.Name
	case m.Type == autoscalingv2.PodsMetricSourceType && m.Pods != nil:
		target, name = m.Pods.Target, m.Pods.Metric.Name
	case m.Type == autoscalingv2.ObjectMetricSourceType && m.Object != nil:
		target, name = m.Object.Target, m.Object.Metric.Name
	case m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil:
		target, name = m.Resource.Target, string(m.Resource.Name)
	case m.Type == autoscalingv2.ContainerResourceMetricSourceType && m.ContainerResource != nil:
		target, name = m.ContainerResource.Target, string(m.ContainerResource.Name)
	default:
		return fmt.Errorf("type %q without its source", m.Type)
	}
	if name == "" {
		return fmt.Errorf("no metric name")
	}
	ok := false
	switch target.Type {
	case autoscalingv2.ValueMetricType:
		ok = target.Value != nil
	case autoscalingv2.AverageValueMetricType:
		ok = target.AverageValue != nil && target.AverageValue.Sign() > 0
	case autoscalingv2.UtilizationMetricType:
		ok = target.AverageUtilization != nil && *target.AverageUtilization > 0
	}
	if !ok {
		return fmt.Errorf("%s: target type %q without a positive value of that type", name, target.Type)
	}
	return nil
}

func (ms Manifests) checkNetworkPolicy(np *networkingv1.NetworkPolicy) []error {
	var errs []error
	sel, err := labelSelector(&np.Spec.PodSelector)
	if err != nil {
		return []error{fmt.Errorf("spec.podSelector: %w", err)}
	}
	selected := ms.selecting(sel)
	if len(selected) == 0 {
		return []error{fmt.Errorf("spec.podSelector %s selects no workload's pods", sel)}
	}
	for i, rule := range np.Spec.Ingress {
		for _, p := range rule.Ports {
			if p.Port == nil {
				continue
			}
			for _, w := range selected {
				if !hasPort(w, *p.Port) {
					errs = append(errs, fmt.Errorf("ingress[%d]: port %s is not a port of %s/%s's pods", i, p.Port.String(), w.kind, w.name))
				}
			}
		}
		for j, from := range rule.From {
			if from.PodSelector == nil || from.NamespaceSelector != nil {
				continue // pods of other namespaces, or not pods: not the chart's
			}
			s, err := labelSelector(from.PodSelector)
			if err == nil && len(ms.selecting(s)) == 0 {
				err = fmt.Errorf("selects no workload's pods")
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("ingress[%d].from[%d].podSelector: %w", i, j, err))
			}
		}
	}
	return errs
}

// prometheusDuration is the duration syntax of Prometheus (30s, 1m30s).
var prometheusDuration = regexp.MustCompile(`^(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?$`)

func (ms Manifests) checkServiceMonitor(sm *ServiceMonitor) []error {
	var errs []error
	sel, err := labelSelector(&sm.Spec.Selector)
	if err != nil {
		return []error{fmt.Errorf("spec.selector: %w", err)}
	}
	var services []*corev1.Service
	for _, s := range Of[*corev1.Service](ms) {
		if sel.Matches(labels.Set(s.Labels)) {
			services = append(services, s)
		}
	}
	if len(services) == 0 {
		errs = append(errs, fmt.Errorf("spec.selector %s selects no Service", sel))
	}
	if len(sm.Spec.Endpoints) == 0 {
		errs = append(errs, fmt.Errorf("no endpoints"))
	}
	for i, e := range sm.Spec.Endpoints {
		if e.Port == "" {
			errs = append(errs, fmt.Errorf("endpoints[%d]: no port name", i))
		}
		for _, s := range services {
			if !slices.ContainsFunc(s.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == e.Port }) {
				errs = append(errs, fmt.Errorf("endpoints[%d]: Service %s has no port %q", i, s.Name, e.Port))
			}
		}
		for _, d := range []string{e.Interval, e.ScrapeTimeout} {
			if d != "" && (d == "0" || !prometheusDuration.MatchString(d)) {
				errs = append(errs, fmt.Errorf("endpoints[%d]: duration %q", i, d))
			}
		}
		if e.Path != "" && !strings.HasPrefix(e.Path, "/") {
			errs = append(errs, fmt.Errorf("endpoints[%d]: path %q is not absolute", i, e.Path))
		}
	}
	return errs
}
