package check

import (
	"bytes"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v3"
)

// The roles compose.yaml must run, each in containers of its own.
var roles = []string{"distributor", "block-builder", "querier", "compactor"}

// TestCompose loads deploy/compose/compose.yaml as Docker Compose does
// (schema, merge keys, interpolation, references between services and
// volumes), then checks what only running it would show: files mounted
// that are not in the repository, ports published twice, services and
// ports the other files name that compose.yaml does not have. That the
// spanlog configuration loads and validates is checked in cmd/spanlog
// (TestComposeConfigs), with spanlog's own loader.
func TestCompose(t *testing.T) {
	p := loadCompose(t)
	spanlog := spanlogServices(t, p)

	t.Run("images", func(t *testing.T) {
		for _, s := range p.Services {
			if s.Image == "" && s.Build == nil {
				t.Errorf("service %s has neither image nor build", s.Name)
			}
			if s.Build == nil {
				continue
			}
			dockerfile := filepath.Join(s.Build.Context, s.Build.Dockerfile)
			if _, err := os.Stat(dockerfile); err != nil {
				t.Errorf("service %s builds from %s: %v", s.Name, relPath(t, dockerfile), err)
			}
		}
	})

	t.Run("depends_on", func(t *testing.T) {
		for _, s := range p.Services {
			for name, dep := range s.DependsOn {
				target, ok := p.Services[name]
				if !ok {
					t.Errorf("service %s depends on %s, which is not a service", s.Name, name)
					continue
				}
				switch dep.Condition {
				case types.ServiceConditionHealthy:
					if target.HealthCheck == nil || target.HealthCheck.Disable {
						t.Errorf("service %s waits for %s to be healthy, which has no healthcheck", s.Name, name)
					}
				case types.ServiceConditionCompletedSuccessfully:
					if target.Restart != "" && target.Restart != types.RestartPolicyNo {
						t.Errorf("service %s waits for %s to complete, which restarts (%s)", s.Name, name, target.Restart)
					}
				}
			}
		}
	})

	t.Run("mounts", func(t *testing.T) {
		for _, s := range p.Services {
			for _, v := range s.Volumes {
				if v.Type != types.VolumeTypeBind {
					continue
				}
				if rel := relPath(t, v.Source); strings.HasPrefix(rel, "..") {
					t.Errorf("service %s mounts %s, outside the repository", s.Name, v.Source)
					continue
				}
				if _, err := os.Stat(v.Source); err != nil {
					t.Errorf("service %s mounts %s: %v", s.Name, relPath(t, v.Source), err)
				}
			}
		}
	})

	t.Run("ports", func(t *testing.T) {
		published := map[string]string{} // host port and protocol -> service
		for _, s := range p.Services {
			for _, port := range s.Ports {
				if port.Published == "" {
					continue
				}
				if s.GetScale() > 1 {
					t.Errorf("service %s runs %d replicas but publishes host port %s: all but one would fail to start", s.Name, s.GetScale(), port.Published)
				}
				key := net.JoinHostPort(port.HostIP, port.Published) + "/" + port.Protocol
				if other, ok := published[key]; ok {
					t.Errorf("host port %s is published by both %s and %s", key, other, s.Name)
				}
				published[key] = s.Name
			}
		}
	})

	t.Run("spanlog roles", func(t *testing.T) {
		cfg := loadSpanlogPorts(t)
		running := map[string]bool{}
		for _, r := range spanlog {
			running[r.target] = true
			file := r.flags["config.file"]
			if file == "" {
				t.Errorf("service %s: no -config.file", r.svc.Name)
			} else if _, ok := mountSource(r.svc, file); !ok {
				t.Errorf("service %s: -config.file=%s is not a file compose.yaml mounts into it", r.svc.Name, file)
			}
			for _, port := range r.svc.Ports {
				if port.Target != cfg.HTTPPort && port.Target != cfg.OTLPGRPCPort && port.Target != cfg.OTLPHTTPPort {
					t.Errorf("service %s publishes container port %d, where no spanlog server listens (%d, %d, %d)",
						r.svc.Name, port.Target, cfg.HTTPPort, cfg.OTLPGRPCPort, cfg.OTLPHTTPPort)
				}
			}
			if r.target != "querier" {
				continue
			}
			// Queriers reach each other where each advertises itself.
			host, port, err := net.SplitHostPort(r.flags["querier.advertise-address"])
			switch {
			case err != nil:
				t.Errorf("querier %s: -querier.advertise-address: %v", r.svc.Name, err)
			case !slices.Equal(servicesNamed(p, host), []string{r.svc.Name}):
				t.Errorf("querier %s advertises host %s, which names services %v, not only it", r.svc.Name, host, servicesNamed(p, host))
			case port != fmt.Sprint(cfg.InternalPort):
				t.Errorf("querier %s advertises port %s; its internal listener is on %d", r.svc.Name, port, cfg.InternalPort)
			}
		}
		for _, role := range roles {
			if !running[role] {
				t.Errorf("no service runs -target=%s", role)
			}
		}
		// Queriers and block-builders share partitions: two of each
		// show it, and a querier alone would never ask a peer.
		for _, role := range []string{"querier", "block-builder"} {
			n := 0
			for _, r := range spanlog {
				if r.target == role {
					n += r.svc.GetScale()
				}
			}
			if n < 2 {
				t.Errorf("%d containers run -target=%s, want at least 2", n, role)
			}
		}
	})

	t.Run("prometheus", func(t *testing.T) { checkPrometheus(t, p, spanlog) })
	t.Run("grafana", func(t *testing.T) { checkGrafana(t, p, spanlog) })
}

