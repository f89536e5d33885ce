package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// TestComposeConfigs loads the configuration of every spanlog container
// of deploy/compose/compose.yaml as the container would: its command's
// flags over the file compose.yaml mounts at -config.file, with spanlog's
// own loader, then Validate. Docker stops a container stop_grace_period
// after SIGTERM, which must leave spanlog its graceful shutdown.
// deploy/check tests the rest of the compose file with compose-go.
func TestComposeConfigs(t *testing.T) {
	dir := filepath.Join("..", "..", "deploy", "compose")
	data, err := os.ReadFile(filepath.Join(dir, "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// The keys read here; yaml.v3 applies the merge keys (<<: *spanlog)
	// as compose does.
	var compose struct {
		Services map[string]struct {
			Build           any      `yaml:"build"`
			Command         []string `yaml:"command"`
			Volumes         []string `yaml:"volumes"`
			StopGracePeriod string   `yaml:"stop_grace_period"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(data, &compose); err != nil {
		t.Fatal(err)
	}
	checked := 0
	for name, s := range compose.Services {
		if s.Build == nil {
			continue // not spanlog's image: only spanlog is built here
		}
		checked++
		args := make([]string, len(s.Command))
		for i, arg := range s.Command {
			args[i] = arg
			file, ok := strings.CutPrefix(arg, "-"+configFileFlag+"=")
			if !ok {
				continue
			}
			src, ok := bindSource(s.Volumes, file)
			if !ok {
				t.Errorf("service %s: %s is not a file compose.yaml mounts into it", name, arg)
				continue
			}
			args[i] = "-" + configFileFlag + "=" + filepath.Join(dir, src)
		}
		cfg, err := load(t, args...)
		if err != nil {
			t.Errorf("service %s: %v", name, err)
			continue
		}
		if err := cfg.Validate(); err != nil {
			t.Errorf("service %s: %v", name, err)
		}
		if grace, err := time.ParseDuration(s.StopGracePeriod); err != nil || grace <= cfg.Server.GracefulShutdown {
			t.Errorf("service %s: stop_grace_period %q, want more than server.graceful-shutdown-timeout %v", name, s.StopGracePeriod, cfg.Server.GracefulShutdown)
		}
	}
	if checked == 0 {
		t.Fatal("no service of compose.yaml is built from the repository")
	}
}

// bindSource is the host path of a short-syntax volume of volumes
// (source:target[:mode]) mounted at target.
func bindSource(volumes []string, target string) (string, bool) {
	for _, v := range volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && parts[1] == target {
			return parts[0], true
		}
	}
	return "", false
}
