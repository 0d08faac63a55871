package cli

import (
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/smithy-go/encoding/cbor"
)

// fakeAWS is a stand-in for the three AWS APIs `nfx failover` calls, at
// their wire protocols, so that the real SDK clients (credentials, SigV4
// signing, endpoint resolution, serialisation) run against it: RDS's
// query protocol (form-encoded actions, XML answers), CloudWatch's
// rpc-v2-cbor and Route 53's REST-XML. The requests and answers follow the
// shapes the SDK's own recorded snapshots hold for each operation
// (aws-sdk-go-v2 service/rds v1.133.0 and cloudwatch v1.76.0,
// request_snapshot/ and response_snapshot/; Route 53's API reference
// examples for ListHostedZonesByName, ChangeResourceRecordSets and
// GetChange). It keeps what the operations change (promotion, Multi-AZ, a
// parameter group's values, the records) and answers RDS's documented
// states (an instance promoting is "modifying" before "available"; a
// parameter change "applying" before "in-sync").
type fakeAWS struct {
	t   *testing.T
	srv *httptest.Server
	mu  sync.Mutex
	// now is the test's clock; lag says the metrics.
	now func() time.Time
	// dbs by region/identifier.
	dbs map[string]*fakeDB
	// params by region/group: name -> value.
	params map[string]map[string]string
	// applying counts the describes a parameter change stays "applying".
	applying map[string]int
	// zone is the private zone, records its CNAMEs.
	zone, zoneID string
	records      map[string]string
	ttl          map[string]int64
	pending      int
	// down is the regions whose RDS and CloudWatch do not answer, and
	// "route53" when Route 53 does not.
	down map[string]bool
	// slotLag is the primary's OldestReplicationSlotLag at a minute: nil
	// for no datapoints.
	slotLag func(t time.Time) (float64, bool)
	// replicaLag is the standby's ReplicaLag at a minute.
	replicaLag func(t time.Time) (float64, bool)
	calls      []string
	// stopAt, when set, is the call that changes something at which AWS
	// stops answering: it is carried out, its answer lost, and nothing
	// answers after it (a run killed there, or its network gone).
	stopAt, changes int
	// refuse answers an RDS action with an error code; stack is the
	// instances' nextflow.io/stack tag.
	refuse map[string]string
	stack  string
	// clusters are the EKS clusters by region/name: their endpoint and
	// certificate authority (PEM).
	clusters map[string][2]string
}

type fakeDB struct {
	region, id, name, group, source, address string
	status                                   string
	multiAZ, pendingMultiAZ                  bool
	// promoting counts the describes it stays "modifying", restarting
	// those it stays "rebooting".
	promoting, restarting int
	rebooted              int
	// class is its instance class; deleted, a drill deleted.
	class   string
	deleted bool
	// The writer's settings.
	backupWindow, maintenanceWindow string
	insights                        bool
	logs                            []string
}

func (db *fakeDB) arn() string {
	return fmt.Sprintf("arn:aws:rds:%s:123456789012:db:%s", db.region, db.id)
}

const (
	fakePrimary = "us-east-1"
	fakeStandby = "ap-southeast-1"
)

