package schema

import "strconv"

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

// setSearchColumns fills r's search columns from its attributes and its
// resource's.
func (r *SpanRow) setSearchColumns() {
	r.ServiceName = lookupStrAttr(r.ResourceAttrs, KeyServiceName)
	r.HTTPMethod = lookupStrAttr(r.Attrs, keyHTTPMethod, keyHTTPMethodOld)
	r.HTTPURL = lookupStrAttr(r.Attrs, keyURL, keyURLOld)
	if code, ok := lookupIntAttr(r.Attrs, keyHTTPStatusCode, keyHTTPStatusCodeOld); ok {
		r.HTTPStatusCode = &code
	}
}

// findAttr returns the first attribute of attrs named key, as pdata's
// Map.Get finds the first of duplicated keys.
func findAttr(attrs []Attribute, key string) *Attribute {
	for i := range attrs {
		if attrs[i].Key == key {
			return &attrs[i]
		}
	}
	return nil
}

// lookupStrAttr returns the string value of the first key of attrs that
// has one.
func lookupStrAttr(attrs []Attribute, keys ...string) string {
	for _, k := range keys {
		if a := findAttr(attrs, k); a != nil && a.Str != nil {
			return *a.Str
		}
	}
	return ""
}

// lookupIntAttr returns the integer value of the first key of attrs that
// has one. Some instrumentations send status codes as strings; those
// count too.
func lookupIntAttr(attrs []Attribute, keys ...string) (int64, bool) {
	for _, k := range keys {
		a := findAttr(attrs, k)
		switch {
		case a == nil:
		case a.Int != nil:
			return *a.Int, true
		case a.Str != nil:
			if i, err := strconv.ParseInt(*a.Str, 10, 64); err == nil {
				return i, true
			}
		}
	}
	return 0, false
}