func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	dir := repoPath(t, "deploy", "compose")
	opts, err := cli.NewProjectOptions([]string{filepath.Join(dir, "compose.yaml")},
		cli.WithWorkingDirectory(dir),
		cli.WithInterpolation(true),
		cli.WithResolvedPaths(true),
		cli.WithConsistency(true),
	)
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(t.Context())
	if err != nil {
		t.Fatalf("load compose.yaml: %v", err)
	}
	return p
}

// spanlogRole is a service running spanlog, and its command's flags.
type spanlogRole struct {
	svc    types.ServiceConfig
	target string
	flags  map[string]string // without the leading dash
}

// spanlogServices are the services built from the repository's root,
// spanlog's image, by name.
func spanlogServices(t *testing.T, p *types.Project) []spanlogRole {
	t.Helper()
	var out []spanlogRole
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		s := p.Services[name]
		if s.Build == nil || s.Build.Context != repoPath(t) {
			continue
		}
		flags := map[string]string{}
		for _, arg := range s.Command {
			k, v, ok := strings.Cut(strings.TrimLeft(arg, "-"), "=")
			if !strings.HasPrefix(arg, "-") || !ok {
				t.Errorf("service %s: argument %q is not -flag=value", s.Name, arg)
				continue
			}
			flags[k] = v
		}
		out = append(out, spanlogRole{svc: s, target: flags["target"], flags: flags})
	}
	if len(out) == 0 {
		t.Fatal("no service is built from the repository's Dockerfile")
	}
	return out
}

// mountSource is the file or directory of the repository that s sees at
// target, if s mounts one there.
func mountSource(s types.ServiceConfig, target string) (string, bool) {
	for _, v := range s.Volumes {
		if v.Type == types.VolumeTypeBind && v.Target == target {
			return v.Source, true
		}
	}
	return "", false
}

// serviceNames are the names other containers reach s by.
func serviceNames(s types.ServiceConfig) []string {
	names := []string{s.Name}
	if s.Hostname != "" {
		names = append(names, s.Hostname)
	}
	for _, n := range s.Networks {
		if n != nil {
			names = append(names, n.Aliases...)
		}
	}
	return names
}

// servicesNamed are the services that answer to host.
func servicesNamed(p *types.Project, host string) []string {
	var out []string
	for _, s := range p.Services {
		if slices.Contains(serviceNames(s), host) {
			out = append(out, s.Name)
		}
	}
	slices.Sort(out)
	return out
}

// spanlogPorts are the ports spanlog's containers listen on, from the
// configuration file compose.yaml mounts into them.
type spanlogPorts struct {
	HTTPPort, InternalPort, OTLPGRPCPort, OTLPHTTPPort uint32
}

