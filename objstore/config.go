package objstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
)

// Config selects and configures a backend.
type Config struct {
	// Backend is "local" (a directory) or "s3". Default local.
	Backend string `yaml:"backend" help:"Object storage backend: local or s3."`
	// Local configures the local-directory backend.
	Local LocalConfig `yaml:"local"`
	// S3 configures the S3 backend.
	S3 S3Config `yaml:"s3"`
}

// LocalConfig configures the local-directory backend.
type LocalConfig struct {
	// Path is the directory holding the objects. Default ./data/blocks.
	Path string `yaml:"path" help:"Directory of the local object store."`
}

// DefaultConfig returns the embedded default: a local directory.
func DefaultConfig() Config {
	return Config{
		Backend: "local",
		Local:   LocalConfig{Path: "./data/blocks"},
		S3:      DefaultS3Config(),
	}
}

// Validate reports a configuration that cannot work. Only the selected
// backend's settings are checked.
func (c Config) Validate() error {
	switch c.Backend {
	case "local":
		if c.Local.Path == "" {
			return errors.New("storage: local backend needs a path")
		}
		return nil
	case "s3":
		return c.S3.Validate()
	}
	return fmt.Errorf("storage: unknown backend %q", c.Backend)
}

// Open opens the configured bucket, as New, and checks that it can be
// used (see S3.Check), so that a process refuses to start on a bucket
// that does not exist or credentials that are wrong.
//
// An S3 that does not answer at all within the check's timeout is no
// reason to refuse: it says nothing wrong of the configuration, and a
// process that exits cannot serve what needs no object storage (queriers
// answer from their live tails, marked PARTIAL; distributors never need
// it). The process starts, with an error logged that says what to check;
// block writes retry and block reads fail until S3 answers.
func Open(ctx context.Context, c Config, reg prometheus.Registerer, logger *slog.Logger) (Bucket, error) {
	b, err := New(c, reg, logger)
	if err != nil {
		return nil, err
	}
	if s3, ok := b.(*S3); ok {
		err := s3.Check(ctx)
		switch {
		case err == nil:
		case errors.Is(err, ErrNoAnswer) && ctx.Err() == nil:
			logger.Error("starting without object storage: block-builders retry their writes and queriers answer from their live tails, marked PARTIAL, until S3 answers", "err", err)
		default:
			return nil, err
		}
	}
	return b, nil
}

// New opens the configured bucket. Only the S3 backend reports metrics to
// reg and logs to logger: the local one has no retries to tell about.
func New(c Config, reg prometheus.Registerer, logger *slog.Logger) (Bucket, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.Backend == "s3" {
		return NewS3(c.S3, reg, logger)
	}
	return NewDir(c.Local.Path)
}
