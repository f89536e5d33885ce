package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/spanlog/spanlog/limits"
)

// The Helm chart (deploy/helm/spanlog) renders spanlog's configuration into
// a ConfigMap and each role's flags into its pods. These tests render it
// with the values files make chart-check uses and start nothing but
// spanlog's own loading of each pod's configuration: what a pod would run
// is what spanlog accepts. deploy/helm/chartcheck checks the same
// manifests against the Kubernetes API types.

const (
	chartDir = "../../deploy/helm/spanlog"
	// podIP stands for the pod's IP in $(POD_IP) of the pods' arguments.
	podIP = "10.1.2.3"
)

// The parts of the rendered manifests these tests read.
type (
	chartObject struct {
		Kind     string `yaml:"kind"`
		Metadata struct {
			Name string `yaml:"name"`
		} `yaml:"metadata"`
		Data map[string]string `yaml:"data"`
		Spec struct {
			Template struct {
				Spec podSpec `yaml:"spec"`
			} `yaml:"template"`
			Endpoints []struct {
				Path string `yaml:"path"`
			} `yaml:"endpoints"`
		} `yaml:"spec"`
	}
	podSpec struct {
		TerminationGracePeriodSeconds *int64 `yaml:"terminationGracePeriodSeconds"`
		Containers                    []podContainer
		Volumes                       []podVolume
	}
	podVolume struct {
		Name      string
		ConfigMap *struct{ Name string } `yaml:"configMap"`
	}
	podContainer struct {
		Args []string
		Env  []struct {
			Name      string
			Value     string
			ValueFrom *struct {
				FieldRef *struct {
					FieldPath string `yaml:"fieldPath"`
				} `yaml:"fieldRef"`
			} `yaml:"valueFrom"`
		}
		Ports []struct {
			Name          string
			ContainerPort int `yaml:"containerPort"`
		}
		VolumeMounts []struct {
			Name      string
			MountPath string `yaml:"mountPath"`
		} `yaml:"volumeMounts"`
		Lifecycle *struct {
			PreStop *struct {
				Sleep *struct{ Seconds int64 }
			} `yaml:"preStop"`
		}
		Resources struct {
			Limits map[string]string
		}
		ReadinessProbe *podProbe `yaml:"readinessProbe"`
		LivenessProbe  *podProbe `yaml:"livenessProbe"`
		StartupProbe   *podProbe `yaml:"startupProbe"`
	}
	podProbe struct {
		HTTPGet *struct{ Path string } `yaml:"httpGet"`
	}
)

// renderChart runs the pinned helm (make bin/helm) on the chart with a
// values file.
func renderChart(t *testing.T, valuesFile string) []chartObject {
	t.Helper()
	helm, err := filepath.Abs("../../bin/helm")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(helm); err != nil {
		t.Fatalf("no helm at %s: run make bin/helm: %v", helm, err)
	}
	cmd := exec.Command(helm, "template", "rel", chartDir, "-f", valuesFile)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helm template -f %s: %v\n%s", valuesFile, err, stderr.String())
	}
	var objs []chartObject
	dec := yaml.NewDecoder(bytes.NewReader(out))
	for {
		var o chartObject
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatalf("rendered manifests: %v", err)
		}
		if o.Kind != "" {
			objs = append(objs, o)
		}
	}
}

// pod is one workload's pod laid out under root: each mount of a
// ConfigMap holds its files, each other mount is an empty directory.
type pod struct {
	name     string
	spec     podSpec
	c        podContainer
	root     string
	readOnly []string // mount paths of ConfigMaps
	writable []string // mount paths of volumes and claims
}

