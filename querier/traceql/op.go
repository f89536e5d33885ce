package traceql

// Op is a comparison operator.
type Op uint8

// The comparison operators. OpExists is written field != nil, and
// OpNotExists field = nil.
const (
	OpEqual Op = iota + 1
	OpNotEqual
	OpGreater
	OpGreaterEqual
	OpLess
	OpLessEqual
	OpRegex
	OpNotRegex
	OpExists
	OpNotExists
)

var opNames = [...]string{
	OpEqual: "=", OpNotEqual: "!=", OpGreater: ">", OpGreaterEqual: ">=",
	OpLess: "<", OpLessEqual: "<=", OpRegex: "=~", OpNotRegex: "!~", OpExists: "!= nil",
	OpNotExists: "= nil",
}

func (op Op) String() string { return opNames[op] }

// comparisonOps maps comparison tokens to operators.
var comparisonOps = map[tokenKind]Op{
	tokEq: OpEqual, tokNeq: OpNotEqual, tokGt: OpGreater, tokGte: OpGreaterEqual,
	tokLt: OpLess, tokLte: OpLessEqual, tokRe: OpRegex, tokNre: OpNotRegex,
}

// mirrored returns the operator that gives the same answer with its
// operands swapped: 5 < x is x > 5.
func (op Op) mirrored() Op {
	switch op {
	case OpGreater:
		return OpLess
	case OpGreaterEqual:
		return OpLessEqual
	case OpLess:
		return OpGreater
	case OpLessEqual:
		return OpGreaterEqual
	}
	return op
}

// holds reports whether op holds for a comparison result c (negative, zero
// or positive, like cmp.Compare).
func (op Op) holds(c int) bool {
	switch op {
	case OpEqual:
		return c == 0
	case OpNotEqual:
		return c != 0
	case OpGreater:
		return c > 0
	case OpGreaterEqual:
		return c >= 0
	case OpLess:
		return c < 0
	case OpLessEqual:
		return c <= 0
	}
	return false
}
