package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Dir is a Bucket in a local directory: object "a/b" is file DIR/a/b.
// Uploads write a temporary file, sync it and rename it into place, so a
// crash leaves either the old object or the new one.
type Dir struct {
	root string
}

// tmpSuffix marks files being uploaded; List never returns them.
const tmpSuffix = ".spanlog-tmp"

// NewDir returns a Bucket rooted at dir, creating dir if needed.
func NewDir(dir string) (*Dir, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("object store dir: %w", err)
	}
	return &Dir{root: dir}, nil
}

func (d *Dir) path(name string) (string, error) {
	if name == "" || strings.HasPrefix(name, "/") || slices.Contains(strings.Split(name, "/"), "..") {
		return "", fmt.Errorf("invalid object name %q", name)
	}
	return filepath.Join(d.root, filepath.FromSlash(name)), nil
}

func notExist(name string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: %w", name, ErrNotExist)
	}
	return err
}

// Upload implements Bucket.
func (d *Dir) Upload(ctx context.Context, name string, r io.Reader) error {
	p, err := d.path(name)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(p), filepath.Base(p)+".*"+tmpSuffix)
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if _, err := io.Copy(f, ctxReader{ctx, r}); err != nil {
		f.Close()
		return fmt.Errorf("upload %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("upload %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("upload %s: %w", name, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return fmt.Errorf("upload %s: %w", name, err)
	}
	return syncDir(filepath.Dir(p))
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// Get implements Bucket.
func (d *Dir) Get(_ context.Context, name string) (io.ReadCloser, error) {
	p, err := d.path(name)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, notExist(name, err)
	}
	return f, nil
}

// Open implements Bucket.
func (d *Dir) Open(_ context.Context, name string) (ReaderAt, error) {
	p, err := d.path(name)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, notExist(name, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &fileReaderAt{File: f, size: st.Size()}, nil
}

type fileReaderAt struct {
	*os.File
	size int64
}

func (f *fileReaderAt) Size() int64 { return f.size }

// List implements Bucket.
func (d *Dir) List(ctx context.Context, prefix string, fn func(string) error) error {
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		return fmt.Errorf("list prefix %q must end with /", prefix)
	}
	dir := d.root
	if prefix != "" {
		p, err := d.path(strings.TrimSuffix(prefix, "/"))
		if err != nil {
			return err
		}
		dir = p
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries { // ReadDir sorts by name
		if err := ctx.Err(); err != nil {
			return err
		}
		name := prefix + e.Name()
		switch {
		case e.IsDir():
			name += "/"
		case strings.HasSuffix(name, tmpSuffix):
			continue
		}
		if err := fn(name); err != nil {
			return err
		}
	}
	return nil
}

// Delete implements Bucket.
func (d *Dir) Delete(_ context.Context, name string) error {
	p, err := d.path(name)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	// Directories are an artefact of this backend, not objects: drop the
	// ones left empty so List matches a real object store.
	for dir := filepath.Dir(p); dir != filepath.Clean(d.root); dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil {
			break
		}
	}
	return nil
}

// ctxReader stops a copy when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