func newPod(t *testing.T, o chartObject, configMaps map[string]map[string]string) pod {
	t.Helper()
	if len(o.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("%s: %d containers, want 1", o.Metadata.Name, len(o.Spec.Template.Spec.Containers))
	}
	p := pod{name: o.Kind + "/" + o.Metadata.Name, spec: o.Spec.Template.Spec, c: o.Spec.Template.Spec.Containers[0], root: t.TempDir()}
	for _, m := range p.c.VolumeMounts {
		dir := filepath.Join(p.root, m.MountPath)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(p.spec.Volumes, func(v podVolume) bool { return v.Name == m.Name })
		if i < 0 || p.spec.Volumes[i].ConfigMap == nil {
			p.writable = append(p.writable, m.MountPath)
			continue
		}
		data, ok := configMaps[p.spec.Volumes[i].ConfigMap.Name]
		if !ok {
			t.Fatalf("%s: no ConfigMap %s", p.name, p.spec.Volumes[i].ConfigMap.Name)
		}
		for file, content := range data {
			if err := os.WriteFile(filepath.Join(dir, file), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		p.readOnly = append(p.readOnly, m.MountPath)
	}
	return p
}

var envReference = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// args returns the container's arguments as Kubernetes expands them,
// with the configuration file's path under the pod's root.
func (p pod) args(t *testing.T) []string {
	t.Helper()
	env := map[string]string{}
	for _, e := range p.c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "status.podIP":
			env[e.Name] = podIP
		}
	}
	var args []string
	for _, a := range p.c.Args {
		a = envReference.ReplaceAllStringFunc(a, func(ref string) string {
			v, ok := env[envReference.FindStringSubmatch(ref)[1]]
			if !ok {
				t.Errorf("%s: argument %q: no env to expand %s", p.name, a, ref)
			}
			return v
		})
		if name, path, ok := strings.Cut(a, "="); ok && name == "-"+configFileFlag {
			a = name + "=" + filepath.Join(p.root, path)
		}
		args = append(args, a)
	}
	return args
}

// under reports whether path is in one of dirs.
func under(path string, dirs []string) bool {
	return slices.ContainsFunc(dirs, func(d string) bool {
		rel, err := filepath.Rel(d, path)
		return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
	})
}

// port returns the port of a listen address.
func port(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Every pod the chart renders, in each mode, starts with a configuration
// that spanlog's loader and Validate accept, with its files where the
// configuration names them, its ports where it listens, and a grace that
// outlasts its own.
func TestHelmChartPodsLoadTheirConfiguration(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(chartDir, "ci", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no values files in %s/ci: %v", chartDir, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			objs := renderChart(t, f)
			configMaps := map[string]map[string]string{}
			for _, o := range objs {
				if o.Kind == "ConfigMap" {
					configMaps[o.Metadata.Name] = o.Data
				}
			}
			var targets []string
			for _, o := range objs {
				switch o.Kind {
				case "Deployment", "StatefulSet":
					cfg := checkPodConfig(t, newPod(t, o, configMaps))
					targets = append(targets, cfg.Target)
				case "ServiceMonitor":
					for _, e := range o.Spec.Endpoints {
						checkServes(t, defaultConfig().Server, e.Path)
					}
				}
			}
			slices.Sort(targets)
			if !slices.Equal(targets, []string{targetAll}) && !slices.Equal(targets, []string{targetBlockBuilder, targetCompactor, targetDistributor, targetGenerator, targetQuerier}) {
				t.Errorf("targets %v: want all alone, or one workload of each role", targets)
			}
		})
	}
}

