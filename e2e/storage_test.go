package e2e

import (
	"errors"
	"log/slog"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spanlog/spanlog/internal/miniotest"
	"github.com/spanlog/spanlog/objstore"
)

// s3Flags are the flags that point a process at the bucket cfg reaches,
// as miniotest's NewBucket or Config returns it; tests append the
// -storage.s3.* tuning they need.
func s3Flags(cfg objstore.S3Config) []string {
	return []string{
		"-storage.backend=s3",
		"-storage.s3.endpoint=" + cfg.Endpoint,
		"-storage.s3.bucket=" + cfg.Bucket,
		"-storage.s3.access-key-id=" + cfg.AccessKeyID,
		"-storage.s3.secret-access-key=" + cfg.SecretAccessKey,
		"-storage.s3.insecure=true",
	}
}

// TestStartupChecksTheBucket follows a new user through the README's S3
// section with a bucket that does not exist yet. spanlog must refuse to
// start, saying which bucket and which option, rather than start, say it
// is ready, ack spans and answer every query with a 504 after 30s. With
// storage.s3.create-bucket it creates the bucket and serves.
func TestStartupChecksTheBucket(t *testing.T) {
	minio := miniotest.Start(t)
	s3 := minio.Config("traces") // not created

	n := newNode(t, s3Flags(s3)...)
	p := launchProcess(t, "spanlog", n.HTTP, n.args)
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		t.Fatal("spanlog still running 60s after starting on a missing bucket")
	}
	exit, ok := errors.AsType[*exec.ExitError](p.err)
	if !ok || exit.ExitCode() == 0 {
		t.Fatalf("spanlog on a missing bucket exited with %v, want a non-zero code\n%s", p.err, p.log)
	}
	for _, want := range []string{`S3 bucket \"traces\" does not exist`, "storage.s3.create-bucket"} {
		if !strings.Contains(p.log.String(), want) {
			t.Errorf("exit message does not say %q:\n%s", want, p.log)
		}
	}

	n = newNode(t, append(s3Flags(s3), "-storage.s3.create-bucket=true")...)
	p = n.start(t)
	bkt, err := objstore.NewS3(s3, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := bkt.List(t.Context(), "", func(string) error { return nil }); err != nil {
		t.Fatalf("bucket after a start with create-bucket: %v", err)
	}
	p.stop(t)
}
