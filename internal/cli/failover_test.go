package cli

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/offline"
	"github.com/nextflow-crm/nfx/internal/promote"
	"github.com/nextflow-crm/nfx/internal/provider/aws"
	"github.com/nextflow-crm/nfx/internal/release"
)

// failoverProject is a cloud stack with a standby in ap-southeast-1, the
// SDK's clients pointed at a fakeAWS on a clock of the test's.
func failoverProject(t *testing.T) (string, *fakeAWS, *time.Time) {
	dir := project(t)
	file := filepath.Join(dir, "Pulumi.cloud.yaml")
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if data, err = release.SetField(data, "nextflow:cloud", "standbyRegion", fakeStandby); err != nil {
		t.Fatal(err)
	}
	write(t, file, string(data))
	now := time.Date(2026, 12, 7, 4, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	f := newFakeAWS(t, clock, aws.PrivateZone("cloud"), []string{aws.WriterName("cloud"), aws.ReaderName("cloud")})
	// The SDK's own configuration, as a user's machine gives it: the
	// endpoint override (AWS_ENDPOINT_URL) is the only thing not AWS's.
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL": f.srv.URL, "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
		"AWS_MAX_ATTEMPTS": "1", "AWS_EC2_METADATA_DISABLED": "true", "AWS_PROFILE": "", "AWS_SESSION_TOKEN": "",
		"AWS_CONFIG_FILE": filepath.Join(dir, "no-aws-config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "no-aws-credentials"),
	} {
		t.Setenv(k, v)
	}
	failoverNow = clock
	failoverSleep = func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		now = now.Add(d)
		mu.Unlock()
		return ctx.Err()
	}
	t.Cleanup(func() { failoverNow, failoverSleep = nil, nil })
	return dir, f, &now
}

