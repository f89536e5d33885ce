package main

import (
	"context"
	"fmt"
	"io"
	"strings"
)

// A tool is a subcommand of the spanlog binary beside the server: an
// operator's command that runs once and exits (spanlog replay, spanlog
// blocks, spanlog offsets, spanlog query). The server keeps its flag-only
// form (spanlog -target=...), so a first argument that does not start with
// a dash names a tool.
type tool struct {
	name    string
	summary string
	// run gets the arguments after the tool's name. Its error is printed
	// to errOut and the process exits 1; errors say what to do next.
	run func(ctx context.Context, args []string, out, errOut io.Writer) error
}

// tools lists every subcommand, in the order help prints them.
func tools() []tool {
	return []tool{
		replayTool(),
		offsetsTool(),
		blocksTool(),
		queryTool(),
	}
}

// findTool returns the tool named by the first argument, if it names one.
func findTool(args []string) (tool, bool, error) {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return tool{}, false, nil
	}
	for _, t := range tools() {
		if t.name == args[0] {
			return t, true, nil
		}
	}
	return tool{}, false, fmt.Errorf("unknown command %q\n%s", args[0], toolUsage())
}

// toolUsage lists the commands with their summaries.
func toolUsage() string {
	var b strings.Builder
	b.WriteString("commands:\n")
	for _, t := range tools() {
		fmt.Fprintf(&b, "  %-10s %s\n", t.name, t.summary)
	}
	b.WriteString("or flags alone to run the server (spanlog -help lists them)")
	return b.String()
}
