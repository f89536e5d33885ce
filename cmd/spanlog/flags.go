package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Every setting is declared once, as a struct field with a yaml tag and a
// help tag. Its YAML key is the tag; its flag is the dotted path of tags
// from the root (kafka.brokers, block-builder.cycle-duration); its default
// is whatever the field holds when flags are registered.

// configFileFlag names the YAML file; it is read before the other flags so
// that flags override the file and the file overrides the defaults.
const configFileFlag = "config.file"

// loadConfig fills cfg (holding the defaults) from the YAML file named by
// -config.file, if any, then from the command line.
func loadConfig(cfg any, fs *flag.FlagSet, args []string) error {
	path, err := findConfigFile(args)
	if err != nil {
		return err
	}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("read config: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true) // a misspelt key is an error, not a silent default
		// io.EOF: an empty file, which leaves every default in place.
		if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("parse config %s: %w", path, err)
		}
	}
	fs.String(configFileFlag, "", "YAML configuration file; flags override its values.")
	if err := registerFlags(fs, "", reflect.ValueOf(cfg).Elem()); err != nil {
		return err
	}
	return fs.Parse(args)
}

// findConfigFile returns the value of -config.file in args without parsing
// the rest.
func findConfigFile(args []string) (string, error) {
	for i, a := range args {
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != configFileFlag {
			continue
		}
		if hasValue {
			return value, nil
		}
		if i+1 == len(args) {
			return "", fmt.Errorf("flag -%s needs a value", configFileFlag)
		}
		return args[i+1], nil
	}
	return "", nil
}

// registerFlags adds a flag for every tagged leaf field of v.
func registerFlags(fs *flag.FlagSet, prefix string, v reflect.Value) error {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		key, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		field := v.Field(i)
		if key == "" && opts == "inline" && f.Type.Kind() == reflect.Struct {
			// Its keys are the parent's, in YAML and so in flags.
			if err := registerFlags(fs, prefix, field); err != nil {
				return err
			}
			continue
		}
		if key == "" || key == "-" {
			continue
		}
		name := prefix + key
		if f.Type.Kind() == reflect.Struct {
			if err := registerFlags(fs, name+".", field); err != nil {
				return err
			}
			continue
		}
		help := f.Tag.Get("help")
		if help == "" {
			return fmt.Errorf("config field %s has no help tag", name)
		}
		val, err := newFlagValue(field)
		if err != nil {
			return fmt.Errorf("config field %s: %w", name, err)
		}
		fs.Var(val, name, help)
	}
	return nil
}

// flagValue adapts one config field to flag.Value.
type flagValue struct {
	field reflect.Value
}

var durationType = reflect.TypeFor[time.Duration]()

func newFlagValue(field reflect.Value) (*flagValue, error) {
	switch field.Kind() {
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Float64:
		return &flagValue{field}, nil
	case reflect.Slice:
		if k := field.Type().Elem().Kind(); k == reflect.String || k == reflect.Float64 {
			return &flagValue{field}, nil
		}
	}
	return nil, fmt.Errorf("unsupported type %s", field.Type())
}

func (v *flagValue) String() string {
	if !v.field.IsValid() {
		return "" // the zero flagValue flag.PrintDefaults makes
	}
	switch {
	case v.field.Type() == durationType:
		return time.Duration(v.field.Int()).String()
	case v.field.Kind() == reflect.Slice:
		items := make([]string, v.field.Len())
		for i := range items {
			items[i] = fmt.Sprint(v.field.Index(i).Interface())
		}
		return strings.Join(items, ",")
	}
	return fmt.Sprint(v.field.Interface())
}

func (v *flagValue) Set(s string) error {
	f := v.field
	switch {
	case f.Type() == durationType:
		d, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		f.SetInt(int64(d))
	case f.Kind() == reflect.String:
		f.SetString(s)
	case f.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return err
		}
		f.SetBool(b)
	case f.Kind() == reflect.Float64:
		x, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return err
		}
		f.SetFloat(x)
	case f.Kind() == reflect.Slice:
		items := reflect.MakeSlice(f.Type(), 0, 0)
		for item := range strings.SplitSeq(s, ",") {
			if item = strings.TrimSpace(item); item == "" {
				continue
			}
			if f.Type().Elem().Kind() == reflect.String {
				items = reflect.Append(items, reflect.ValueOf(item))
				continue
			}
			x, err := strconv.ParseFloat(item, 64)
			if err != nil {
				return err
			}
			items = reflect.Append(items, reflect.ValueOf(x))
		}
		f.Set(items)
	default: // the integer kinds newFlagValue admits
		n, err := strconv.ParseInt(s, 0, f.Type().Bits())
		if err != nil {
			return err
		}
		f.SetInt(n)
	}
	return nil
}

// IsBoolFlag lets boolean settings be given as -flag without a value.
func (v *flagValue) IsBoolFlag() bool { return v.field.IsValid() && v.field.Kind() == reflect.Bool }