// newFakeAWS is a replicating standby of a Multi-AZ primary, as nfx up
// leaves them, with the private zone's names on the primary.
func newFakeAWS(t *testing.T, now func() time.Time, zone string, names []string) *fakeAWS {
	f := &fakeAWS{
		t: t, now: now, dbs: map[string]*fakeDB{}, params: map[string]map[string]string{}, applying: map[string]int{},
		refuse: map[string]string{}, stack: "cloud", clusters: map[string][2]string{},
		zone: zone, zoneID: "/hostedzone/Z0PRIVATE0NFX", records: map[string]string{}, ttl: map[string]int64{}, down: map[string]bool{},
	}
	p := &fakeDB{region: fakePrimary, id: "nextflow-postgres-1a2b3c", name: "nextflow-postgres", group: "nextflow-postgres-params-9f8e",
		address: "nextflow-postgres-1a2b3c.abc.us-east-1.rds.amazonaws.com", status: "available", multiAZ: true, class: "db.r6g.large"}
	s := &fakeDB{region: fakeStandby, id: "nextflow-standby-postgres-4d5e6f", name: "nextflow-standby-postgres", group: "nextflow-standby-postgres-params-7a6b",
		address: "nextflow-standby-postgres-4d5e6f.xyz.ap-southeast-1.rds.amazonaws.com", status: "available", source: p.arn(), class: "db.r6g.large"}
	for _, db := range []*fakeDB{p, s} {
		f.dbs[db.region+"/"+db.id] = db
		f.params[db.region+"/"+db.group] = map[string]string{"rds.force_ssl": "1"}
	}
	for _, n := range names {
		f.records[n], f.ttl[n] = p.address, 30
	}
	f.slotLag = func(time.Time) (float64, bool) { return 0, true }
	f.replicaLag = func(time.Time) (float64, bool) { return 2, true }
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAWS) db(region, name string) *fakeDB {
	for _, db := range f.dbs {
		if db.region == region && db.name == name {
			return db
		}
	}
	f.t.Fatalf("no %s in %s", name, region)
	return nil
}

// scopeRE reads the region and service SigV4 signed the request for.
var scopeRE = regexp.MustCompile(`Credential=[^/]+/\d{8}/([a-z0-9-]+)/([a-z0-9]+)/aws4_request`)

