// Package miniotest is the one place tests get S3 from: a real MinIO
// server, the pinned bin/minio that make installs, on 127.0.0.1 with a
// temporary data directory. It owns starting, stopping and restarting that
// process; what the tests store in it is theirs.
package miniotest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/spanlog/spanlog/objstore"
)

// The root credentials of every server; tests reach it as this user.
const (
	rootUser     = "spanlog"
	rootPassword = "spanlog-secret"
)

// readyTimeout bounds a start: MinIO is ready in under a second on an idle
// machine, a loaded CI runner under -race can take many times that.
const readyTimeout = 60 * time.Second

// binEnv names the variable that overrides where the binary is.
const binEnv = "SPANLOG_MINIO"

// Server is a MinIO server a test started.
type Server struct {
	// Endpoint is the S3 API's address, host:port.
	Endpoint string

	bin, dataDir, logPath, consoleAddr string
	admin                              *minio.Client
	buckets                            atomic.Int64
	// proc is the running process; nil when stopped. Stop and Restart
	// are for the test's goroutine, like t.Fatal, so it needs no lock.
	proc *process
}

// process is one run of the server.
type process struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error // how it exited, once exited is closed
}

// Start starts a server that the end of t stops. It fails t if the
// binary is missing: make installs it.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartIn(t, t.TempDir())
}

// StartIn starts a server on the data in dataDir, which it creates if
// needed and which outlives t: benchmarks keep large datasets there
// between runs instead of uploading them again. Two servers must not
// share a dataDir at the same time.
func StartIn(t testing.TB, dataDir string) *Server {
	t.Helper()
	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{
		Endpoint:    freeAddr(t),
		bin:         bin,
		dataDir:     dataDir,
		logPath:     filepath.Join(t.TempDir(), "minio.log"),
		consoleAddr: freeAddr(t),
	}
	// Registered after the directories, so it runs before they go.
	t.Cleanup(func() {
		s.kill()
		if t.Failed() {
			t.Logf("MinIO log:\n%s", s.logTail())
		}
	})
	s.admin, err = minio.New(s.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(rootUser, rootPassword, "")})
	if err != nil {
		t.Fatalf("minio client: %v", err)
	}
	s.Restart(t)
	return s
}

// NewBucket creates an empty bucket and returns the configuration that
// reaches it, so that each test has its own.
func (s *Server) NewBucket(t testing.TB) objstore.S3Config {
	t.Helper()
	name := fmt.Sprintf("test-%d", s.buckets.Add(1))
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := s.admin.MakeBucket(ctx, name, minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
	return s.Config(name)
}

// Bucket returns the configuration that reaches bucket name, creating the
// bucket unless it exists, as it does on a dataDir used before.
func (s *Server) Bucket(t testing.TB, name string) objstore.S3Config {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	exists, err := s.admin.BucketExists(ctx, name)
	if err != nil {
		t.Fatalf("look up bucket %s: %v", name, err)
	}
	if !exists {
		if err := s.admin.MakeBucket(ctx, name, minio.MakeBucketOptions{}); err != nil {
			t.Fatalf("create bucket %s: %v", name, err)
		}
	}
	return s.Config(name)
}

// Config returns the configuration that reaches bucket on this server,
// whether the bucket exists or not, with the default timeouts and retries.
func (s *Server) Config(bucket string) objstore.S3Config {
	cfg := objstore.DefaultS3Config()
	cfg.Endpoint = s.Endpoint
	cfg.Bucket = bucket
	cfg.Region = "us-east-1"
	cfg.AccessKeyID = rootUser
	cfg.SecretAccessKey = rootPassword
	cfg.Insecure = true
	cfg.PathStyle = true
	return cfg
}

// Stop kills the server, as a crash or an outage would, and waits until
// it is gone. Stopping a stopped server does nothing.
func (s *Server) Stop() { s.kill() }

// Restart starts the server again, or for the first time, on the same
// address and data, and waits until it is ready. It is a no-op on a
// running server.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	if s.proc != nil {
		return
	}
	start := time.Now()
	if err := s.start(); err != nil {
		s.kill()
		t.Fatalf("start MinIO: %v\n%s", err, s.logTail())
	}
	t.Logf("MinIO ready on %s in %s", s.Endpoint, time.Since(start).Round(time.Millisecond))
}

func (s *Server) start() error {
	log, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer log.Close() // the child has its own copy
	cmd := exec.Command(s.bin, "server", s.dataDir, "--address", s.Endpoint, "--console-address", s.consoleAddr, "--quiet")
	cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+rootUser,
		"MINIO_ROOT_PASSWORD="+rootPassword,
		"MINIO_UPDATE=off",
		"MINIO_BROWSER=off",
	)
	cmd.Stdout, cmd.Stderr = log, log
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		return err
	}
	p := &process{cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	s.proc = p
	return s.waitReady(p)
}

// waitReady polls the cluster health endpoint until it answers 200, the
// process exits or readyTimeout passes. /minio/health/ready is no use
// here: it answers 200 while S3 requests still get 503 "Server not
// initialized"; the cluster check waits for storage, IAM and bucket
// metadata.
func (s *Server) waitReady(p *process) error {
	url := "http://" + s.Endpoint + "/minio/health/cluster"
	client := &http.Client{Timeout: time.Second}
	deadline := time.NewTimer(readyTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if resp, err := client.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.exited:
			return fmt.Errorf("MinIO exited before it was ready: %v", p.err)
		case <-deadline.C:
			return fmt.Errorf("MinIO not ready on %s after %s", s.Endpoint, readyTimeout)
		case <-tick.C:
		}
	}
}

// kill stops the process, if running, and waits for it.
func (s *Server) kill() {
	if s.proc == nil {
		return
	}
	_ = s.proc.cmd.Process.Kill() // fails only if it already exited
	<-s.proc.exited
	s.proc = nil
}

// logTail returns the end of the server's output, for failure messages.
func (s *Server) logTail() string {
	data, err := os.ReadFile(s.logPath)
	if err != nil {
		return fmt.Sprintf("(no MinIO log: %v)", err)
	}
	const tailBytes = 4 << 10
	if len(data) > tailBytes {
		data = data[len(data)-tailBytes:]
	}
	return string(data)
}

// binary finds the MinIO server: $SPANLOG_MINIO, else bin/minio at the
// root of the module the test runs in.
func binary() (string, error) {
	if p := os.Getenv(binEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("MinIO server $%s: %w", binEnv, err)
		}
		return p, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the test's directory: set " + binEnv + " to the MinIO binary")
		}
		dir = parent
	}
	bin := filepath.Join(dir, "bin", "minio")
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("MinIO server not found at %s: run `make bin/minio` (or make test) to install it", bin)
	}
	return bin, nil
}

// freeAddr returns a 127.0.0.1 address no one listens on now.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}
