package producer

import (
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
)

// TestRetryHints checks how each protocol tells a client to back off:
// gRPC with a RetryInfo of the exact delay, HTTP with Retry-After in whole
// seconds rounded up, and neither when there is no advice.
func TestRetryHints(t *testing.T) {
	d := &Distributor{logger: slog.New(slog.DiscardHandler)}
	for _, tc := range []struct {
		name       string
		err        error
		grpcCode   codes.Code
		httpCode   int
		retryAfter string
	}{
		{"unavailable", &UnavailableError{Err: errors.New("down"), RetryAfter: 5 * time.Second}, codes.Unavailable, http.StatusServiceUnavailable, "5"},
		{"rounded up", &UnavailableError{Err: errors.New("down"), RetryAfter: 1500 * time.Millisecond}, codes.Unavailable, http.StatusServiceUnavailable, "2"},
		{"under a second", &UnavailableError{Err: errors.New("down"), RetryAfter: time.Millisecond}, codes.Unavailable, http.StatusServiceUnavailable, "1"},
		{"no advice", &UnavailableError{Err: errStopping}, codes.Unavailable, http.StatusServiceUnavailable, ""},
		{"not retryable", &InvalidSpanError{Problem: "bad"}, codes.InvalidArgument, http.StatusBadRequest, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := grpcStatus(tc.err)
			if st.Code() != tc.grpcCode {
				t.Errorf("gRPC code %v, want %v", st.Code(), tc.grpcCode)
			}
			var delay time.Duration
			for _, detail := range st.Details() {
				if info, ok := detail.(*errdetails.RetryInfo); ok {
					delay = info.GetRetryDelay().AsDuration()
				}
			}
			if want := retryAfter(tc.err); delay != want {
				t.Errorf("gRPC RetryInfo delay %v, want %v", delay, want)
			}

			rec := httptest.NewRecorder()
			d.writeError(rec, encoding{mediaType: "application/x-protobuf"}, tc.err)
			if rec.Code != tc.httpCode {
				t.Errorf("HTTP status %d, want %d", rec.Code, tc.httpCode)
			}
			if got := rec.Header().Get("Retry-After"); got != tc.retryAfter {
				t.Errorf("Retry-After %q, want %q", got, tc.retryAfter)
			}
		})
	}
}
