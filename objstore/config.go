package objstore

import (
	"errors"
	"fmt"
)

// Config selects and configures a backend.
type Config struct {
	// Backend is "local" (a directory). Default local.
	Backend string `yaml:"backend" help:"Object storage backend: local."`
	// Local configures the local-directory backend.
	Local LocalConfig `yaml:"local"`
}

// LocalConfig configures the local-directory backend.
type LocalConfig struct {
	// Path is the directory holding the objects. Default ./data/blocks.
	Path string `yaml:"path" help:"Directory of the local object store."`
}

// DefaultConfig returns the embedded default: a local directory.
func DefaultConfig() Config {
	return Config{Backend: "local", Local: LocalConfig{Path: "./data/blocks"}}
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	switch c.Backend {
	case "local":
		if c.Local.Path == "" {
			return errors.New("storage: local backend needs a path")
		}
		return nil
	}
	return fmt.Errorf("storage: unknown backend %q", c.Backend)
}

// New opens the configured bucket.
func New(c Config) (Bucket, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return NewDir(c.Local.Path)
}