func loadSpanlogPorts(t *testing.T) spanlogPorts {
	t.Helper()
	// Only the addresses; cmd/spanlog loads the whole file strictly.
	var cfg struct {
		Server struct {
			HTTP     string `yaml:"http-listen-address"`
			Internal string `yaml:"internal-listen-address"`
		} `yaml:"server"`
		Distributor struct {
			GRPC string `yaml:"grpc-listen-address"`
			HTTP string `yaml:"http-listen-address"`
		} `yaml:"distributor"`
	}
	data, err := os.ReadFile(repoPath(t, "deploy", "compose", "spanlog.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatalf("spanlog.yaml: %v", err)
	}
	port := func(key, addr string) uint32 {
		_, p, err := net.SplitHostPort(addr)
		var n uint32
		if err == nil {
			_, err = fmt.Sscan(p, &n)
		}
		if err != nil {
			t.Fatalf("spanlog.yaml %s %q: compose.yaml needs it set, as host:port: %v", key, addr, err)
		}
		return n
	}
	return spanlogPorts{
		HTTPPort:     port("server.http-listen-address", cfg.Server.HTTP),
		InternalPort: port("server.internal-listen-address", cfg.Server.Internal),
		OTLPGRPCPort: port("distributor.grpc-listen-address", cfg.Distributor.GRPC),
		OTLPHTTPPort: port("distributor.http-listen-address", cfg.Distributor.HTTP),
	}
}

// imageService is the one service whose image starts with prefix.
func imageService(t *testing.T, p *types.Project, prefix string) types.ServiceConfig {
	t.Helper()
	var found []types.ServiceConfig
	for _, s := range p.Services {
		if strings.HasPrefix(s.Image, prefix) {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one service of image %s*, have %d", prefix, len(found))
	}
	return found[0]
}

// checkPrometheus checks that Prometheus scrapes every spanlog container
// where it serves /metrics, and loads every rules file of deploy/alerts.
func checkPrometheus(t *testing.T, p *types.Project, spanlog []spanlogRole) {
	s := imageService(t, p, "prom/prometheus")
	var configPath string
	for _, arg := range s.Command {
		if v, ok := strings.CutPrefix(arg, "--config.file="); ok {
			configPath = v
		}
	}
	src, ok := mountSource(s, configPath)
	if !ok {
		t.Fatalf("prometheus: --config.file=%q is not a file compose.yaml mounts", configPath)
	}
	var cfg struct {
		Global struct {
			ScrapeInterval     string `yaml:"scrape_interval"`
			EvaluationInterval string `yaml:"evaluation_interval"`
		} `yaml:"global"`
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
			DNSSDConfigs []struct {
				Names []string `yaml:"names"`
				Type  string   `yaml:"type"`
				Port  uint32   `yaml:"port"`
			} `yaml:"dns_sd_configs"`
		} `yaml:"scrape_configs"`
	}
	decodeYAMLFile(t, src, &cfg)

	// Every rules file of deploy/alerts is mounted where rule_files looks.
	rules, err := filepath.Glob(repoPath(t, "deploy", "alerts", "*.yaml"))
	if err != nil || len(rules) == 0 {
		t.Fatalf("no rules in deploy/alerts: %v", err)
	}
	for _, rulesFile := range rules {
		loaded := false
		for _, v := range s.Volumes {
			for _, pattern := range cfg.RuleFiles {
				if ok, _ := filepath.Match(pattern, v.Target); ok && v.Source == rulesFile {
					loaded = true
				}
			}
		}
		if !loaded {
			t.Errorf("prometheus does not load %s: no mount of it matches rule_files %v", relPath(t, rulesFile), cfg.RuleFiles)
		}
	}

	// Every spanlog container is scraped, at its HTTP port.
	ports := loadSpanlogPorts(t)
	scraped := map[string]bool{} // service names
	for _, sc := range cfg.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			for _, target := range st.Targets {
				host, port, err := net.SplitHostPort(target)
				if err != nil {
					t.Errorf("job %s: target %q: %v", sc.JobName, target, err)
					continue
				}
				if host == "localhost" {
					continue // Prometheus itself
				}
				named := servicesNamed(p, host)
				if len(named) != 1 {
					t.Errorf("job %s: target %s names services %v, want one", sc.JobName, target, named)
					continue
				}
				scraped[named[0]] = true
				checkScrapePort(t, sc.JobName, named[0], port, spanlog, ports)
			}
		}
		for _, dns := range sc.DNSSDConfigs {
			for _, name := range dns.Names {
				if _, ok := p.Services[name]; !ok || dns.Type != "A" {
					t.Errorf("job %s: dns_sd_configs %s %s: want type A and a service's name, which finds all its replicas", sc.JobName, dns.Type, name)
					continue
				}
				scraped[name] = true
				checkScrapePort(t, sc.JobName, name, fmt.Sprint(dns.Port), spanlog, ports)
			}
		}
	}
	for _, r := range spanlog {
		if !scraped[r.svc.Name] {
			t.Errorf("prometheus does not scrape service %s", r.svc.Name)
		}
	}
}

