//go:build !nfxfront

package cli

import (
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/nextflow-crm/nfx/internal/cost"
	"github.com/nextflow-crm/nfx/internal/offline"
	"github.com/nextflow-crm/nfx/internal/plan"
)

func init() {
	registerIO("cost", runCost)
}

// estimate prices a resolved stack, from its own plan or a preview's.
func estimate(in *stackInput, currency, previewJSON string) (*cost.Estimate, error) {
	var p *plan.Plan
	if previewJSON != "" {
		data, err := os.ReadFile(previewJSON)
		if err != nil {
			return nil, usagef("--preview-json: %v", err)
		}
		if p, err = cost.FromPreviewJSON(string(in.Stage), data); err != nil {
			return nil, usageError{err}
		}
	} else {
		res, err := offline.Run(in.Stage, in.Raw)
		if err != nil {
			return nil, err
		}
		p = &res.Plan
	}
	e, err := cost.Compute(in.Config, p, strings.ToUpper(currency))
	if err != nil {
		return nil, usageError{err}
	}
	return e, nil
}

func runCost(io IO, o *CostOptions) error {
	in, err := o.resolve(io, false)
	if err != nil {
		return err
	}
	e, err := estimate(in, o.Currency, o.PreviewJSON)
	if err != nil {
		return err
	}
	if o.JSON {
		return printJSON(io, e)
	}
	tw := tabwriter.NewWriter(io.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "ITEM\t%15s\t%15s\t\n", "MONTHLY "+e.Currency, "AT MAXIMUM")
	for _, l := range e.Lines {
		fmt.Fprintf(tw, "%s\t%15s\t%15s\t%s\n", l.Item, money(l.Monthly), money(l.MonthlyMax), l.Detail)
	}
	fmt.Fprintf(tw, "TOTAL\t%15s\t%15s\t\n", money(e.MonthlyTotal), money(e.MonthlyMax))
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, l := range e.OneTime {
		fmt.Fprintf(io.Out, "one-time: %s %s %s (%s)\n", l.Item, money(l.Monthly), e.Currency, l.Detail)
	}
	for _, pc := range e.Parts {
		fmt.Fprintf(io.Out, "part: %s %s %s a month (%s)\n", pc.Part, money(pc.Monthly), e.Currency, pc.Basis)
	}
	for _, u := range e.Unpriced {
		fmt.Fprintf(io.Out, "unpriced: %s %s: %s\n", u.Type, u.Name, u.Reason)
	}
	for _, a := range e.Assumptions {
		fmt.Fprintf(io.Out, "assumes: %s\n", a)
	}
	if e.Prices != "" {
		fmt.Fprintf(io.Out, "prices: %s\n", e.Prices)
	}
	return nil
}