func (f *fakeAWS) serve(w http.ResponseWriter, r *http.Request) {
	m := scopeRE.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil {
		http.Error(w, "unsigned request", http.StatusForbidden)
		f.t.Errorf("an unsigned request: %s %s", r.Method, r.URL)
		return
	}
	region, service := m[1], m[2]
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down[region] && service != "route53" || f.down["route53"] && service == "route53" {
		f.calls = append(f.calls, region+" "+service+" (no answer)")
		hj, ok := w.(http.Hijacker)
		if !ok {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		c, _, _ := hj.Hijack()
		c.Close()
		return
	}
	if f.stopAt > 0 && mutating(service, r, body) {
		if f.changes++; f.changes == f.stopAt {
			f.dispatch(httptest.NewRecorder(), r, region, service, body)
			for _, k := range []string{fakePrimary, fakeStandby, "route53"} {
				f.down[k] = true
			}
			f.calls = append(f.calls, region+" "+service+" (answer lost)")
			if hj, ok := w.(http.Hijacker); ok {
				c, _, _ := hj.Hijack()
				c.Close()
			}
			return
		}
	}
	f.dispatch(w, r, region, service, body)
}

// mutating says a request changes something.
func mutating(service string, r *http.Request, body []byte) bool {
	switch service {
	case "rds":
		return !strings.Contains(string(body), "Action=Describe")
	case "route53":
		return r.Method == http.MethodPost
	}
	return false
}

func (f *fakeAWS) dispatch(w http.ResponseWriter, r *http.Request, region, service string, body []byte) {
	switch service {
	case "rds":
		f.rds(w, region, string(body))
	case "monitoring":
		f.cloudwatch(w, region, r.URL.Path, body)
	case "route53":
		f.route53(w, r, body)
	case "eks":
		f.eks(w, r, region)
	default:
		http.Error(w, "no such service "+service, http.StatusBadRequest)
	}
}

// rds answers the query protocol.
func (f *fakeAWS) rds(w http.ResponseWriter, region, body string) {
	form, err := parseForm(body)
	if err != nil || form["Version"] != "2014-10-31" {
		f.t.Errorf("RDS request %q: version %q, %v", body, form["Version"], err)
	}
	action := form["Action"]
	var args []string
	for k, v := range form {
		if k != "Action" && k != "Version" {
			args = append(args, k+"="+v)
		}
	}
	sort.Strings(args)
	f.calls = append(f.calls, strings.TrimSpace(region+" rds "+action+" "+strings.Join(args, " ")))
	if code, ok := f.refuse[action]; ok {
		f.calls[len(f.calls)-1] += " (refused)"
		rdsError(w, code, action+" refused")
		return
	}
	byID := func() *fakeDB {
		db := f.dbs[region+"/"+form["DBInstanceIdentifier"]]
		if db == nil {
			rdsError(w, "DBInstanceNotFound", "DBInstance "+form["DBInstanceIdentifier"]+" not found.")
		}
		return db
	}
	switch action {
	case "DescribeDBInstances":
		var out strings.Builder
		ids := make([]string, 0, len(f.dbs))
		for k := range f.dbs {
			ids = append(ids, k)
		}
		sort.Strings(ids)
		for _, k := range ids {
			db := f.dbs[k]
			if db.region != region || (form["DBInstanceIdentifier"] != "" && db.id != form["DBInstanceIdentifier"]) {
				continue
			}
			f.tick(db)
			out.WriteString(f.instanceXML(db))
		}
		if form["DBInstanceIdentifier"] != "" && out.Len() == 0 {
			rdsError(w, "DBInstanceNotFound", "DBInstance "+form["DBInstanceIdentifier"]+" not found.")
			return
		}
		rdsOK(w, action, "<DBInstances>"+out.String()+"</DBInstances>")
	case "ModifyDBParameterGroup", "ResetDBParameterGroup":
		group := region + "/" + form["DBParameterGroupName"]
		ps, ok := f.params[group]
		if !ok {
			rdsError(w, "DBParameterGroupNotFound", "DBParameterGroup not found")
			return
		}
		name := form["Parameters.Parameter.1.ParameterName"]
		if action == "ModifyDBParameterGroup" {
			ps[name] = form["Parameters.Parameter.1.ParameterValue"]
		} else {
			delete(ps, name)
		}
		f.applying[group] = 2
		rdsOK(w, action, "<DBParameterGroupName>"+esc(form["DBParameterGroupName"])+"</DBParameterGroupName>")
	case "PromoteReadReplica":
		db := byID()
		if db == nil {
			return
		}
		if db.source == "" {
			rdsError(w, "InvalidDBInstanceState", "DB Instance is not a read replica.")
			return
		}
		db.status, db.promoting = "modifying", 2
		rdsOK(w, action, f.instanceXML(db))
	case "ModifyDBInstance":
		db := byID()
		if db == nil {
			return
		}
		if form["ApplyImmediately"] != "true" {
			f.t.Errorf("ModifyDBInstance of a writer waiting for its maintenance window: %v", form)
		}
		if form["MultiAZ"] == "true" {
			db.multiAZ = true
		}
		if v := form["PreferredBackupWindow"]; v != "" {
			db.backupWindow = v
		}
		if v := form["PreferredMaintenanceWindow"]; v != "" {
			db.maintenanceWindow = v
		}
		if form["EnablePerformanceInsights"] == "true" {
			db.insights = true
		}
		for i := 1; form[fmt.Sprintf("CloudwatchLogsExportConfiguration.EnableLogTypes.member.%d", i)] != ""; i++ {
			db.logs = append(db.logs, form[fmt.Sprintf("CloudwatchLogsExportConfiguration.EnableLogTypes.member.%d", i)])
		}
		rdsOK(w, action, f.instanceXML(db))
	case "RebootDBInstance":
		db := byID()
		if db == nil {
			return
		}
		db.rebooted++
		db.status, db.restarting = "rebooting", 1
		// A restart applies the parameter group's pending changes.
		f.applying[db.region+"/"+db.group] = 0
		rdsOK(w, action, f.instanceXML(db))
	case "CreateDBInstanceReadReplica":
		src := f.dbs[region+"/"+form["SourceDBInstanceIdentifier"]]
		if src == nil {
			rdsError(w, "DBInstanceNotFound", "source not found")
			return
		}
		if form["DBInstanceClass"] != src.class {
			f.t.Errorf("the drill's class %q, want its source's %q", form["DBInstanceClass"], src.class)
		}
		d := &fakeDB{region: region, id: form["DBInstanceIdentifier"], group: src.group, source: src.arn(), class: src.class,
			address: form["DBInstanceIdentifier"] + ".xyz." + region + ".rds.amazonaws.com", status: "creating", promoting: 0, restarting: 3}
		for i := 1; form[fmt.Sprintf("Tags.Tag.%d.Key", i)] != ""; i++ {
			if form[fmt.Sprintf("Tags.Tag.%d.Key", i)] == "Name" {
				d.name = form[fmt.Sprintf("Tags.Tag.%d.Value", i)]
			}
		}
		f.dbs[region+"/"+d.id] = d
		rdsOK(w, action, f.instanceXML(d))
	case "DeleteDBInstance":
		db := byID()
		if db == nil {
			return
		}
		if form["SkipFinalSnapshot"] != "true" || form["DeleteAutomatedBackups"] != "true" {
			f.t.Errorf("a drill deleted keeping snapshots or backups: %v", form)
		}
		delete(f.dbs, region+"/"+db.id)
		rdsOK(w, action, f.instanceXML(db))
	default:
		f.t.Errorf("an RDS action the failover has no business with: %s", action)
		rdsError(w, "InvalidAction", action)
	}
}

// tick moves an instance on by one describe: a promotion ends, a
// parameter change is applied.
func (f *fakeAWS) tick(db *fakeDB) {
	if db.promoting > 0 {
		// RDS keeps naming the source while it promotes (the AWS CLI's
		// example of promote-read-replica answers "modifying" with it).
		if db.promoting--; db.promoting == 0 {
			db.status, db.source = "available", ""
		}
	}
	if db.restarting > 0 {
		if db.restarting--; db.restarting == 0 {
			db.status = "available"
		}
	}
	if n := f.applying[db.region+"/"+db.group]; n > 0 {
		f.applying[db.region+"/"+db.group] = n - 1
	}
}

func (f *fakeAWS) instanceXML(db *fakeDB) string {
	apply := "in-sync"
	if f.applying[db.region+"/"+db.group] > 0 {
		apply = "applying"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "<DBInstance><DBInstanceIdentifier>%s</DBInstanceIdentifier><DBInstanceArn>%s</DBInstanceArn><DBInstanceStatus>%s</DBInstanceStatus>",
		esc(db.id), esc(db.arn()), esc(db.status))
	fmt.Fprintf(&b, "<Engine>postgres</Engine><MultiAZ>%t</MultiAZ><Endpoint><Address>%s</Address><Port>5432</Port></Endpoint>", db.multiAZ, esc(db.address))
	fmt.Fprintf(&b, "<DBParameterGroups><DBParameterGroup><DBParameterGroupName>%s</DBParameterGroupName><ParameterApplyStatus>%s</ParameterApplyStatus></DBParameterGroup></DBParameterGroups>", esc(db.group), apply)
	if db.source != "" {
		fmt.Fprintf(&b, "<ReadReplicaSourceDBInstanceIdentifier>%s</ReadReplicaSourceDBInstanceIdentifier>", esc(db.source))
		// A replica whose source's region is lost has its replication
		// broken.
		status := "replicating"
		if f.down[strings.Split(strings.TrimPrefix(db.source, "arn:aws:rds:"), ":")[0]] {
			status = "error"
		}
		fmt.Fprintf(&b, "<StatusInfos><DBInstanceStatusInfo><StatusType>read replication</StatusType><Normal>%t</Normal><Status>%s</Status></DBInstanceStatusInfo></StatusInfos>", status == "replicating", status)
	}
	fmt.Fprintf(&b, "<DBInstanceClass>%s</DBInstanceClass><PreferredBackupWindow>%s</PreferredBackupWindow><PreferredMaintenanceWindow>%s</PreferredMaintenanceWindow><PerformanceInsightsEnabled>%t</PerformanceInsightsEnabled>",
		esc(db.class), esc(db.backupWindow), esc(db.maintenanceWindow), db.insights)
	if len(db.logs) > 0 {
		b.WriteString("<EnabledCloudwatchLogsExports>")
		for _, l := range db.logs {
			fmt.Fprintf(&b, "<member>%s</member>", esc(l))
		}
		b.WriteString("</EnabledCloudwatchLogsExports>")
	}
	fmt.Fprintf(&b, "<TagList><Tag><Key>Name</Key><Value>%s</Value></Tag><Tag><Key>nextflow.io/stage</Key><Value>cloud</Value></Tag>%s</TagList></DBInstance>", esc(db.name), stackTag(f.stack))
	return b.String()
}

func rdsOK(w http.ResponseWriter, action, result string) {
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, `<%[1]sResponse xmlns="http://rds.amazonaws.com/doc/2014-10-31/"><%[1]sResult>%[2]s</%[1]sResult><ResponseMetadata><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ResponseMetadata></%[1]sResponse>`, action, result)
}