// The failover's calls against AWS's documented operations, for each way
// a user runs it and each way AWS answers: what it changes (the recorded
// requests, parameter by parameter), what it refuses, and that the config
// it writes back is exactly what it did.
func TestFailover(t *testing.T) {
	const (
		primaryID = "nextflow-postgres-1a2b3c"
		standbyID = "nextflow-standby-postgres-4d5e6f"
		group     = "nextflow-postgres-params-9f8e"
		standbyAt = "nextflow-standby-postgres-4d5e6f.xyz.ap-southeast-1.rds.amazonaws.com"
	)
	fence := "us-east-1 rds ModifyDBParameterGroup DBParameterGroupName=" + group +
		" Parameters.Parameter.1.ApplyMethod=immediate Parameters.Parameter.1.ParameterName=default_transaction_read_only Parameters.Parameter.1.ParameterValue=1"
	promoteCall := "ap-southeast-1 rds PromoteReadReplica BackupRetentionPeriod=7 DBInstanceIdentifier=" + standbyID
	multiAZ := "ap-southeast-1 rds ModifyDBInstance ApplyImmediately=true CloudwatchLogsExportConfiguration.EnableLogTypes.member.1=postgresql CloudwatchLogsExportConfiguration.EnableLogTypes.member.2=upgrade DBInstanceIdentifier=" + standbyID +
		" EnablePerformanceInsights=true MultiAZ=true PreferredBackupWindow=03:00-04:00 PreferredMaintenanceWindow=sun:04:30-sun:05:30"
	names := "route53 ChangeResourceRecordSets UPSERT " + aws.WriterName("cloud") + " CNAME 30 " + standbyAt + "; UPSERT " + aws.ReaderName("cloud") + " CNAME 30 " + standbyAt
	reboot := "us-east-1 rds RebootDBInstance DBInstanceIdentifier=" + primaryID
	fenceAt := time.Date(2026, 12, 7, 4, 0, 0, 0, time.UTC)
	unfence := "us-east-1 rds ResetDBParameterGroup DBParameterGroupName=" + group +
		" Parameters.Parameter.1.ApplyMethod=immediate Parameters.Parameter.1.ParameterName=default_transaction_read_only"
	for _, c := range []struct {
		name     string
		setup    func(f *fakeAWS, dir string)
		args     []string
		code     int
		msg      string
		writes   []string
		promoted bool
		ledger   string
		noLedger bool
	}{
		{name: "planned", args: []string{"--planned"}, code: 0, msg: "RPO 0",
			writes: []string{fence, reboot, promoteCall, names, multiAZ, reboot}, promoted: true, ledger: "switchover: us-east-1/" + primaryID},
		{name: "planned, the standby never catches up", args: []string{"--planned", "--catch-up", "5m"}, code: ExitFailed, msg: "takes writes again",
			setup:  func(f *fakeAWS, _ string) { f.slotLag = func(time.Time) (float64, bool) { return 4.2, true } },
			writes: []string{fence, reboot, unfence}},
		{name: "planned, the standby catches up late", args: []string{"--planned"}, code: 0, msg: "RPO 0",
			setup: func(f *fakeAWS, _ string) {
				f.slotLag = func(t time.Time) (float64, bool) {
					return map[bool]float64{true: 12.5}[t.Before(fenceAt.Add(4*time.Minute))], true
				}
			},
			writes: []string{fence, reboot, promoteCall, names, multiAZ, reboot}, promoted: true},
		{name: "planned, no slot lag reported", args: []string{"--planned", "--catch-up", "5m"}, code: ExitFailed, msg: "reported no datapoint",
			setup:  func(f *fakeAWS, _ string) { f.slotLag = func(time.Time) (float64, bool) { return 0, false } },
			writes: []string{fence, reboot, unfence}},
		{name: "planned, RDS refuses the promotion", args: []string{"--planned"}, code: ExitFailed, msg: "takes writes again",
			setup:  func(f *fakeAWS, _ string) { f.refuse["PromoteReadReplica"] = "InvalidDBInstanceState" },
			writes: []string{fence, reboot, unfence}},
		{name: "planned, the primary's region does not answer", args: []string{"--planned"}, code: ExitFailed, msg: "--unplanned",
			setup: func(f *fakeAWS, _ string) { f.down[fakePrimary] = true }},
		{name: "unplanned, the primary's region lost", args: []string{"--unplanned"}, code: 0, msg: "RPO 1m2s at most (commits after 2026-12-07T03:58:58Z may be lost)\n  WARNING: the former primary is not fenced",
			setup:    func(f *fakeAWS, _ string) { f.down[fakePrimary] = true },
			writes:   []string{promoteCall, names, multiAZ},
			promoted: true, ledger: "failover: us-east-1/" + primaryID},
		{name: "unplanned, the primary answers", args: []string{"--unplanned"}, code: 0, msg: "a --planned switchover would have lost nothing",
			writes: []string{fence, promoteCall, names, multiAZ, reboot}, promoted: true},
		{name: "unplanned, lag unknown", args: []string{"--unplanned"}, code: ExitFailed, msg: "--accept-unknown-loss",
			setup: func(f *fakeAWS, _ string) { f.replicaLag = func(time.Time) (float64, bool) { return 0, false } }},
		{name: "unplanned, lag unknown and accepted", args: []string{"--unplanned", "--accept-unknown-loss"}, code: 0, msg: "RPO unknown",
			setup: func(f *fakeAWS, _ string) {
				f.replicaLag = func(time.Time) (float64, bool) { return -1, true }
				f.down[fakePrimary] = true
			},
			writes: []string{promoteCall, names, multiAZ}, promoted: true},
		{name: "a run stopped after the promotion goes on", args: []string{"--planned"}, code: 0, msg: "it finished a failover", noLedger: true,
			setup: func(f *fakeAWS, _ string) {
				s := f.db(fakeStandby, "nextflow-standby-postgres")
				s.source = ""
			},
			writes: []string{fence, names, multiAZ, reboot}, promoted: true},
		{name: "dry run", args: []string{"--planned", "--dry-run"}, code: 0, msg: "nothing changed"},
		{name: "dry run, unplanned", args: []string{"--unplanned", "--dry-run"}, code: 0, msg: "RPO 1m2s at most"},
		{name: "two standbys tagged alike", args: []string{"--planned"}, code: ExitFailed, msg: "cannot tell which",
			setup: func(f *fakeAWS, _ string) {
				twin := *f.db(fakeStandby, "nextflow-standby-postgres")
				twin.id = "nextflow-standby-postgres-other"
				f.dbs[fakeStandby+"/"+twin.id] = &twin
			}},
		{name: "no standby in AWS", args: []string{"--planned"}, code: ExitFailed, msg: "no database of ap-southeast-1 is tagged",
			setup: func(f *fakeAWS, _ string) { delete(f.dbs, fakeStandby+"/"+standbyID) }},
		{name: "the config says promoted, AWS does not", args: []string{"--planned"}, code: ExitFailed, msg: "still replicates",
			setup: func(_ *fakeAWS, dir string) { setCloud(t, dir, "standbyPromoted", "2026-12-01T00:00:00Z") }},
		{name: "dry run of a promoted stack", args: []string{"--planned", "--dry-run"}, code: ExitUsage, msg: "it is the writer already",
			setup: func(_ *fakeAWS, dir string) { setCloud(t, dir, "standbyPromoted", "2026-12-01T00:00:00Z") }},
		{name: "unplanned, us-east-1 and Route 53's changes lost", args: []string{"--unplanned"}, code: ExitFailed, msg: "still point at the former primary",
			setup: func(f *fakeAWS, _ string) {
				f.down[fakePrimary], f.down["route53"] = true, true
			},
			writes: []string{promoteCall}, promoted: true, noLedger: true},
		{name: "no standby region", args: []string{"--planned"}, code: ExitUsage, msg: "has no standby",
			setup: func(_ *fakeAWS, dir string) { setCloud(t, dir, "standbyRegion", "") }},
		{name: "neither mode", args: nil, code: ExitUsage, msg: "say one of"},
		{name: "both modes", args: []string{"--planned", "--unplanned"}, code: ExitUsage, msg: "say one of"},
		{name: "a stage without a standby", args: []string{"--planned", "--stage", "server"}, code: ExitUsage, msg: "only the cloud stage"},
		{name: "a catch-up too short to see two minutes", args: []string{"--planned", "--catch-up", "2m"}, code: ExitUsage, msg: "--catch-up takes"},
		{name: "accepting an unknown loss in a switchover", args: []string{"--planned", "--accept-unknown-loss"}, code: ExitUsage, msg: "goes with --unplanned only"},
		{name: "databases made before the stack's tag", args: []string{"--planned"}, code: 0, msg: "RPO 0",
			setup:  func(f *fakeAWS, _ string) { f.stack = "" },
			writes: []string{fence, reboot, promoteCall, names, multiAZ, reboot}, promoted: true},
		{name: "nextflow:cloud written as a JSON string", args: []string{"--planned"}, code: ExitUsage, msg: "cannot record a failover",
			setup: func(_ *fakeAWS, dir string) {
				file := filepath.Join(dir, "Pulumi.cloud.yaml")
				data, _ := os.ReadFile(file)
				var out []string
				skip := false
				for _, l := range strings.Split(string(data), "\n") {
					if strings.HasPrefix(l, "  nextflow:cloud:") {
						out, skip = append(out, `  nextflow:cloud: '{"region": "us-east-1", "standbyRegion": "ap-southeast-1", "publicAccessCidrs": ["198.51.100.0/24"]}'`), true
						continue
					}
					if skip && strings.HasPrefix(l, "    ") || skip && strings.HasPrefix(strings.TrimSpace(l), "#") {
						continue
					}
					skip = false
					out = append(out, l)
				}
				write(t, file, strings.Join(out, "\n"))
			}},
		{name: "another stack's databases only", args: []string{"--planned"}, code: ExitFailed, msg: "no database of ap-southeast-1 is tagged",
			setup: func(f *fakeAWS, _ string) { f.stack = "cloud-staging" }},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir, f, _ := failoverProject(t)
			if c.setup != nil {
				c.setup(f, dir)
			}
			file := filepath.Join(dir, "Pulumi.cloud.yaml")
			before, _ := os.ReadFile(file)
			args := append([]string{"failover"}, c.args...)
			if !strings.Contains(strings.Join(c.args, " "), "--stage") {
				args = append(args, "--stage", "cloud")
			}
			code, out, errOut := nfx(t, dir, args...)
			if code != c.code || !strings.Contains(out+errOut, c.msg) {
				t.Fatalf("exit %d, want %d with %q:\n%s%s", code, c.code, c.msg, out, errOut)
			}
			if got := f.writes(); strings.Join(got, "\n") != strings.Join(c.writes, "\n") {
				t.Errorf("calls that change AWS:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.writes, "\n"))
			}
			after, _ := os.ReadFile(file)
			raw, _, err := model.ParseStackFile(file, after)
			if err != nil {
				t.Fatal(err)
			}
			promoted := raw.Values["cloud"] != "" && strings.Contains(raw.Values["cloud"], "standbyPromoted")
			if c.promoted {
				if !promoted || !strings.Contains(string(after), "2026-12-07T04:") {
					t.Fatalf("the config does not say the standby is promoted:\n%s", after)
				}
				if !f.down["route53"] {
					checkWrittenBack(t, f, raw, f.down[fakePrimary])
				}
			} else if c.setup == nil && string(after) != string(before) {
				t.Errorf("the config changed:\n%s", after)
			}
			entries := ledgerOf(t, dir)
			var notes []string
			for _, e := range entries {
				if e.Kind == "failover" {
					notes = append(notes, e.Note)
					// The note's RTO and RPO, as figures.
					rto := time.Duration(e.Figures()[promote.FigureRTO] * float64(time.Second)).String()
					if _, ok := e.Figures()[promote.FigureRPO]; !strings.Contains(e.Note, "RTO "+rto+";") || ok == strings.Contains(e.Note, "RPO unknown") {
						t.Errorf("the failover's figures %v do not say what its note does: %s", e.Figures(), e.Note)
					}
				}
			}
			if (c.promoted && !c.noLedger) != (len(notes) == 1) || (c.ledger != "" && !strings.Contains(strings.Join(notes, ""), c.ledger)) {
				t.Errorf("ledger's failovers: %q, want one with %q", notes, c.ledger)
			}
			if strings.Contains(out+errOut, "wJalrXUtnFEMI") {
				t.Error("the secret key is in the output")
			}
		})
	}
}

