package loadgentest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// NewHTTP starts an OTLP/HTTP receiver taking protobuf on /v1/traces,
// stopped when the test ends.
func NewHTTP(t testing.TB, opts Options) *Receiver {
	t.Helper()
	r := &Receiver{opts: opts}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/traces", r.serveHTTP)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	r.Endpoint = strings.TrimPrefix(srv.URL, "http://")
	return r
}

func (r *Receiver) serveHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	otlp := ptraceotlp.NewExportRequest()
	if err := otlp.UnmarshalProto(body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	i := r.receive(req.Header.Get("X-Scope-OrgID"), otlp.Traces())
	reply := r.answer(req.Context(), i)
	resp := ptraceotlp.NewExportResponse()
	switch reply {
	case ReplyFailed:
		http.Error(w, "loadgentest: failing this request on purpose", http.StatusServiceUnavailable)
		return
	case ReplyPartial:
		resp.PartialSuccess().SetRejectedSpans(1)
		resp.PartialSuccess().SetErrorMessage("loadgentest: rejecting one span on purpose")
	}
	out, err := resp.MarshalProto()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}