func rdsError(w http.ResponseWriter, code, msg string) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(http.StatusBadRequest)
	fmt.Fprintf(w, `<ErrorResponse xmlns="http://rds.amazonaws.com/doc/2014-10-31/"><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>`, code, esc(msg))
}

// cloudwatch answers GetMetricData in rpc-v2-cbor: each minute of the
// asked range the metric has a value for.
func (f *fakeAWS) cloudwatch(w http.ResponseWriter, region, path string, body []byte) {
	if !strings.HasSuffix(path, "/service/GraniteServiceVersion20100801/operation/GetMetricData") {
		f.t.Errorf("a CloudWatch call the failover has no business with: %s", path)
		http.Error(w, "no", http.StatusBadRequest)
		return
	}
	v, err := cbor.Decode(body)
	if err != nil {
		f.t.Fatalf("GetMetricData: %v", err)
	}
	req := v.(cbor.Map)
	from, _ := cbor.AsTime(req["StartTime"])
	to, _ := cbor.AsTime(req["EndTime"])
	q := req["MetricDataQueries"].(cbor.List)[0].(cbor.Map)
	stat := q["MetricStat"].(cbor.Map)
	metric := stat["Metric"].(cbor.Map)
	name := string(metric["MetricName"].(cbor.String))
	dim := metric["Dimensions"].(cbor.List)[0].(cbor.Map)
	id := string(dim["Value"].(cbor.String))
	f.calls = append(f.calls, fmt.Sprintf("%s monitoring GetMetricData %s %s %s %s/%v", region, metric["Namespace"], name, id, stat["Stat"], stat["Period"]))
	series := f.slotLag
	if name == "ReplicaLag" {
		series = f.replicaLag
	}
	var ts, vals cbor.List
	// Newest first, as CloudWatch's default TimestampDescending.
	// A minute's datapoint is there once the minute is over.
	for t := to.Truncate(time.Minute).Add(-time.Minute); !t.Before(from); t = t.Add(-time.Minute) {
		if t.Add(time.Minute).After(f.now()) {
			continue
		}
		if x, ok := series(t); ok {
			ts = append(ts, &cbor.Tag{ID: 1, Value: cbor.Float64(float64(t.Unix()))})
			vals = append(vals, cbor.Float64(x))
		}
	}
	w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	w.Header().Set("Content-Type", "application/cbor")
	w.Write(cbor.Encode(cbor.Map{"MetricDataResults": cbor.List{cbor.Map{
		"Id": cbor.String("m"), "Label": cbor.String(name), "StatusCode": cbor.String("Complete"), "Timestamps": ts, "Values": vals,
	}}}))
}

