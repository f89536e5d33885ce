package tenant

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestValidateID(t *testing.T) {
	for _, tc := range []struct {
		id string
		ok bool
	}{
		{"team-a", true},
		{"A.b_c!d*e'f(g)h-1", true},
		{"...", true},
		{strings.Repeat("x", MaxIDLength), true},
		{"", false},
		{".", false},
		{"..", false},
		{strings.Repeat("x", MaxIDLength+1), false},
		{"a/b", false},
		{"a b", false},
		{"a|b", false},
		{"a\\b", false},
		{"é", false},
		{"a\x00", false},
	} {
		err := ValidateID(tc.id)
		if tc.ok != (err == nil) {
			t.Errorf("ValidateID(%q) = %v, want ok=%v", tc.id, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("ValidateID(%q) = %v, want ErrInvalid", tc.id, err)
		}
	}
}

func TestWrite(t *testing.T) {
	single := DefaultConfig()
	multi := Config{MultiTenancy: true, Default: "single-tenant"}
	for _, tc := range []struct {
		name    string
		cfg     Config
		header  string
		want    string
		wantErr error
	}{
		{"single ignores header", single, "team-a", "single-tenant", nil},
		{"single without header", single, "", "single-tenant", nil},
		{"multi", multi, "team-a", "team-a", nil},
		{"multi missing", multi, "", "", ErrMissing},
		{"multi several", multi, "a|b", "", ErrInvalid},
		{"multi unsafe", multi, "../x", "", ErrInvalid},
		{"multi two headers", multi, HeaderValue([]string{"team-a", "team-b"}), "", ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.cfg.Write(tc.header)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("Write(%q) error = %v, want %v", tc.header, err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("Write(%q) = %q, want %q", tc.header, got, tc.want)
			}
		})
	}
}

func TestRead(t *testing.T) {
	single := DefaultConfig()
	multi := Config{MultiTenancy: true, Default: "single-tenant"}
	for _, tc := range []struct {
		name    string
		cfg     Config
		header  string
		want    []string
		wantErr error
	}{
		{"single", single, "a|b", []string{"single-tenant"}, nil},
		{"multi one", multi, "a", []string{"a"}, nil},
		{"multi several", multi, "b|a", []string{"b", "a"}, nil},
		{"multi dedupe", multi, "a|b|a|b", []string{"a", "b"}, nil},
		{"multi missing", multi, "", nil, ErrMissing},
		{"multi empty part", multi, "a||b", nil, ErrInvalid},
		{"multi trailing separator", multi, "a|", nil, ErrInvalid},
		{"multi dot-dot", multi, "a|..", nil, ErrInvalid},
		{"multi one header", multi, HeaderValue([]string{"a|b"}), []string{"a", "b"}, nil},
		{"multi two headers", multi, HeaderValue([]string{"a", "b"}), nil, ErrInvalid},
		{"multi two equal headers", multi, HeaderValue([]string{"a", "a"}), nil, ErrInvalid},
		{"single two headers", single, HeaderValue([]string{"a", "b"}), []string{"single-tenant"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.cfg.Read(tc.header)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("Read(%q) error = %v, want %v", tc.header, err, tc.wantErr)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Read(%q) = %q, want %q", tc.header, got, tc.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"default", DefaultConfig(), true},
		{"multi", Config{MultiTenancy: true, Default: "x"}, true},
		{"empty default", Config{}, false},
		{"unsafe default", Config{Default: "a/b"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.cfg.Validate(); tc.ok != (err == nil) {
				t.Errorf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
