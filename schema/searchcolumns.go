package schema

import (
	"strconv"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// Attribute keys copied into SpanRow's search columns. Where OpenTelemetry's
// semantic conventions renamed a key, the current name wins over the old
// one, and instrumentation still on the old name is found all the same.
const (
	// KeyServiceName is the resource attribute that names a service,
	// which the service_name column holds and TraceQL's rootServiceName
	// reads.
	KeyServiceName = "service.name"

	keyHTTPMethod        = "http.request.method"
	keyHTTPMethodOld     = "http.method"
	keyHTTPStatusCode    = "http.response.status_code"
	keyHTTPStatusCodeOld = "http.status_code"
	keyURL               = "url.full"
	keyURLOld            = "http.url"
)

// StringSearchColumn returns the search column that holds the attribute
// key of a span (or of its resource) whenever that is a non-empty string,
// and "" when no column does. A condition on the attribute that the empty
// string fails, and values of other types fail, can be judged from the
// column: a span that passes on the attribute passes on the column. The
// columns under renamed keys are not for the old name: a span with both
// keys has the new one's value in the column.
func StringSearchColumn(resource bool, key string) string {
	switch {
	case resource && key == KeyServiceName:
		return ColumnServiceName
	case !resource && key == keyHTTPMethod:
		return ColumnHTTPMethod
	case !resource && key == keyURL:
		return ColumnHTTPURL
	}
	return ""
}

// StringSearchValue returns r's value of the string search column named
// column, "" for a null or an unknown column.
func (r *SpanRow) StringSearchValue(column string) string {
	switch column {
	case ColumnServiceName:
		return r.ServiceName
	case ColumnHTTPMethod:
		return r.HTTPMethod
	case ColumnHTTPURL:
		return r.HTTPURL
	}
	return ""
}

// setSearchColumns fills r's search columns from the span's and the
// resource's attributes.
func (r *SpanRow) setSearchColumns(span, resource pcommon.Map) {
	r.ServiceName = lookupStr(resource, KeyServiceName)
	r.HTTPMethod = lookupStr(span, keyHTTPMethod, keyHTTPMethodOld)
	r.HTTPURL = lookupStr(span, keyURL, keyURLOld)
	r.HTTPStatusCode = lookupInt(span, keyHTTPStatusCode, keyHTTPStatusCodeOld)
}

// lookupStr returns the string value of the first key of m that has one.
func lookupStr(m pcommon.Map, keys ...string) string {
	for _, k := range keys {
		if v, ok := m.Get(k); ok && v.Type() == pcommon.ValueTypeStr {
			return v.Str()
		}
	}
	return ""
}

// lookupInt returns the integer value of the first key of m that has one.
// Some instrumentations send status codes as strings; those count too.
func lookupInt(m pcommon.Map, keys ...string) *int64 {
	for _, k := range keys {
		v, ok := m.Get(k)
		if !ok {
			continue
		}
		switch v.Type() {
		case pcommon.ValueTypeInt:
			i := v.Int()
			return &i
		case pcommon.ValueTypeStr:
			if i, err := strconv.ParseInt(v.Str(), 10, 64); err == nil {
				return &i
			}
		}
	}
	return nil
}