// setCloud sets a field of nextflow:cloud in the project's cloud stack.
func setCloud(t *testing.T, dir, field, value string) {
	t.Helper()
	file := filepath.Join(dir, "Pulumi.cloud.yaml")
	data, _ := os.ReadFile(file)
	data, err := release.SetField(data, "nextflow:cloud", field, value)
	if err != nil {
		t.Fatal(err)
	}
	write(t, file, string(data))
}

// checkWrittenBack: the program with the config the failover wrote back
// describes what AWS now holds, so that a preview changes none of it: the
// standby without a source and Multi-AZ as RDS has it, the primary's
// parameter group with the fence as RDS has it, and the database's names
// where Route 53 has them (the instances' addresses as RDS reports them).
//
// A primary whose region did not answer is not fenced yet: the program's
// fence is what the next up owes it (fenceOwed).
func checkWrittenBack(t *testing.T, f *fakeAWS, raw model.Raw, fenceOwed bool) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	addr := map[string]string{}
	for _, db := range f.dbs {
		addr[db.name] = db.address
	}
	rec := &offline.Recorder{Computed: func(typ, name string) resource.PropertyMap {
		if a, ok := addr[name]; ok && typ == "aws:rds/instance:Instance" {
			return resource.PropertyMap{"address": resource.NewStringProperty(a)}
		}
		return nil
	}}
	res, err := offline.RunWith(model.Cloud, raw, rec)
	if err != nil {
		t.Fatal(err)
	}
	p, s := f.db(fakePrimary, "nextflow-postgres"), f.db(fakeStandby, "nextflow-standby-postgres")
	seen := 0
	for _, r := range res.Plan.Resources {
		in := r.Inputs
		switch {
		case r.Type == "aws:rds/instance:Instance" && r.Name == s.name:
			seen++
			if in["replicateSourceDb"] != nil || s.source != "" {
				t.Errorf("the standby's source: program %v, RDS %q", in["replicateSourceDb"], s.source)
			}
			if in["multiAz"] != s.multiAZ {
				t.Errorf("the standby's Multi-AZ: program %v, RDS %v", in["multiAz"], s.multiAZ)
			}
			if in["backupWindow"] != s.backupWindow || in["maintenanceWindow"] != s.maintenanceWindow || in["performanceInsightsEnabled"] != s.insights ||
				fmt.Sprint(in["enabledCloudwatchLogsExports"]) != fmt.Sprint(s.logs) {
				t.Errorf("the standby's writer settings: program %v %v %v %v, RDS %v %v %v %v", in["backupWindow"], in["maintenanceWindow"], in["performanceInsightsEnabled"], in["enabledCloudwatchLogsExports"],
					s.backupWindow, s.maintenanceWindow, s.insights, s.logs)
			}
		case r.Type == "aws:rds/parameterGroup:ParameterGroup" && r.Name == "nextflow-postgres-params":
			seen++
			fenced := false
			for _, prm := range in["parameters"].([]any) {
				m := prm.(map[string]any)
				if m["name"] == aws.FenceParameter && m["value"] == "1" {
					fenced = true
				}
			}
			if rdsFenced := f.params[p.region+"/"+p.group][aws.FenceParameter] == "1"; fenced != (rdsFenced || fenceOwed) || !fenced {
				t.Errorf("the primary's fence: program %v, RDS %v", fenced, rdsFenced)
			}
		case r.Type == "aws:route53/record:Record":
			seen++
			name := in["name"].(string)
			if got := in["records"].([]any); len(got) != 1 || got[0] != f.records[name] || in["ttl"] != float64(f.ttl[name]) {
				t.Errorf("%s: program %v (ttl %v), Route 53 %s (ttl %d)", name, got, in["ttl"], f.records[name], f.ttl[name])
			}
		}
	}
	if seen != 4 {
		t.Errorf("%d of the standby, the fence and the two names in the program", seen)
	}
}

