package objstore

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
)

func TestRetryable(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"no such key", minio.ErrorResponse{Code: "NoSuchKey", StatusCode: 404}, false},
		{"no such bucket", minio.ErrorResponse{Code: "NoSuchBucket", StatusCode: 404}, false},
		{"access denied", minio.ErrorResponse{Code: "AccessDenied", StatusCode: 403}, false},
		{"changed since open", minio.ErrorResponse{Code: "PreconditionFailed", StatusCode: 412}, false},
		{"refused by minio-go", minio.ErrorResponse{Code: "InvalidArgument", StatusCode: 400}, false},
		{"slow down", minio.ErrorResponse{Code: "SlowDown", StatusCode: 503}, true},
		{"internal error", minio.ErrorResponse{Code: "InternalError", StatusCode: 500}, true},
		{"any 5xx", minio.ErrorResponse{Code: "XMinioServerNotInitialized", StatusCode: 503}, true},
		{"too many requests", minio.ErrorResponse{StatusCode: 429}, true},
		{"request timeout on a 400", minio.ErrorResponse{Code: "RequestTimeout", StatusCode: 400}, true},
		{"wrapped answer", fmt.Errorf("put: %w", minio.ErrorResponse{StatusCode: 502}), true},
		{"connection refused", &url.Error{Op: "Put", URL: "http://s3", Err: &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}}, true},
		{"attempt deadline", context.DeadlineExceeded, true},
		{"attempt cancelled", context.Canceled, true},
		{"cut-off body", io.ErrUnexpectedEOF, true},
		{"certificate", &url.Error{Op: "Get", URL: "https://s3", Err: &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}}, false},
		{"permanent", &permanentError{io.ErrUnexpectedEOF}, false},
		{"anything else", errors.New("boom"), false},
	} {
		if got := retryable(c.err); got != c.want {
			t.Errorf("%s: retryable(%v) = %v, want %v", c.name, c.err, got, c.want)
		}
	}
}

func TestBackoffStaysUnderItsCap(t *testing.T) {
	const lo, hi = 100 * time.Millisecond, time.Second
	for n, limit := range map[int]time.Duration{1: lo, 2: 2 * lo, 4: 8 * lo, 5: hi, 1000: hi} {
		var longest time.Duration
		for range 1000 {
			d := backoff(n, lo, hi)
			if d <= 0 || d > limit {
				t.Fatalf("backoff(%d) = %s, want in (0, %s]", n, d, limit)
			}
			longest = max(longest, d)
		}
		if longest < limit/2 {
			t.Errorf("backoff(%d) never above %s in 1000 draws up to %s: not the full range", n, longest, limit)
		}
	}
}

func TestAttemptTimeoutGrowsPerPart(t *testing.T) {
	s := &S3{cfg: S3Config{RequestTimeout: time.Second, PartSizeBytes: 100}}
	for size, want := range map[int64]time.Duration{0: time.Second, 100: time.Second, 101: 2 * time.Second, 1000: 10 * time.Second} {
		if got := s.attemptTimeout(size); got != want {
			t.Errorf("attemptTimeout(%d) = %s, want %s", size, got, want)
		}
	}
}
