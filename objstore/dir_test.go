package objstore_test

import (
	"testing"

	"github.com/spanlog/spanlog/objstore"
	"github.com/spanlog/spanlog/objstore/objstoretest"
)

func TestDirContract(t *testing.T) {
	objstoretest.Contract(t, func(t *testing.T) objstore.Bucket {
		b, err := objstore.NewDir(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}