func checkScrapePort(t *testing.T, job, service, port string, spanlog []spanlogRole, ports spanlogPorts) {
	t.Helper()
	for _, r := range spanlog {
		if r.svc.Name == service && port != fmt.Sprint(ports.HTTPPort) {
			t.Errorf("job %s scrapes %s on port %s; spanlog serves /metrics on %d", job, service, port, ports.HTTPPort)
		}
	}
}

// checkGrafana checks Grafana's provisioning: the data sources reach
// Prometheus and the queriers, and the dashboards of deploy/dashboards
// are where the dashboard provider reads.
func checkGrafana(t *testing.T, p *types.Project, spanlog []spanlogRole) {
	s := imageService(t, p, "grafana/grafana")
	const provisioning = "/etc/grafana/provisioning/"
	var datasources, providers []string
	for _, v := range s.Volumes {
		switch {
		case strings.HasPrefix(v.Target, provisioning+"datasources/"):
			datasources = append(datasources, v.Source)
		case strings.HasPrefix(v.Target, provisioning+"dashboards/"):
			providers = append(providers, v.Source)
		}
	}
	if len(datasources) != 1 || len(providers) != 1 {
		t.Fatalf("grafana: want one data sources file and one dashboards provider mounted under %s, have %d and %d", provisioning, len(datasources), len(providers))
	}

	var ds struct {
		APIVersion  int `yaml:"apiVersion"`
		Datasources []struct {
			Name      string         `yaml:"name"`
			UID       string         `yaml:"uid"`
			Type      string         `yaml:"type"`
			Access    string         `yaml:"access"`
			URL       string         `yaml:"url"`
			IsDefault bool           `yaml:"isDefault"`
			JSONData  map[string]any `yaml:"jsonData"`
		} `yaml:"datasources"`
	}
	decodeYAMLFile(t, datasources[0], &ds)
	queriers := map[string]bool{}
	for _, r := range spanlog {
		if r.target == "querier" {
			queriers[r.svc.Name] = true
		}
	}
	ports := loadSpanlogPorts(t)
	byType := map[string]int{}
	for _, d := range ds.Datasources {
		byType[d.Type]++
		u, err := url.Parse(d.URL)
		if err != nil {
			t.Errorf("data source %s: %v", d.Name, err)
			continue
		}
		named := servicesNamed(p, u.Hostname())
		switch d.Type {
		case "tempo":
			if len(named) == 0 || !allIn(named, queriers) || u.Port() != fmt.Sprint(ports.HTTPPort) {
				t.Errorf("Tempo data source %s: %s reaches %v, want queriers on port %d", d.Name, d.URL, named, ports.HTTPPort)
			}
		case "prometheus":
			prom := imageService(t, p, "prom/prometheus")
			if len(named) != 1 || named[0] != prom.Name || u.Port() != "9090" {
				t.Errorf("Prometheus data source %s: %s reaches %v, want %s:9090", d.Name, d.URL, named, prom.Name)
			}
		}
	}
	if byType["tempo"] != 1 || byType["prometheus"] != 1 {
		t.Errorf("grafana data sources by type %v, want one tempo and one prometheus", byType)
	}

	var prov struct {
		APIVersion int `yaml:"apiVersion"`
		Providers  []struct {
			Name            string `yaml:"name"`
			Folder          string `yaml:"folder"`
			Type            string `yaml:"type"`
			DisableDeletion bool   `yaml:"disableDeletion"`
			AllowUIUpdates  bool   `yaml:"allowUiUpdates"`
			Options         struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	decodeYAMLFile(t, providers[0], &prov)
	dashboards := repoPath(t, "deploy", "dashboards")
	for _, pr := range prov.Providers {
		if src, ok := mountSource(s, pr.Options.Path); !ok || src != dashboards {
			t.Errorf("dashboard provider %s reads %s, where %s is not mounted", pr.Name, pr.Options.Path, relPath(t, dashboards))
		}
	}
	if len(prov.Providers) != 1 {
		t.Errorf("%d dashboard providers, want 1", len(prov.Providers))
	}
}

func allIn(names []string, set map[string]bool) bool {
	for _, n := range names {
		if !set[n] {
			return false
		}
	}
	return true
}

// decodeYAMLFile decodes the YAML file at path into v, refusing keys v has
// no field for: a misspelt key of a provisioning or Prometheus file is
// ignored, or refused, by its reader at runtime, never here.
func decodeYAMLFile(t testing.TB, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", relPath(t, path), err)
	}
}
