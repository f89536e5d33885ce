package live

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

// An owner that no longer holds a partition answers 421; the asker takes
// it for ErrNotOwned, and learns the owners again.
func TestMisdirectedAnswerIsNotOwned(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, ErrNotOwned.Error(), http.StatusMisdirectedRequest)
	}))
	defer srv.Close()
	logger := slog.New(slog.DiscardHandler)
	ts := &Tails{
		cfg:     Config{PeerTimeout: 5 * time.Second, PeerMaxResponseBytes: 1 << 20},
		logger:  logger,
		metrics: newMetrics(prometheus.NewRegistry(), logger),
		peers:   srv.Client(),
	}
	q := Query{Tenants: []string{"t"}, IDs: []pcommon.TraceID{{15: 1}}}
	_, _, err := ts.askOwner(context.Background(), strings.TrimPrefix(srv.URL, "http://"), q, KindSpans, nil, []int32{1})
	if !errors.Is(err, ErrNotOwned) {
		t.Fatalf("asking an owner that answers 421: %v, want ErrNotOwned", err)
	}
}
