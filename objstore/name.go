package objstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// checkName rejects names that could not mean the same object on every
// backend: a directory cleans "a//b" or "a/./b" into another name and
// cannot hold "a/", while S3 would store them as given.
func checkName(name string) error {
	for seg := range strings.SplitSeq(name, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("invalid object name %q", name)
		}
	}
	return nil
}

// checkPrefix accepts a List prefix: empty, or object-name segments ending
// with "/".
func checkPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	if dir, ok := strings.CutSuffix(prefix, "/"); ok && checkName(dir) == nil {
		return nil
	}
	return fmt.Errorf("invalid list prefix %q: want empty or a name ending with /", prefix)
}

// emitSorted calls fn for each of names in List's order: bytewise, with a
// directory's trailing "/" compared like any byte, as S3 orders keys.
func emitSorted(ctx context.Context, names []string, fn func(name string) error) error {
	slices.Sort(names)
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(name); err != nil {
			return err
		}
	}
	return nil
}