// route53 answers the REST-XML API.
func (f *fakeAWS) route53(w http.ResponseWriter, r *http.Request, body []byte) {
	const ns = `xmlns="https://route53.amazonaws.com/doc/2013-04-01/"`
	w.Header().Set("Content-Type", "text/xml")
	change := func(status string) string {
		return fmt.Sprintf("<ChangeInfo><Id>/change/C0NFX</Id><Status>%s</Status><SubmittedAt>2026-12-07T04:00:00.000Z</SubmittedAt></ChangeInfo>", status)
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/2013-04-01/hostedzonesbyname":
		f.calls = append(f.calls, "route53 ListHostedZonesByName dnsname="+r.URL.Query().Get("dnsname"))
		fmt.Fprintf(w, `<ListHostedZonesByNameResponse %s><HostedZones><HostedZone><Id>%s</Id><Name>%s.</Name><CallerReference>nfx</CallerReference><Config><PrivateZone>true</PrivateZone></Config><ResourceRecordSetCount>4</ResourceRecordSetCount></HostedZone></HostedZones><DNSName>%s</DNSName><IsTruncated>false</IsTruncated><MaxItems>100</MaxItems></ListHostedZonesByNameResponse>`,
			ns, f.zoneID, esc(f.zone), esc(r.URL.Query().Get("dnsname")))
	case r.Method == http.MethodPost && r.URL.Path == "/2013-04-01"+f.zoneID+"/rrset":
		var req struct {
			Changes []struct {
				Action string
				Set    struct {
					Name, Type string
					TTL        int64
					Values     []string `xml:"ResourceRecords>ResourceRecord>Value"`
				} `xml:"ResourceRecordSet"`
			} `xml:"ChangeBatch>Changes>Change"`
		}
		if err := xml.Unmarshal(body, &req); err != nil {
			f.t.Fatalf("ChangeResourceRecordSets: %v", err)
		}
		var desc []string
		for _, c := range req.Changes {
			desc = append(desc, fmt.Sprintf("%s %s %s %d %s", c.Action, c.Set.Name, c.Set.Type, c.Set.TTL, strings.Join(c.Set.Values, ",")))
			if c.Action == "UPSERT" && c.Set.Type == "CNAME" && len(c.Set.Values) == 1 {
				f.records[c.Set.Name], f.ttl[c.Set.Name] = c.Set.Values[0], c.Set.TTL
			}
		}
		f.calls = append(f.calls, "route53 ChangeResourceRecordSets "+strings.Join(desc, "; "))
		f.pending = 2
		fmt.Fprintf(w, `<ChangeResourceRecordSetsResponse %s>%s</ChangeResourceRecordSetsResponse>`, ns, change("PENDING"))
	case r.Method == http.MethodGet && r.URL.Path == "/2013-04-01/change/C0NFX":
		f.calls = append(f.calls, "route53 GetChange")
		status := "INSYNC"
		if f.pending--; f.pending > 0 {
			status = "PENDING"
		}
		fmt.Fprintf(w, `<GetChangeResponse %s>%s</GetChangeResponse>`, ns, change(status))
	default:
		f.t.Errorf("a Route 53 call the failover has no business with: %s %s", r.Method, r.URL)
		http.Error(w, "no", http.StatusBadRequest)
	}
}

