package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/term"
)

// Output formats of the tools that print an answer.
const (
	formatTable = "table"
	formatJSON  = "json"
)

// output is where a tool prints its answer, and how: tables for a person,
// or JSON (-o json) for a program. On a terminal a table fits the
// terminal's width, its widest free-text column cut short; piped, it is
// printed whole, so that grep and awk see every value.
type output struct {
	w    io.Writer
	json bool
	// width is the terminal's width in columns, 0 when w is not a
	// terminal.
	width int
}

func newOutput(w io.Writer, format string) (*output, error) {
	o := &output{w: w}
	switch format {
	case formatTable:
	case formatJSON:
		o.json = true
	default:
		return nil, fmt.Errorf("-o %q: want %s or %s", format, formatTable, formatJSON)
	}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		if width, _, err := term.GetSize(int(f.Fd())); err == nil {
			o.width = width
		}
	}
	return o, nil
}

// printJSON prints v as indented JSON.
func (o *output) printJSON(v any) error {
	enc := json.NewEncoder(o.w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printf prints a line of text around a table.
func (o *output) printf(format string, args ...any) {
	fmt.Fprintf(o.w, format, args...)
}

// table is a table being printed: columns aligned, two spaces apart.
type table struct {
	// header is the first line; none when empty (a list of key-value
	// pairs).
	header []string
	rows   [][]string
	// elastic is the column cut short when the table is wider than the
	// terminal: free text (a span name), never an ID or a number.
	elastic int
}

func newTable(elastic int, header ...string) *table {
	return &table{header: header, elastic: elastic}
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

// minElastic is the narrowest the elastic column is cut to, whatever the
// terminal's width: past that, lines wrap rather than lose the column.
const minElastic = 12

// print prints t to o, fitting o's width if it has one.
func (t *table) print(o *output) {
	lines := t.rows
	if len(t.header) > 0 {
		lines = append([][]string{t.header}, t.rows...)
	}
	var widths []int
	for _, row := range lines {
		for i, c := range row {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	if o.width > 0 && t.elastic < len(widths) {
		total := 2 * (len(widths) - 1)
		for _, w := range widths {
			total += w
		}
		if over := total - o.width; over > 0 {
			widths[t.elastic] = max(widths[t.elastic]-over, min(widths[t.elastic], minElastic))
		}
	}
	var b strings.Builder
	for _, row := range lines {
		b.Reset()
		for i, c := range row {
			if i == t.elastic {
				c = cut(c, widths[i])
			}
			b.WriteString(c)
			if i < len(row)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c)+2))
			}
		}
		fmt.Fprintln(o.w, strings.TrimRight(b.String(), " "))
	}
}

// cut shortens s to width runes, marking the cut with an ellipsis.
func cut(s string, width int) string {
	if utf8.RuneCountInString(s) <= width {
		return s
	}
	r := []rune(s)
	return string(r[:max(width-1, 0)]) + "…"
}

// parseToolArgs parses args with fs, flags and positional arguments in
// any order (spanlog blocks inspect <id> -o json), and returns the
// positional arguments. parse parses up to the first of them: fs.Parse, or
// loadConfig, which reads the configuration file first. An argument "--"
// ends the flags. After -help it returns flag.ErrHelp, for the tool to
// exit 0.
func parseToolArgs(fs *flag.FlagSet, args []string, parse func([]string) error) ([]string, error) {
	if err := parse(args); err != nil {
		return nil, err
	}
	var positional []string
	for {
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
	}
}

// setToolUsage has -help print usage and the flags fs holds now, and
// those of more that are registered later: a tool's own flags, not the
// hundred of the server's configuration it also takes.
func setToolUsage(fs *flag.FlagSet, w io.Writer, usage string, more ...string) {
	own := make(map[string]bool)
	fs.VisitAll(func(f *flag.Flag) { own[f.Name] = true })
	for _, name := range more {
		own[name] = true
	}
	fs.Usage = func() {
		fmt.Fprint(w, usage)
		fs.VisitAll(func(f *flag.Flag) {
			if !own[f.Name] {
				return
			}
			fmt.Fprintf(w, "  -%s\n    \t%s", f.Name, f.Usage)
			if f.DefValue != "" && f.DefValue != "false" {
				fmt.Fprintf(w, " (default %s)", f.DefValue)
			}
			fmt.Fprintln(w)
		})
	}
}

// humanBytes formats a size in bytes in binary units.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// timeLayout is how tables print an instant: UTC, to the second.
const timeLayout = "2006-01-02 15:04:05"

// formatSpan formats the time range [from, to] compactly: the end without
// its date when both fall on the same day.
func formatSpan(from, to time.Time) (string, string) {
	from, to = from.UTC(), to.UTC()
	end := to.Format(timeLayout)
	if from.Format(time.DateOnly) == to.Format(time.DateOnly) {
		end = to.Format(time.TimeOnly)
	}
	return from.Format(timeLayout), end
}

// roundDuration rounds d to three significant digits, as a person reads
// a duration: 1.23s, 45.6ms, 789µs.
func roundDuration(d time.Duration) time.Duration {
	for unit := time.Duration(1); unit < time.Hour; unit *= 10 {
		if d < 1000*unit {
			return d.Round(unit)
		}
	}
	return d.Round(time.Second)
}