// A failover stopped at any of its changes (carried out by AWS, its answer
// lost, nothing answering after) is run again once AWS answers, and ends
// where an uninterrupted one does: the standby promoted and Multi-AZ, the
// names on it, the former primary fenced and restarted, the config and
// the ledger saying so. A switchover stopped before the promotion gives
// the primary its writes back, or says how to.
func TestFailoverStoppedAtEveryChange(t *testing.T) {
	for _, mode := range []string{"--planned", "--unplanned"} {
		for stop := 1; stop <= 6; stop++ {
			t.Run(fmt.Sprintf("%s stopped at change %d", mode, stop), func(t *testing.T) {
				dir, f, _ := failoverProject(t)
				f.stopAt = stop
				code, out, errOut := nfx(t, dir, "failover", "--stage", "cloud", mode)
				// A run whose last change (the former primary's restart,
				// which it does not need to succeed) lost its answer ends
				// well; any other is run again.
				if code != 0 {
					f.mu.Lock()
					f.stopAt, f.down = 0, map[string]bool{}
					f.mu.Unlock()
					if code, out, errOut = nfx(t, dir, "failover", "--stage", "cloud", mode); code != 0 {
						t.Fatalf("run again: exit %d:\n%s%s", code, out, errOut)
					}
				} else if f.changes >= stop && !strings.Contains(errOut, "did not restart") {
					t.Fatalf("a run stopped at change %d succeeded:\n%s%s", stop, out, errOut)
				}
				file := filepath.Join(dir, "Pulumi.cloud.yaml")
				data, _ := os.ReadFile(file)
				raw, _, err := model.ParseStackFile(file, data)
				if err != nil || !strings.Contains(raw.Values["cloud"], "standbyPromoted") {
					t.Fatalf("the config after the second run: %v\n%s", err, data)
				}
				checkWrittenBack(t, f, raw, false)
				p, s := f.db(fakePrimary, "nextflow-postgres"), f.db(fakeStandby, "nextflow-standby-postgres")
				if s.source != "" || !s.multiAZ || p.rebooted == 0 || f.params[p.region+"/"+p.group][aws.FenceParameter] != "1" {
					t.Errorf("after the second run: standby source %q, Multi-AZ %v; primary restarted %d times, fence %q",
						s.source, s.multiAZ, p.rebooted, f.params[p.region+"/"+p.group][aws.FenceParameter])
				}
			})
		}
	}
}

