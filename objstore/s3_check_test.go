package objstore_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spanlog/spanlog/internal/logtest"
	"github.com/spanlog/spanlog/internal/miniotest"
	"github.com/spanlog/spanlog/objstore"
)

// TestS3CheckSaysWhatToFix: the startup check fails at once, whatever its
// timeout, when S3 answers that something is wrong, with a message that
// names what to fix; it passes on a usable bucket.
func TestS3CheckSaysWhatToFix(t *testing.T) {
	srv := miniotest.Start(t)
	for _, c := range []struct {
		name   string
		change func(*objstore.S3Config)
		want   []string // parts of the error; none: no error
	}{
		{"usable bucket", func(*objstore.S3Config) {}, nil},
		{"usable bucket under a prefix", func(c *objstore.S3Config) { c.Prefix = "spanlog/prod" }, nil},
		{"missing bucket", func(c *objstore.S3Config) { c.Bucket = "no-such-bucket" },
			[]string{`bucket "no-such-bucket" does not exist`, "storage.s3.create-bucket"}},
		{"unknown access key", func(c *objstore.S3Config) { c.AccessKeyID = "nobody" },
			[]string{"wrong S3 credentials", `access key ID "nobody"`, "storage.s3.access-key-id"}},
		{"wrong secret", func(c *objstore.S3Config) { c.SecretAccessKey = "not-the-secret" },
			[]string{"wrong S3 credentials", "secret access key is wrong", "storage.s3.secret-access-key"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := srv.NewBucket(t)
			c.change(&cfg)
			cfg.StartupCheckTimeout = time.Hour // an answer must end it, not the timeout
			err := newS3(t, cfg, prometheus.NewRegistry()).Check(t.Context())
			if len(c.want) == 0 {
				if err != nil {
					t.Fatalf("check of a usable bucket: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("check passed")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// TestS3CheckCreatesBucket: with create-bucket, the check creates a
// missing bucket, also when several processes start at once.
func TestS3CheckCreatesBucket(t *testing.T) {
	srv := miniotest.Start(t)
	cfg := srv.Config("created-at-startup")
	cfg.CreateBucket = true
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		b := newS3(t, cfg, prometheus.NewRegistry())
		wg.Go(func() { errs[i] = b.Check(t.Context()) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("process %d: %v", i, err)
		}
	}
	b := newS3(t, cfg, prometheus.NewRegistry())
	if err := b.Upload(t.Context(), "t1/x", strings.NewReader("x")); err != nil {
		t.Fatalf("upload to the created bucket: %v", err)
	}
	cfg.CreateBucket = false
	if err := newS3(t, cfg, prometheus.NewRegistry()).Check(t.Context()); err != nil {
		t.Fatalf("check of the created bucket: %v", err)
	}
}

// TestS3CheckWaitsOutAnOutage: while S3 does not answer, the check retries
// within its timeout, so S3 starting late delays startup; an S3 that
// stays silent fails it, saying where it looked.
func TestS3CheckWaitsOutAnOutage(t *testing.T) {
	srv := miniotest.Start(t)
	cfg := srv.NewBucket(t)
	cfg.RetryBackoff, cfg.RetryMaxBackoff = 10*time.Millisecond, 100*time.Millisecond

	srv.Stop()
	logs := &logtest.Buffer{}
	cfg.StartupCheckTimeout = time.Hour
	b, err := objstore.NewS3(cfg, prometheus.NewRegistry(), logs.Logger())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- b.Check(t.Context()) }()
	await(t, "the check to retry", func() bool { return strings.Count(logs.String(), "waiting for S3") >= 2 })
	srv.Restart(t)
	if err := <-done; err != nil {
		t.Fatalf("check across the outage: %v", err)
	}

	srv.Stop()
	cfg.StartupCheckTimeout = 500 * time.Millisecond
	err = newS3(t, cfg, prometheus.NewRegistry()).Check(t.Context())
	if err == nil || !strings.Contains(err.Error(), "did not answer within 500ms") || !strings.Contains(err.Error(), srv.Endpoint) {
		t.Fatalf("check of a silent S3: %v, want it to say S3 at %s did not answer", err, srv.Endpoint)
	}

	// Shutdown during the wait ends it at once.
	ctx, cancel := context.WithCancel(t.Context())
	cfg.StartupCheckTimeout = time.Hour
	go func() { done <- newS3(t, cfg, prometheus.NewRegistry()).Check(ctx) }()
	cancel()
	if err := <-done; err == nil {
		t.Fatal("a check cancelled while S3 is down passed")
	}
}

// TestOpenStartsWithoutAnAnswerButNotOnAWrongBucket: a process refuses to
// start on a bucket S3 says is missing, but starts, with an error logged,
// on an S3 that does not answer at all: queriers can still answer from
// their live tails, and S3 may come back.
func TestOpenStartsWithoutAnAnswerButNotOnAWrongBucket(t *testing.T) {
	srv := miniotest.Start(t)
	open := func(cfg objstore.S3Config) (objstore.Bucket, string, error) {
		logs := &logtest.Buffer{}
		b, err := objstore.Open(t.Context(), objstore.Config{Backend: "s3", S3: cfg}, prometheus.NewRegistry(), logs.Logger())
		return b, logs.String(), err
	}

	missing := srv.NewBucket(t)
	missing.Bucket = "no-such-bucket"
	if _, _, err := open(missing); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("open of a missing bucket: %v, want it refused", err)
	}

	silent := srv.NewBucket(t)
	silent.StartupCheckTimeout = 500 * time.Millisecond
	silent.MaxRetries = 0
	srv.Stop()
	b, logs, err := open(silent)
	if err != nil || b == nil {
		t.Fatalf("open of a silent S3: %v, want the bucket", err)
	}
	if !strings.Contains(logs, "starting without object storage") || !strings.Contains(logs, "did not answer within 500ms") {
		t.Errorf("open of a silent S3 logged %q, want an error saying S3 did not answer", logs)
	}
}
