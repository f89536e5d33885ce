package objstore_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/spanlog/spanlog/internal/miniotest"
	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/objstore/objstoretest"
)

func newS3(t *testing.T, cfg objstore.S3Config, reg prometheus.Registerer) *objstore.S3 {
	t.Helper()
	b, err := objstore.NewS3(cfg, reg, slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestS3 shares one MinIO between the cases that leave it running, each
// with buckets of its own.
func TestS3(t *testing.T) {
	srv := miniotest.Start(t)

	t.Run("contract", func(t *testing.T) {
		objstoretest.Contract(t, func(t *testing.T) objstore.Bucket {
			return newS3(t, srv.NewBucket(t), prometheus.NewRegistry())
		})
	})

	t.Run("contract under a prefix", func(t *testing.T) {
		objstoretest.Contract(t, func(t *testing.T) objstore.Bucket {
			cfg := srv.NewBucket(t)
			cfg.Prefix = "spanlog/prod/"
			return newS3(t, cfg, prometheus.NewRegistry())
		})
	})

	t.Run("prefixes isolate", func(t *testing.T) {
		ctx := t.Context()
		cfg := srv.NewBucket(t)
		a, b := cfg, cfg
		a.Prefix, b.Prefix = "a", "b/c"
		ba, bb := newS3(t, a, prometheus.NewRegistry()), newS3(t, b, prometheus.NewRegistry())
		for bkt, v := range map[objstore.Bucket]string{ba: "in a", bb: "in b/c"} {
			if err := bkt.Upload(ctx, "t1/x", strings.NewReader(v)); err != nil {
				t.Fatal(err)
			}
		}
		if got, err := objstore.ReadAll(ctx, ba, "t1/x"); err != nil || string(got) != "in a" {
			t.Fatalf("a reads %q, %v", got, err)
		}
		if err := bb.Delete(ctx, "t1/x"); err != nil {
			t.Fatal(err)
		}
		if got, err := objstore.ReadAll(ctx, ba, "t1/x"); err != nil || string(got) != "in a" {
			t.Fatalf("a reads %q, %v after b deleted its own", got, err)
		}
		if got := list(t, ba, ""); got != "t1/" {
			t.Errorf("a lists %q, want t1/", got)
		}
		if got := list(t, bb, ""); got != "" {
			t.Errorf("b lists %q, want nothing", got)
		}
		if got := list(t, newS3(t, cfg, prometheus.NewRegistry()), ""); got != "a/" {
			t.Errorf("the bucket without prefix lists %q, want a/", got)
		}
	})

	t.Run("multipart upload", func(t *testing.T) {
		ctx := t.Context()
		cfg := srv.NewBucket(t)
		cfg.PartSizeBytes = 5 << 20
		b := newS3(t, cfg, prometheus.NewRegistry())
		want := make([]byte, 40<<20+123)
		rand.Read(want)

		start := time.Now()
		if err := b.Upload(ctx, "big", bytes.NewReader(want)); err != nil {
			t.Fatal(err)
		}
		t.Logf("%d MiB from a *bytes.Reader in %s", len(want)>>20, time.Since(start).Round(time.Millisecond))
		if parts := partsOf(t, srv, cfg, "big"); parts != "9" {
			t.Errorf("uploaded in %q parts, want 9", parts)
		}
		got, err := objstore.ReadAll(ctx, b, "big")
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("read back %d bytes, %v; want the %d uploaded", len(got), err, len(want))
		}

		r, err := b.Open(ctx, "big")
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if objstore.Local(r) {
			t.Error("an S3 object's reads are local")
		}
		across := make([]byte, 1<<20)
		off := int64(5<<20 - 1000) // spans the first two parts
		if _, err := r.ReadAt(across, off); err != nil || !bytes.Equal(across, want[off:off+int64(len(across))]) {
			t.Fatalf("ReadAt across parts: %v or wrong bytes", err)
		}

		stream := want[:12<<20]
		start = time.Now()
		if err := b.Upload(ctx, "stream", struct{ io.Reader }{bytes.NewReader(stream)}); err != nil {
			t.Fatal(err)
		}
		t.Logf("%d MiB from a stream in %s", len(stream)>>20, time.Since(start).Round(time.Millisecond))
		if parts := partsOf(t, srv, cfg, "stream"); parts != "3" {
			t.Errorf("stream uploaded in %q parts, want 3", parts)
		}
		if got, err := objstore.ReadAll(ctx, b, "stream"); err != nil || !bytes.Equal(got, stream) {
			t.Fatalf("read back %d bytes of the stream, %v", len(got), err)
		}
	})

	t.Run("abandoned multipart uploads", func(t *testing.T) {
		ctx := t.Context()
		cfg := srv.NewBucket(t)
		cfg.Prefix = "spanlog/"
		b := newS3(t, cfg, prometheus.NewRegistry())
		core := minio.Core{Client: rawClient(t, srv, cfg)}
		// A writer killed midway leaves an upload with a part in it.
		start := func(key string) string {
			id, err := core.NewMultipartUpload(ctx, cfg.Bucket, key, minio.PutObjectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			part := bytes.Repeat([]byte("p"), 5<<20)
			if _, err := core.PutObjectPart(ctx, cfg.Bucket, key, id, 1, bytes.NewReader(part), int64(len(part)), minio.PutObjectPartOptions{}); err != nil {
				t.Fatal(err)
			}
			return id
		}
		start("spanlog/t1/b1/data.parquet")
		start("spanlog/t2/b2/data.parquet")
		start("other/t1/b3/data.parquet") // not under this bucket's prefix
		if err := b.Upload(ctx, "t1/b1/meta.json", strings.NewReader("{}")); err != nil {
			t.Fatal(err)
		}

		if n, err := b.RemoveAbandonedUploads(ctx, "t1/", time.Now().Add(-time.Hour)); n != 0 || err != nil {
			t.Fatalf("uploads started after the cutoff: removed %d, %v; want none", n, err)
		}
		if n, err := b.RemoveAbandonedUploads(ctx, "t1/", time.Now().Add(time.Minute)); n != 1 || err != nil {
			t.Fatalf("RemoveAbandonedUploads(t1/) = %d, %v; want 1", n, err)
		}
		if got := incompleteUploads(t, core.Client, cfg.Bucket); got != "other/t1/b3/data.parquet spanlog/t2/b2/data.parquet" {
			t.Fatalf("uploads left %q", got)
		}
		if n, err := b.RemoveAbandonedUploads(ctx, "", time.Now().Add(time.Minute)); n != 1 || err != nil {
			t.Fatalf("RemoveAbandonedUploads of the bucket = %d, %v; want 1", n, err)
		}
		if got := incompleteUploads(t, core.Client, cfg.Bucket); got != "other/t1/b3/data.parquet" {
			t.Fatalf("uploads left %q; want only the one outside the prefix", got)
		}
		if _, err := objstore.ReadAll(ctx, b, "t1/b1/meta.json"); err != nil {
			t.Fatalf("a complete object beside an abandoned upload: %v", err)
		}
	})

	t.Run("credentials from the environment", func(t *testing.T) {
		cfg := srv.NewBucket(t)
		t.Setenv("AWS_ACCESS_KEY_ID", cfg.AccessKeyID)
		t.Setenv("AWS_SECRET_ACCESS_KEY", cfg.SecretAccessKey)
		cfg.AccessKeyID, cfg.SecretAccessKey = "", ""
		b := newS3(t, cfg, prometheus.NewRegistry())
		if err := b.Upload(t.Context(), "x", strings.NewReader("x")); err != nil {
			t.Fatalf("upload with credentials from AWS_*: %v", err)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		ctx := t.Context()
		reg := prometheus.NewRegistry()
		b := newS3(t, srv.NewBucket(t), reg)
		if err := b.Upload(ctx, "m", strings.NewReader("0123456789")); err != nil {
			t.Fatal(err)
		}
		if _, err := objstore.ReadAll(ctx, b, "m"); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Get(ctx, "missing"); !objstore.IsNotExist(err) {
			t.Fatalf("Get missing: %v", err)
		}
		r, err := b.Open(ctx, "m")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.ReadAt(make([]byte, 2), 3); err != nil {
			t.Fatal(err)
		}
		list(t, b, "")
		if err := b.Delete(ctx, "m"); err != nil {
			t.Fatal(err)
		}

		got := durationSeries(t, reg)
		want := "delete/ok get/not_found get/ok list/ok open/ok read_at/ok upload/ok"
		if got != want {
			t.Errorf("duration series %q, want %q", got, want)
		}
		for _, op := range []string{"upload", "get", "open", "read_at", "list", "delete"} {
			for _, name := range []string{"spanlog_objstore_request_failures_total", "spanlog_objstore_retries_total"} {
				if v, ok := counter(t, reg, name, op); !ok || v != 0 {
					t.Errorf("%s{operation=%q} = %v (present %v), want 0", name, op, v, ok)
				}
			}
		}
	})
}

// TestS3RetriesThroughOutage stops MinIO under an upload, which must keep
// retrying until MinIO is back and then succeed.
func TestS3RetriesThroughOutage(t *testing.T) {
	srv := miniotest.Start(t)
	cfg := srv.NewBucket(t)
	cfg.MaxRetries = 1000
	cfg.RetryBackoff = 10 * time.Millisecond
	cfg.RetryMaxBackoff = 50 * time.Millisecond
	reg := prometheus.NewRegistry()
	b := newS3(t, cfg, reg)
	want := bytes.Repeat([]byte("survives "), 1<<20)

	srv.Stop()
	done := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Go(func() { done <- b.Upload(t.Context(), "x", bytes.NewReader(want)) })
	t.Cleanup(wg.Wait) // it logs to t: not after t ends, if t fails early
	await(t, "three failed attempts", func() bool {
		v, _ := counter(t, reg, "spanlog_objstore_request_failures_total", "upload")
		return v >= 3
	})
	srv.Restart(t)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("upload across the outage: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("upload still running 30s after MinIO came back")
	}
	if got, err := objstore.ReadAll(t.Context(), b, "x"); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read back %d bytes, %v; want %d", len(got), err, len(want))
	}
	retries, _ := counter(t, reg, "spanlog_objstore_retries_total", "upload")
	failures, _ := counter(t, reg, "spanlog_objstore_request_failures_total", "upload")
	if retries < 3 || retries != failures {
		t.Errorf("%v retries after %v failures; want at least 3, one per failure", retries, failures)
	}
}

// TestS3FailsFastWhenRetryCannotHelp uses a bucket that does not exist:
// S3 answers, and a retry would get the same answer.
func TestS3FailsFastWhenRetryCannotHelp(t *testing.T) {
	srv := miniotest.Start(t)
	reg := prometheus.NewRegistry()
	b := newS3(t, srv.Config("no-such-bucket"), reg)

	err := b.Upload(t.Context(), "x", strings.NewReader("x"))
	if err == nil || objstore.IsNotExist(err) {
		t.Fatalf("upload to a missing bucket: %v, want a bucket error", err)
	}
	if v, _ := counter(t, reg, "spanlog_objstore_request_failures_total", "upload"); v != 1 {
		t.Errorf("%v failed attempts, want 1", v)
	}
	if v, _ := counter(t, reg, "spanlog_objstore_retries_total", "upload"); v != 0 {
		t.Errorf("%v retries, want 0", v)
	}
}

// TestS3AttemptTimeout talks to a server that accepts connections and never
// answers: each attempt must end at its deadline, and the call after its
// retries.
func TestS3AttemptTimeout(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		var held []net.Conn // kept open and silent until the test ends
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	cfg := objstore.DefaultS3Config()
	cfg.Endpoint, cfg.Bucket, cfg.Region = l.Addr().String(), "silent", "us-east-1"
	cfg.AccessKeyID, cfg.SecretAccessKey, cfg.Insecure = "k", "secret", true
	cfg.RequestTimeout = 100 * time.Millisecond
	cfg.MaxRetries = 2
	cfg.RetryBackoff, cfg.RetryMaxBackoff = time.Millisecond, time.Millisecond
	reg := prometheus.NewRegistry()
	b := newS3(t, cfg, reg)

	start := time.Now()
	_, err = b.Open(t.Context(), "x")
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "3 attempts") {
		t.Fatalf("Open on a silent server: %v, want a failure after 3 attempts", err)
	}
	if took < 300*time.Millisecond || took > 5*time.Second {
		t.Errorf("took %s, want about 3 × 100ms", took)
	}
	if v, _ := counter(t, reg, "spanlog_objstore_retries_total", "open"); v != 2 {
		t.Errorf("%v retries, want 2", v)
	}
}

func list(t *testing.T, b objstore.Bucket, prefix string) string {
	t.Helper()
	var names []string
	if err := b.List(t.Context(), prefix, func(n string) error { names = append(names, n); return nil }); err != nil {
		t.Fatal(err)
	}
	return strings.Join(names, " ")
}

// rawClient returns a minio-go client of cfg's server, to do what spanlog
// never does.
func rawClient(t *testing.T, srv *miniotest.Server, cfg objstore.S3Config) *minio.Client {
	t.Helper()
	c, err := minio.New(srv.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(cfg.AccessKeyID, cfg.SecretAccessKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// incompleteUploads lists the keys of bucket's incomplete multipart
// uploads, sorted.
func incompleteUploads(t *testing.T, c *minio.Client, bucket string) string {
	t.Helper()
	var keys []string
	for u := range c.ListIncompleteUploads(t.Context(), bucket, "", true) {
		if u.Err != nil {
			t.Fatal(u.Err)
		}
		keys = append(keys, u.Key)
	}
	slices.Sort(keys)
	return strings.Join(keys, " ")
}

// partsOf returns how many parts S3 says object name was uploaded in, from
// the "-N" suffix of a multipart upload's ETag, or "" for a single PUT.
func partsOf(t *testing.T, srv *miniotest.Server, cfg objstore.S3Config, name string) string {
	t.Helper()
	info, err := rawClient(t, srv, cfg).StatObject(t.Context(), cfg.Bucket, name, minio.StatObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, parts, _ := strings.Cut(info.ETag, "-")
	return parts
}

// durationSeries lists the operation/status pairs of the duration
// histogram, sorted.
func durationSeries(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	var pairs []string
	for _, m := range family(t, reg, "spanlog_objstore_request_duration_seconds") {
		pairs = append(pairs, label(m, "operation")+"/"+label(m, "status"))
	}
	slices.Sort(pairs)
	return strings.Join(pairs, " ")
}

// counter returns the value of counter name for operation op, and whether
// the series exists.
func counter(t *testing.T, reg *prometheus.Registry, name, op string) (float64, bool) {
	t.Helper()
	for _, m := range family(t, reg, name) {
		if label(m, "operation") == op {
			return m.GetCounter().GetValue(), true
		}
	}
	return 0, false
}

func family(t *testing.T, reg *prometheus.Registry, name string) []*dto.Metric {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name {
			return f.GetMetric()
		}
	}
	return nil
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// await fails t unless cond becomes true within 30s.
func await(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("no %s within 30s", what)
		case <-tick.C:
		}
	}
}