// writes is the calls that change something.
func (f *fakeAWS) writes() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		if !strings.Contains(c, " Describe") && !strings.Contains(c, " Get") && !strings.Contains(c, " List") && !strings.Contains(c, "(no answer)") && !strings.Contains(c, "(answer lost)") && !strings.Contains(c, "(refused)") {
			out = append(out, c)
		}
	}
	return out
}

func parseForm(body string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range strings.Split(body, "&") {
		k, v, _ := strings.Cut(kv, "=")
		var err error
		if k, err = url.QueryUnescape(k); err != nil {
			return nil, err
		}
		if v, err = url.QueryUnescape(v); err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, nil
}

func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// stackTag is the nextflow.io/stack tag, or none for instances made before
// nfx tagged it.
func stackTag(stack string) string {
	if stack == "" {
		return ""
	}
	return "<Tag><Key>nextflow.io/stack</Key><Value>" + esc(stack) + "</Value></Tag>"
}

// eks answers DescribeCluster (EKS API reference: GET /clusters/{name},
// REST-JSON).
func (f *fakeAWS) eks(w http.ResponseWriter, r *http.Request, region string) {
	name, ok := strings.CutPrefix(r.URL.Path, "/clusters/")
	f.calls = append(f.calls, region+" eks DescribeCluster "+name)
	c, found := f.clusters[region+"/"+name]
	if r.Method != http.MethodGet || !ok || !found {
		w.Header().Set("X-Amzn-Errortype", "ResourceNotFoundException")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"message":"No cluster found for name: %s."}`, name)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	out, _ := json.Marshal(map[string]any{"cluster": map[string]any{
		"name": name, "status": "ACTIVE", "endpoint": c[0],
		"certificateAuthority": map[string]any{"data": base64.StdEncoding.EncodeToString([]byte(c[1]))},
	}})
	_, _ = w.Write(out)
}