// checkPodConfig loads p's configuration as spanlog would and checks it
// against the pod.
func checkPodConfig(t *testing.T, p pod) Config {
	t.Helper()
	cfg := defaultConfig()
	fs := flag.NewFlagSet("spanlog", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if err := loadConfig(&cfg, fs, p.args(t)); err != nil {
		t.Fatalf("%s: spanlog rejects its configuration: %v", p.name, err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("%s: invalid configuration: %v", p.name, err)
	}

	// Files: the overrides where a ConfigMap put them, and readable by
	// spanlog; the embedded Kafka's log and the blocks on a volume.
	if f := cfg.Limits.OverridesFile; f != "" {
		if !under(f, p.readOnly) {
			t.Errorf("%s: limits.overrides-file %s is on no ConfigMap", p.name, f)
		}
		l := cfg.Limits
		l.OverridesFile = filepath.Join(p.root, f)
		if _, err := limits.NewOverrides(l, slog.New(slog.DiscardHandler), prometheus.NewRegistry()); err != nil {
			t.Errorf("%s: %v", p.name, err)
		}
	}
	if cfg.embedsKafka() && !under(cfg.EmbeddedKafka.DataDir, p.writable) {
		t.Errorf("%s: embedded-kafka.data-dir %s is on no volume", p.name, cfg.EmbeddedKafka.DataDir)
	}
	if cfg.Target != targetDistributor && cfg.Storage.Backend == "local" && !under(cfg.Storage.Local.Path, p.writable) {
		t.Errorf("%s: storage.local.path %s is on no volume", p.name, cfg.Storage.Local.Path)
	}
	if !cfg.embedsKafka() && slices.ContainsFunc(cfg.Kafka.Brokers, func(b string) bool {
		return strings.HasPrefix(b, "127.") || strings.HasPrefix(b, "localhost:")
	}) {
		t.Errorf("%s: kafka.brokers %v: loopback, in a pod without the embedded Kafka", p.name, cfg.Kafka.Brokers)
	}

	// Ports: each the container declares is where spanlog listens.
	want := map[string]int{"http": port(t, cfg.Server.HTTPListenAddress)}
	if cfg.runs(targetDistributor) {
		want["otlp-grpc"] = port(t, cfg.Distributor.GRPCListenAddress)
		want["otlp-http"] = port(t, cfg.Distributor.HTTPListenAddress)
	}
	if cfg.runs(targetQuerier) && !cfg.embedsKafka() {
		want["internal"] = port(t, cfg.internalListenAddress())
		if a := cfg.Querier.AdvertiseAddress; a != net.JoinHostPort(podIP, strconv.Itoa(want["internal"])) {
			t.Errorf("%s: querier.advertise-address %q, want the pod's IP and internal port", p.name, a)
		}
	}
	got := map[string]int{}
	for _, cp := range p.c.Ports {
		got[cp.Name] = cp.ContainerPort
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s: container ports %v, want %v", p.name, got, want)
	}

	// Grace: Kubernetes kills the process only after its preStop sleep
	// and its own graceful shutdown.
	var sleep int64
	if lc := p.c.Lifecycle; lc != nil && lc.PreStop != nil && lc.PreStop.Sleep != nil {
		sleep = lc.PreStop.Sleep.Seconds
	}
	shutdown := int64((cfg.Server.GracefulShutdown + 999_999_999) / 1e9)
	if g := p.spec.TerminationGracePeriodSeconds; g == nil || *g <= sleep+shutdown {
		t.Errorf("%s: terminationGracePeriodSeconds %s, want more than preStop %ds + server.graceful-shutdown-timeout %v", p.name, optional(g), sleep, cfg.Server.GracefulShutdown)
	}
	if _, ok := p.c.Resources.Limits["memory"]; ok && cfg.Server.MemoryLimitBytes <= 0 {
		t.Errorf("%s: no soft memory limit, though the container has a memory limit", p.name)
	}

	// Probes: paths spanlog's HTTP server answers, once ready.
	for _, pr := range []*podProbe{p.c.ReadinessProbe, p.c.LivenessProbe, p.c.StartupProbe} {
		if pr == nil || pr.HTTPGet == nil {
			t.Errorf("%s: a probe is missing or not an HTTP GET", p.name)
			continue
		}
		checkServes(t, cfg.Server, pr.HTTPGet.Path)
	}
	return cfg
}

// checkServes checks that spanlog's HTTP server, configured as srvCfg but
// on loopback, answers 200 at path.
func checkServes(t *testing.T, srvCfg ServerConfig, path string) {
	t.Helper()
	srvCfg.HTTPListenAddress = "127.0.0.1:0"
	srv, ln, err := newServer(srvCfg, prometheus.NewRegistry(), func() error { return nil }, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	resp, err := http.Get("http://" + ln.Addr().String() + path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s: %s, want 200", path, resp.Status)
	}
}

func optional(n *int64) string {
	if n == nil {
		return "unset"
	}
	return strconv.FormatInt(*n, 10)
}
