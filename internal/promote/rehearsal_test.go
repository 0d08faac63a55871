package promote

import "testing"

// The rehearsal nfx capacity counts: the stack's latest with an RTO, in
// the ledger's order, and none once a failover of the stack came after it
// (the standby it measured is the writer then).
func TestLastRehearsal(t *testing.T) {
	r := func(to string, rto float64) Entry {
		return Entry{Kind: KindRehearsal, To: to, Gates: MeasuredGate("measured", map[string]float64{FigureRTO: rto})}
	}
	noFigures := Entry{Kind: KindRehearsal, To: "cloud", Note: "an older nfx's"}
	failover := Entry{Kind: KindFailover, To: "cloud"}
	for _, c := range []struct {
		name    string
		entries []Entry
		want    float64
	}{
		{"none", nil, 0},
		{"the latest", []Entry{r("cloud", 900), r("cloud", 330)}, 330},
		{"another stack's is not this one's", []Entry{r("cloud", 330), r("cloud-staging", 60)}, 330},
		{"an older nfx's, without figures, is passed over", []Entry{r("cloud", 330), noFigures}, 330},
		{"a failover since", []Entry{r("cloud", 330), failover}, 0},
		{"a rehearsal after the failover", []Entry{r("cloud", 330), failover, r("cloud", 400)}, 400},
		{"a recorded zero is taken, for its caller to refuse", []Entry{r("cloud", 330), r("cloud", 0)}, -1},
	} {
		got := LastRehearsal(c.entries, "cloud")
		switch {
		case c.want == 0 && got != nil:
			t.Errorf("%s: %+v, want none", c.name, got)
		case c.want == -1 && (got == nil || got.Figures()[FigureRTO] != 0):
			t.Errorf("%s: %+v, want the zero", c.name, got)
		case c.want > 0 && (got == nil || got.Figures()[FigureRTO] != c.want):
			t.Errorf("%s: %+v, want RTO %v", c.name, got, c.want)
		}
	}
}

// The steps of `pulumi preview --refresh --json`: the refresh's reads are
// not steps of the change (they would double a preview gate's count).
func TestPreviewStepsWithoutTheRefresh(t *testing.T) {
	data := []byte(`{"steps": [
	  {"op": "refresh", "urn": "urn:pulumi:cloud::nextflow::aws:rds/instance:Instance::db", "oldState": {"type": "aws:rds/instance:Instance"}},
	  {"op": "update", "urn": "urn:pulumi:cloud::nextflow::aws:rds/instance:Instance::db", "oldState": {"type": "aws:rds/instance:Instance"}},
	  {"op": "same", "urn": "urn:pulumi:cloud::nextflow::aws:s3/bucketV2:BucketV2::b", "newState": {"type": "aws:s3/bucketV2:BucketV2"}}
	]}`)
	steps, err := PreviewSteps(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 2 || steps[0].Op != "update" || steps[0].Type != "aws:rds/instance:Instance" || steps[1].Op != "same" {
		t.Errorf("steps %+v", steps)
	}
}
