package tenant

import (
	"errors"
	"fmt"
)

// MaxIDLength is the longest tenant ID accepted, in bytes.
const MaxIDLength = 150

// ErrInvalid is returned (wrapped, with the reason) for a tenant ID that is
// not acceptable. HTTP maps it to 400, gRPC to InvalidArgument.
var ErrInvalid = errors.New("invalid tenant ID")

// ValidateID reports whether id can name a tenant. IDs are used verbatim as
// object-storage path segments, so only characters that are safe in every
// store are allowed (ASCII letters, digits and !-_.*'()), and "." and ".."
// are refused because a file system would read them as directories.
func ValidateID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: empty", ErrInvalid)
	case len(id) > MaxIDLength:
		return fmt.Errorf("%w: %d bytes long, at most %d allowed", ErrInvalid, len(id), MaxIDLength)
	case id == "." || id == "..":
		return fmt.Errorf("%w: %q is not allowed", ErrInvalid, id)
	}
	for i := 0; i < len(id); i++ {
		if !safeByte(id[i]) {
			return fmt.Errorf("%w: %q contains %q; allowed are ASCII letters, digits and !-_.*'()", ErrInvalid, id, id[i])
		}
	}
	return nil
}

func safeByte(b byte) bool {
	switch {
	case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		return true
	}
	switch b {
	case '!', '-', '_', '.', '*', '\'', '(', ')':
		return true
	}
	return false
}
