package objstore

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"time"

	"github.com/minio/minio-go/v7"
)

// minio-go's own retries are off (MaxRetries 1 in NewS3): this loop is the
// only one, so attempts are counted, bounded and timed in one place.

// call runs attempt until it succeeds, fails in a way a retry cannot fix,
// runs out of retries or ctx ends, and records the call's metrics. attempt
// bounds its own duration (see attemptContext). name is the object or
// prefix the error message names.
func (s *S3) call(ctx context.Context, op, name string, attempt func() error) error {
	start := time.Now()
	n, err := s.attempts(ctx, op, name, attempt)
	status := statusOK
	switch {
	case isNoSuchKey(err):
		status = statusNotFound
		err = fmt.Errorf("s3 %s %s: %w", op, name, ErrNotExist)
	case err != nil && n > 1:
		status = statusError
		err = fmt.Errorf("s3 %s %s (%d attempts): %w", op, name, n, err)
	case err != nil:
		status = statusError
		err = fmt.Errorf("s3 %s %s: %w", op, name, err)
	}
	s.metrics.duration.WithLabelValues(op, status).Observe(time.Since(start).Seconds())
	return err
}

// attempts runs the retry loop of call and returns how many attempts it
// made.
func (s *S3) attempts(ctx context.Context, op, name string, attempt func() error) (int, error) {
	for n := 1; ; n++ {
		err := attempt()
		if err == nil || isNoSuchKey(err) {
			return n, err
		}
		s.metrics.failures.WithLabelValues(op).Inc()
		if ctx.Err() != nil {
			return n, err
		}
		if n > s.cfg.MaxRetries || !retryable(err) {
			return n, err
		}
		wait := backoff(n, s.cfg.RetryBackoff, s.cfg.RetryMaxBackoff)
		s.logger.Warn("object store call failed, retrying", "operation", op, "name", name,
			"attempt", n, "retryIn", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return n, fmt.Errorf("%w; gave up: %w", err, context.Cause(ctx))
		case <-t.C:
		}
		s.metrics.retries.WithLabelValues(op).Inc()
	}
}

// attemptContext bounds one attempt that transfers about size bytes:
// RequestTimeout for each PartSizeBytes of them, and at least once.
func (s *S3) attemptContext(ctx context.Context, size int64) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.attemptTimeout(size))
}

func (s *S3) attemptTimeout(size int64) time.Duration {
	parts := max(1, (size+s.cfg.PartSizeBytes-1)/s.cfg.PartSizeBytes)
	return s.cfg.RequestTimeout * time.Duration(parts)
}

// backoff is the wait before retry n (from 1): uniformly random up to
// min(hi, lo·2ⁿ⁻¹). Jitter over the whole range spreads out the clients
// that failed together, so they do not come back together.
func backoff(n int, lo, hi time.Duration) time.Duration {
	limit := lo
	for i := 1; i < n && limit < hi; i++ {
		limit *= 2
	}
	return rand.N(min(limit, hi)) + 1
}

// permanentError marks a failure that retryable must not retry whatever
// its cause, such as one that consumed a body that cannot be read again.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// retryable reports whether another attempt might succeed where the one
// that returned err failed: S3's answers that say so (5xx, throttling,
// request timeouts) and trouble on the way (network errors, the attempt's
// deadline, a cut-off body). Any other answer of S3 (4xx: access denied,
// no such bucket...), a certificate that does not verify or a request
// minio-go refuses to make would fail the same way again.
func retryable(err error) bool {
	if _, ok := errors.AsType[*permanentError](err); ok {
		return false
	}
	if resp, ok := errors.AsType[minio.ErrorResponse](err); ok {
		switch resp.Code {
		case "RequestTimeout", "InternalError", "ServiceUnavailable", "SlowDown", "SlowDownRead",
			"SlowDownWrite", "Throttling", "ThrottlingException", "RequestLimitExceeded",
			"RequestThrottled", "ExpiredToken", "ExpiredTokenException":
			return true
		}
		return resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests ||
			resp.StatusCode == http.StatusRequestTimeout
	}
	if _, ok := errors.AsType[*tls.CertificateVerificationError](err); ok {
		return false
	}
	if _, ok := errors.AsType[net.Error](err); ok {
		return true // connection refused or reset, DNS, a deadline
	}
	// attempts calls this only while the caller's context is alive, so a
	// context error is the end of the attempt's own.
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

// isNoSuchKey reports whether S3 answered that the object does not exist.
func isNoSuchKey(err error) bool {
	resp, ok := errors.AsType[minio.ErrorResponse](err)
	return ok && resp.Code == minio.NoSuchKey
}
