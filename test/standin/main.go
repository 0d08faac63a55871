// Command standin plays, inside the stand-in images the engine tests build,
// the programs no Debian package provides: Ollama, Qdrant, cloudflared and
// the NextFlow CRM, NVIDIA's DCGM exporter (no GPU here) and Grafana
// (whose server is under the AGPL, and not built here). It is one binary linked under each program's name; it
// reproduces the part of each program's contract the rendered files rely on
// (commands, flags, ports, endpoints, files read), each from the program's
// documentation at the pinned version as noted beside it, and nothing more.
// It is not a model of the programs' behaviour beyond that.
package main

import (
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	name := filepath.Base(os.Args[0])
	args := os.Args[1:]
	if name == "standin" && len(args) > 0 {
		name, args = args[0], args[1:]
	}
	var err error
	switch name {
	case "ollama":
		err = ollama(args)
	case "qdrant":
		err = qdrant(args)
	case "cloudflared":
		err = cloudflared(args)
	case "crm":
		err = crm(args)
	case "dcgm-exporter":
		err = dcgmExporter(args)
	case "grafana":
		err = grafana(args)
	default:
		err = fmt.Errorf("standin: unknown program %q (ollama, qdrant, cloudflared, crm, dcgm-exporter, grafana)", name)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
