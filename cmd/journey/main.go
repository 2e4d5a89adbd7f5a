// Command journey is the whole Journey server and its tools in one binary.
package main

import (
	"fmt"
	"os"
)

const usage = `journey — a self-hosted growth platform in one binary

Usage:
  journey serve   [flags]   run the server (capture, API, UI)
  journey demo    [flags]   load realistic demo data, then serve
  journey import  [flags] FILE...  import NDJSON events (PostHog or Segment format)
  journey query KIND [flags]       run an insight on a server (table with bars, or --json)
  journey bench ingest [flags]     measure capture throughput and latency
  journey backup DIR [flags]       snapshot the embedded stack (--url: of a running server)
  journey restore DIR --data DATADIR  restore a backup into an empty data directory
  journey version           version, commit, Go and DuckDB versions
  journey help              this text

Every flag has an environment twin: --data-dir ↔ JOURNEY_DATA_DIR.
Run "journey COMMAND -h" for a command's flags.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	cmds := map[string]func([]string) error{
		"serve":  cmdServe,
		"demo":   cmdDemo,
		"import": cmdImport,
		"bench":  cmdBench,
		"query":  cmdQuery,
		"backup": cmdBackup,
	}
	cmds["restore"], cmds["version"] = cmdRestore, cmdVersion // backup.go, version.go
	name, args := os.Args[1], os.Args[2:]
	if name == "help" || name == "-h" || name == "--help" {
		fmt.Print(usage)
		return
	}
	run, ok := cmds[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "journey: unknown command %q\n\n%s", name, usage)
		os.Exit(2)
	}
	if err := run(args); err != nil {
		fmt.Fprintf(os.Stderr, "journey %s: %v\n", name, err)
		os.Exit(1)
	}
}
