//go:build !nfxfront

package cli

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/nextflow-crm/nfx/internal/offline"
)

func init() {
	registerIO("plan", runPlan)
}

func runPlan(io IO, o *PlanOptions) error {
	in, err := o.resolve(io, false)
	if err != nil {
		return err
	}
	res, err := offline.Run(in.Stage, in.Raw)
	if err != nil {
		return err
	}
	if o.JSON {
		b, err := res.Plan.JSON()
		if err != nil {
			return err
		}
		_, err = io.Out.Write(b)
		return err
	}
	tw := tabwriter.NewWriter(io.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TYPE\tNAME\tPARENT\tKEY INPUTS")
	for _, r := range res.Plan.Resources {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Type, r.Name, r.Parent, keyInputs(r.Inputs))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(io.Out, "%d resources on stage %s\n", len(res.Plan.Resources), in.Stage)
	return nil
}

// keyInputs shows the scalar inputs of a resource on one line; long and
// nested values are summarised.
func keyInputs(in map[string]any) string {
	keys := make([]string, 0, len(in))
	for k := range in {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		var s string
		switch v := in[k].(type) {
		case string:
			s = v
			if strings.Contains(s, "\n") || len(s) > 40 {
				s = fmt.Sprintf("(%d bytes)", len(v))
			}
		case map[string]any:
			s = fmt.Sprintf("{%d}", len(v))
		case []any:
			s = fmt.Sprintf("[%d]", len(v))
		default:
			b, _ := json.Marshal(v)
			s = string(b)
		}
		parts = append(parts, k+"="+s)
	}
	return strings.Join(parts, " ")
}
