package chartcheck

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// chartDir is spanlog's chart, beside this module.
const chartDir = "../spanlog"

// helm returns the pinned helm that make installs into the repository's
// bin/, or $HELM.
func helm(t *testing.T) string {
	t.Helper()
	path := os.Getenv("HELM")
	if path == "" {
		path = "../../../bin/helm"
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(abs); err != nil {
		t.Fatalf("no helm at %s: run make bin/helm (or set HELM): %v", abs, err)
	}
	return abs
}

// render runs helm template on the chart with args; its error holds helm's
// message.
func render(t *testing.T, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(helm(t), append([]string{"template", "rel", chartDir, "--namespace", "tracing"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, &renderError{err: err, stderr: stderr.String()}
	}
	return out, nil
}

type renderError struct {
	err    error
	stderr string
}

func (e *renderError) Error() string { return e.err.Error() + ": " + e.stderr }

func mustRender(t *testing.T, args ...string) []byte {
	t.Helper()
	out, err := render(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func count(ms Manifests) map[string]int {
	n := map[string]int{}
	for _, o := range ms {
		n[o.Kind]++
	}
	return n
}

// Every values file of make chart-check renders manifests that pass the
// checks, with the objects its mode and options call for.
func TestValuesFilesRenderValidManifests(t *testing.T) {
	want := map[string]map[string]int{
		"distributed-values.yaml": {
			"ConfigMap": 1, "ServiceAccount": 1, "Deployment": 5, "Service": 5,
			"PodDisruptionBudget": 5, "NetworkPolicy": 1,
		},
		"single-binary-values.yaml": {
			"ConfigMap": 1, "ServiceAccount": 1, "StatefulSet": 1, "Service": 2,
		},
		"spot-values.yaml": {
			"ConfigMap": 1, "ServiceAccount": 1, "Secret": 1, "Deployment": 5, "Service": 5,
			"PodDisruptionBudget": 5, "HorizontalPodAutoscaler": 2, "NetworkPolicy": 1, "ServiceMonitor": 1,
		},
	}
	files, err := filepath.Glob(filepath.Join(chartDir, "ci", "*.yaml"))
	if err != nil || len(files) != len(want) {
		t.Fatalf("values files %v (%v); want one of each of %d", files, err, len(want))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			ms, err := Check(mustRender(t, "-f", f))
			if err != nil {
				t.Fatal(err)
			}
			got := count(ms)
			for kind, n := range want[filepath.Base(f)] {
				if got[kind] != n {
					t.Errorf("%d %s, want %d", got[kind], kind, n)
				}
			}
			if len(got) != len(want[filepath.Base(f)]) {
				t.Errorf("kinds %v, want %v", got, want[filepath.Base(f)])
			}
		})
	}
}

// The options the values files leave at their defaults render valid
// manifests too.
func TestOptionsRenderValidManifests(t *testing.T) {
	distributed := []string{"-f", filepath.Join(chartDir, "ci", "distributed-values.yaml")}
	for _, tc := range []struct {
		name string
		args []string
		// check, if not nil, checks the Deployments further.
		check func(*appsv1.Deployment) error
	}{
		{"single binary without a volume", []string{"--set", "mode=single-binary", "--set", "singleBinary.persistence.enabled=false", "--set", "serviceMonitor.enabled=true"}, nil},
		{"credentials from an existing Secret", append(distributed, "--set", "s3Credentials.existingSecret=mine", "--set", "serviceAccount.create=false"), nil},
		{"fewer guards", append(distributed, "--set", "networkPolicy.enabled=false", "--set", "podAntiAffinity=", "--set", "distributor.podDisruptionBudget.enabled=false",
			"--set", "distributor.preStopSleepSeconds=0", "--set", "softMemoryLimitPercent=0"), nil},
		{"a user's affinity and a role's spread", append(distributed, "--set", "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].key=pool",
			"--set", "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator=Exists",
			"--set", "querier.topologySpreadConstraints[0].maxSkew=2", "--set", "querier.topologySpreadConstraints[0].topologyKey=topology.kubernetes.io/zone",
			"--set", "querier.topologySpreadConstraints[0].whenUnsatisfiable=DoNotSchedule"),
			func(d *appsv1.Deployment) error {
				a := d.Spec.Template.Spec.Affinity
				if a == nil || a.NodeAffinity == nil || a.PodAntiAffinity == nil {
					return fmt.Errorf("affinity %+v, want the user's node affinity and the chart's pod anti-affinity", a)
				}
				if spread := d.Spec.Template.Spec.TopologySpreadConstraints; strings.HasSuffix(d.Name, "-querier") != (len(spread) == 1) {
					return fmt.Errorf("%d topology spread constraints; want the querier's own one, the chart's two elsewhere", len(spread))
				}
				return nil
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms, err := Check(mustRender(t, tc.args...))
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range Of[*appsv1.Deployment](ms) {
				if tc.check == nil {
					break
				}
				if err := tc.check(d); err != nil {
					t.Errorf("%s: %v", d.Name, err)
				}
			}
		})
	}
}

// The spot fleet's pods spread over zones, keep off each other's nodes and
// outlive their own grace.
func TestSpotPodsSpreadAndStopInTime(t *testing.T) {
	ms, err := Check(mustRender(t, "-f", filepath.Join(chartDir, "ci", "spot-values.yaml")))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range Of[*appsv1.Deployment](ms) {
		spec := d.Spec.Template.Spec
		zones := false
		for _, c := range spec.TopologySpreadConstraints {
			zones = zones || c.TopologyKey == "topology.kubernetes.io/zone"
		}
		if !zones {
			t.Errorf("%s: no spread over zones", d.Name)
		}
		if spec.Affinity == nil || spec.Affinity.PodAntiAffinity == nil || len(spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) == 0 {
			t.Errorf("%s: no required pod anti-affinity (podAntiAffinity: hard)", d.Name)
		}
		// graceful-shutdown-timeout 1m30s, the preStop sleep, a 10s margin.
		grace := int64(90 + 10)
		if lc := spec.Containers[0].Lifecycle; lc != nil && lc.PreStop != nil && lc.PreStop.Sleep != nil {
			grace += lc.PreStop.Sleep.Seconds
		}
		if got := spec.TerminationGracePeriodSeconds; got == nil || *got != grace {
			t.Errorf("%s: terminationGracePeriodSeconds %v, want %d", d.Name, got, grace)
		}
	}
	sts := Of[*appsv1.StatefulSet](ms)
	if len(sts) != 0 {
		t.Errorf("%d StatefulSets in distributed mode; no role holds state", len(sts))
	}
}

// The single binary's log and blocks are on its claim.
func TestSingleBinaryKeepsItsDataOnAVolume(t *testing.T) {
	ms, err := Check(mustRender(t, "-f", filepath.Join(chartDir, "ci", "single-binary-values.yaml")))
	if err != nil {
		t.Fatal(err)
	}
	st := Of[*appsv1.StatefulSet](ms)[0]
	if r := st.Spec.Replicas; r == nil || *r != 1 {
		t.Errorf("replicas %v, want 1", r)
	}
	claims := st.Spec.VolumeClaimTemplates
	if len(claims) != 1 || claims[0].Name != "data" || *claims[0].Spec.StorageClassName != "fast-ssd" {
		t.Fatalf("volume claim templates %+v, want data on fast-ssd", claims)
	}
	if q := claims[0].Spec.Resources.Requests[corev1.ResourceStorage]; q.String() != "20Gi" {
		t.Errorf("claim of %s, want 20Gi", q.String())
	}
}

// Each mutation breaks one rendered field; the checks must say so. They
// start from the spot values' manifests, which use every kind.
func TestCheckFindsBrokenManifests(t *testing.T) {
	good := string(mustRender(t, "-f", filepath.Join(chartDir, "ci", "spot-values.yaml")))
	if _, err := Check([]byte(good)); err != nil {
		t.Fatal(err)
	}
	builderSpec := "spec:\n  revisionHistoryLimit: 5\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: spanlog\n      app.kubernetes.io/instance: rel\n      app.kubernetes.io/component: block-builder\n"
	for _, tc := range []struct {
		name     string
		old, new string
		want     string
	}{
		{"unknown field", "containerPort: 3200", "containerPorts: 3200", `unknown field "spec.template.spec.containers[0].ports[0].containerPorts"`},
		{"misspelt case", "terminationGracePeriodSeconds:", "terminationgraceperiodseconds:", `unknown field`},
		{"wrong type", "replicas: 3", "replicas: three", "replicas"},
		{"bad quantity", "memory: 512Mi", "memory: 512MB", "quantities must match"},
		{"probe on an undeclared port", "httpGet: {path: /ready, port: http}", "httpGet: {path: /ready, port: metrics}", `readinessProbe: port "metrics" is not a port of the container`},
		{"Service on an undeclared port", "targetPort: otlp-grpc", "targetPort: otlp-grcp", `targetPort otlp-grcp is not a port of Deployment/rel-spanlog-distributor's pods`},
		{"Service selecting nothing", "    app.kubernetes.io/component: compactor\n  ports:", "    app.kubernetes.io/component: compacter\n  ports:", "selects no workload's pods"},
		{"selector not matching its pods", builderSpec, strings.Replace(builderSpec, "block-builder", "builder", 1), "does not match the pod template's labels"},
		{"port name too long", "- name: otlp-http\n              containerPort", "- name: otlp-http-receiver\n              containerPort", `port name "otlp-http-receiver"`},
		{"argument of an undefined variable", "$(POD_IP)", "$(POD_ADDRESS)", "no env POD_ADDRESS to expand"},
		{"preStop longer than the grace", "seconds: 5", "seconds: 500", "less than terminationGracePeriodSeconds"},
		{"request above the limit", "cpu: 250m\n              memory: 256Mi", "cpu: 250m\n              memory: 1Gi", "memory request 1Gi above its limit 512Mi"},
		{"missing ConfigMap", "configMap:\n            name: rel-spanlog\n", "configMap:\n            name: rel-spanlog-config\n", `no ConfigMap "rel-spanlog-config"`},
		{"missing Secret key", "key: AWS_SECRET_ACCESS_KEY", "key: SECRET_KEY", `no key "SECRET_KEY" in Secret rel-spanlog-s3`},
		{"autoscaled replicas set", builderSpec, strings.Replace(builderSpec, "spec:\n", "spec:\n  replicas: 2\n", 1), "sets spec.replicas, which the autoscaler owns"},
		{"autoscaler of nothing", "    kind: Deployment\n    name: rel-spanlog-querier\n", "    kind: Deployment\n    name: rel-spanlog-queriers\n", "no such workload"},
		{"metric without its target", `averageValue: "500000"`, `value: "500000"`, `target type "AverageValue" without a positive value`},
		{"NetworkPolicy on an undeclared port", "port: internal", "port: peer", "port peer is not a port of Deployment/rel-spanlog-querier's pods"},
		{"ServiceMonitor port", "- port: http\n      path: /metrics", "- port: metrics\n      path: /metrics", `has no port "metrics"`},
		{"ServiceMonitor unknown field", "scrapeTimeout: 10s", "scrapeTimeOut: 10s", "unknown field"},
		{"ServiceMonitor selecting nothing", `spanlog.io/metrics: "true"` + "\n  endpoints:", `spanlog.io/scrape: "true"` + "\n  endpoints:", "selects no Service"},
		{"unknown kind", "kind: NetworkPolicy", "kind: NetworkPolicies", `unknown apiVersion "networking.k8s.io/v1" kind "NetworkPolicies"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(good, tc.old) {
				t.Fatalf("the rendered manifests have no %q", tc.old)
			}
			_, err := Check([]byte(strings.Replace(good, tc.old, tc.new, 1)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// Values the chart cannot make a working release of are refused when it
// renders, with a message naming the value.
func TestChartRefusesBadValues(t *testing.T) {
	distributed := []string{"-f", filepath.Join(chartDir, "ci", "distributed-values.yaml")}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no brokers", nil, "config.kafka.brokers: distributed mode needs"},
		{"unknown mode", []string{"--set", "mode=both"}, `mode "both"`},
		{"target in config", append(distributed, "--set", "config.target=querier"), "config.target: the chart sets -target"},
		{"secret in the ConfigMap", append(distributed, "--set", "config.storage.s3.secret-access-key=x"), "put S3 credentials in s3Credentials"},
		{"local storage across pods", append(distributed, "--set", "config.storage.backend=local"), "config.storage.backend: distributed mode keeps blocks in S3"},
		{"fractional grace", append(distributed, "--set", "config.server.graceful-shutdown-timeout=1.5s"), `duration "1.5s": write it in whole`},
		{"fractional memory", append(distributed, "--set", "querier.resources.limits.memory=1.5Gi"), `memory quantity "1.5Gi"`},
		{"half the credentials", append(distributed, "--set", "s3Credentials.accessKeyId=a"), "accessKeyId and secretAccessKey go together"},
		{"autoscaler bounds", append(distributed, "--set", "querier.autoscaling.enabled=true", "--set", "querier.autoscaling.minReplicas=9"), "querier.autoscaling: minReplicas 9 is more than maxReplicas 8"},
		{"anti-affinity", append(distributed, "--set", "podAntiAffinity=always"), `podAntiAffinity "always"`},
		{"no port", append(distributed, "--set", "config.server.http-listen-address=localhost"), `listen address "localhost" has no port`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := render(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// The ports follow the listen addresses of the configuration: a Service's
// port is where spanlog listens.
func TestPortsFollowTheConfiguration(t *testing.T) {
	ms, err := Check(mustRender(t, "-f", filepath.Join(chartDir, "ci", "distributed-values.yaml"),
		"--set", "config.server.http-listen-address=:8080", "--set", "config.distributor.grpc-listen-address=0.0.0.0:14317"))
	if err != nil {
		t.Fatal(err)
	}
	ports := map[string]int32{}
	for _, s := range Of[*corev1.Service](ms) {
		for _, p := range s.Spec.Ports {
			ports[s.Name+"/"+p.Name] = p.Port
		}
	}
	if ports["rel-spanlog-querier/http"] != 8080 || ports["rel-spanlog-distributor/otlp-grpc"] != 14317 || ports["rel-spanlog-distributor/otlp-http"] != 4318 {
		t.Errorf("ports %v; want http 8080, otlp-grpc 14317, otlp-http 4318", ports)
	}
}