// A rehearsal makes a replica of the standby, promotes it, times it and
// deletes it, changing nothing the stage uses (neither database, nor the
// names, nor the config) and recording the figures in the ledger; stopped
// at any of its changes, a run again finds its drill by the tag and ends
// it, with no drill left behind.
func TestFailoverRehearsal(t *testing.T) {
	const drill = "nextflow-failover-drill-20261207t040000"
	create := "ap-southeast-1 rds CreateDBInstanceReadReplica AutoMinorVersionUpgrade=false DBInstanceClass=db.r6g.large DBInstanceIdentifier=" + drill +
		" DeletionProtection=false MultiAZ=false PubliclyAccessible=false SourceDBInstanceIdentifier=nextflow-standby-postgres-4d5e6f" +
		" Tags.Tag.1.Key=Name Tags.Tag.1.Value=nextflow-failover-drill Tags.Tag.2.Key=nextflow.io/stage Tags.Tag.2.Value=cloud Tags.Tag.3.Key=nextflow.io/stack Tags.Tag.3.Value=cloud"
	promoteDrill := "ap-southeast-1 rds PromoteReadReplica BackupRetentionPeriod=7 DBInstanceIdentifier=" + drill
	deleteDrill := "ap-southeast-1 rds DeleteDBInstance DBInstanceIdentifier=" + drill + " DeleteAutomatedBackups=true SkipFinalSnapshot=true"
	for stop := 0; stop <= 3; stop++ {
		t.Run(fmt.Sprintf("stopped at change %d", stop), func(t *testing.T) {
			dir, f, _ := failoverProject(t)
			file := filepath.Join(dir, "Pulumi.cloud.yaml")
			before, _ := os.ReadFile(file)
			f.stopAt = stop
			code, out, errOut := nfx(t, dir, "failover", "--stage", "cloud", "--rehearse")
			if stop == 0 {
				if code != 0 || !strings.Contains(out, "took 15s; RTO 45s with the names' TTL; RPO 1m32s at most") {
					t.Fatalf("exit %d:\n%s%s", code, out, errOut)
				}
				if got := f.writes(); strings.Join(got, "\n") != strings.Join([]string{create, promoteDrill, deleteDrill}, "\n") {
					t.Errorf("calls that change AWS:\n%s", strings.Join(got, "\n"))
				}
			} else {
				if code == 0 {
					t.Fatalf("a rehearsal stopped at change %d succeeded:\n%s%s", stop, out, errOut)
				}
				f.mu.Lock()
				f.stopAt, f.down = 0, map[string]bool{}
				f.mu.Unlock()
				code, out, errOut = nfx(t, dir, "failover", "--stage", "cloud", "--rehearse")
				// Stopped after its drill's promotion, the time is lost:
				// the drill is deleted and the run says to measure again.
				if code != 0 && !(stop == 2 && strings.Contains(errOut, "run nfx failover --rehearse again")) {
					t.Fatalf("run again: exit %d:\n%s%s", code, out, errOut)
				}
			}
			for k := range f.dbs {
				if strings.Contains(k, "drill") {
					t.Errorf("a drill left behind: %s", k)
				}
			}
			s, p := f.db(fakeStandby, "nextflow-standby-postgres"), f.db(fakePrimary, "nextflow-postgres")
			if s.source == "" || s.status != "available" || p.rebooted > 0 || len(f.params[p.region+"/"+p.group]) != 1 {
				t.Errorf("a rehearsal touched the stage: standby source %q status %s, primary restarted %d, its parameters %v", s.source, s.status, p.rebooted, f.params[p.region+"/"+p.group])
			}
			if after, _ := os.ReadFile(file); string(after) != string(before) {
				t.Errorf("a rehearsal changed the config:\n%s", after)
			}
			entries := ledgerOf(t, dir)
			n := 0
			for _, e := range entries {
				if e.Kind == promote.KindRehearsal && e.To == "cloud" {
					n++
					// What nfx capacity counts: the figures, not only the note.
					if want := map[string]float64{promote.FigureRTO: 45, promote.FigurePromote: 15, promote.FigureRPO: 92}; stop == 0 && !maps.Equal(e.Figures(), want) {
						t.Errorf("the rehearsal's figures %v, want %v", e.Figures(), want)
					}
				}
			}
			if want := map[bool]int{true: 1}[code == 0]; n != want {
				t.Errorf("%d rehearsals in the ledger, want %d", n, want)
			}
		})
	}
}

// ledgerOf is the entries of the project's ledger (the file backend's).
func ledgerOf(t *testing.T, dir string) []promote.Entry {
	t.Helper()
	entries, err := promote.Ledger{Path: filepath.Join(dir, ".nfx", "state", ".nfx", "ledger.jsonl")}.Entries()
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return entries
}
