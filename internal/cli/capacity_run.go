//go:build !nfxfront

package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/nextflow-crm/nfx/internal/capacity"
	"github.com/nextflow-crm/nfx/internal/promote"
)

func init() {
	ledgerMeasured = measured
}

// measured reads the stack's latest failover rehearsal from the ledger,
// for a stage with a second region's cluster whose standby is not
// promoted: its measured promotion takes the assumed one's place. The
// ledger is only read (its bucket opened within 30 s). One that cannot be
// read or does not verify is said, and the assumption kept.
func measured(io IO, backend string, in *stackInput) capacity.Measured {
	if !countsRehearsal(in.Config) {
		return capacity.Measured{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := openBackend(ctx, in.ProjectDir, backend)
	if err != nil {
		fmt.Fprintf(io.Err, "nfx: %v; the failover's promotion is the model's assumption\n", err)
		return capacity.Measured{}
	}
	defer b.Close()
	entries, err := b.Ledger.Entries()
	if err != nil {
		fmt.Fprintf(io.Err, "nfx: the ledger at %s cannot be read (%v); the failover's promotion is the model's assumption\n", b.Ledger.Name(), err)
		return capacity.Measured{}
	}
	r := promote.LastRehearsal(entries, in.Stack)
	if r == nil {
		return capacity.Measured{}
	}
	src := fmt.Sprintf("the rehearsal of %s (ledger entry %d)", r.Time.UTC().Format(time.RFC3339), r.Seq)
	rto := r.Figures()[promote.FigureRTO]
	if rto <= 0 || rto > (24*time.Hour).Seconds() {
		fmt.Fprintf(io.Err, "nfx: %s recorded an RTO of %.0f s, not a promotion's; the failover's promotion is the model's assumption\n", src, rto)
		return capacity.Measured{}
	}
	return capacity.Measured{Promote: time.Duration(rto * float64(time.Second)), PromoteSource: src}
}
