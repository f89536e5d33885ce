package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
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
	if err := checkName(name); err != nil {
		return "", err
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
	f, _, err := d.open(name)
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return f, nil
}

// Open implements Bucket.
func (d *Dir) Open(_ context.Context, name string) (ReaderAt, error) {
	f, size, err := d.open(name)
	if err != nil {
		return nil, err
	}
	return &fileReaderAt{File: f, size: size}, nil
}

// open opens the file of object name and returns its size. A directory
// is where names share a prefix, as in S3, not an object.
func (d *Dir) open(name string) (*os.File, int64, error) {
	p, err := d.path(name)
	if err != nil {
		return nil, 0, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, 0, notExist(name, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("open %s: %w", name, err)
	}
	if st.IsDir() {
		f.Close()
		return nil, 0, fmt.Errorf("%s: %w", name, ErrNotExist)
	}
	return f, st.Size(), nil
}

type fileReaderAt struct {
	*os.File
	size int64
}

func (f *fileReaderAt) Size() int64 { return f.size }

// Local says a file's reads are local (see objstore.Local).
func (f *fileReaderAt) Local() bool { return true }

// List implements Bucket.
func (d *Dir) List(ctx context.Context, prefix string, fn func(string) error) error {
	if err := checkPrefix(prefix); err != nil {
		return err
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
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		name := prefix + e.Name()
		switch {
		case e.IsDir():
			name += "/"
		case strings.HasSuffix(name, tmpSuffix):
			continue
		}
		names = append(names, name)
	}
	// ReadDir's order puts directory "b" before object "b.x".
	return emitSorted(ctx, names, fn)
}

// Delete implements Bucket.
func (d *Dir) Delete(_ context.Context, name string) error {
	p, err := d.path(name)
	if err != nil {
		return err
	}
	if st, err := os.Stat(p); err == nil && st.IsDir() {
		return nil // a directory is not an object, so there is none to delete
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	d.pruneDirs(filepath.Dir(p))
	return nil
}

// pruneDirs removes dir and its parents below the root while they are
// empty. Directories are an artefact of this backend, not objects: the
// ones left empty must go for List to match a real object store.
func (d *Dir) pruneDirs(dir string) {
	for ; dir != filepath.Clean(d.root); dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil {
			break
		}
	}
}

// Attributes implements Bucket. LastModified is the file's modification
// time: when the upload that wrote it last wrote to its temporary file.
func (d *Dir) Attributes(_ context.Context, name string) (Attributes, error) {
	f, _, err := d.open(name)
	if err != nil {
		return Attributes{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Attributes{}, fmt.Errorf("attributes of %s: %w", name, err)
	}
	return Attributes{Size: st.Size(), LastModified: st.ModTime()}, nil
}

// RemoveAbandonedUploads implements Bucket: it removes the temporary
// files under prefix last written before cutoff, which an upload a crash
// cut short leaves behind; an upload in progress writes its file all
// along.
func (d *Dir) RemoveAbandonedUploads(ctx context.Context, prefix string, cutoff time.Time) (int, error) {
	if err := checkPrefix(prefix); err != nil {
		return 0, err
	}
	root := d.root
	if prefix != "" {
		p, err := d.path(strings.TrimSuffix(prefix, "/"))
		if err != nil {
			return 0, err
		}
		root = p
	}
	removed := 0
	err := filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil // gone meanwhile, or no such prefix
		case err != nil:
			return err
		case ctx.Err() != nil:
			return ctx.Err()
		case e.IsDir() || !strings.HasSuffix(e.Name(), tmpSuffix):
			return nil
		}
		info, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil || !info.ModTime().Before(cutoff) {
			return err
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		removed++
		d.pruneDirs(filepath.Dir(path))
		return nil
	})
	if err != nil {
		return removed, fmt.Errorf("remove abandoned uploads under %q: %w", prefix, err)
	}
	return removed, nil
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
