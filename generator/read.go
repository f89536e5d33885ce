package generator

import (
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/spanlog/spanlog/schema"
)

// recordReader decodes records into the rows a deriver reads, as little
// as the decoder allows: lean (schema.RowDecoder.Lean: of the attributes,
// only those the deriver reads), the strings borrowed from the record's
// value (Borrow: none interned or allocated; the deriver copies the few
// it keeps, through d.own), each record's rows in the memory of the last
// one's (Recycle: the deriver keeps no row). What is left out is still
// read and checked, so a record fails here exactly where it fails for
// every reader.
type recordReader struct {
	dec  schema.RowDecoder
	rows []schema.SpanRow
}

func newRecordReader(d *deriver) *recordReader {
	return &recordReader{dec: schema.RowDecoder{Lean: d.keeps, Borrow: true}}
}

// read returns the tenant and the spans of r, a record of the log whose
// tenancy is t (see schema.DecodeRecordRows): no rows with an error. The
// rows hold until the next read.
func (rr *recordReader) read(r *kgo.Record, t schema.RecordTenancy) (string, []schema.SpanRow, error) {
	rr.dec.Recycle()
	tn, rows, err := schema.DecodeRecordRows(&rr.dec, rr.rows[:0], r, t)
	rr.rows = rows
	if err != nil {
		return tn, nil, err
	}
	return tn, rows, nil
}
