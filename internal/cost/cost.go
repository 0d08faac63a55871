// Package cost prices a stage per month and one-time, item by item: the
// self-hosted stages from their power draw, connectivity, lease and
// hardware; the cloud from its plan against an embedded AWS price table.
// Nothing in a plan is counted as zero in silence: what cannot be priced is
// listed as unpriced. It is pure: no Pulumi, no I/O.
package cost

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/plan"
	"github.com/nextflow-crm/nfx/internal/provider/aws"
)

// Currencies nfx reports in.
const (
	VND = "VND"
	USD = "USD"
)

// Amortisation is the item of the bill that spreads the one-time
// investment over its months.
const Amortisation = "hardware amortisation"

// Line is one item of the bill.
type Line struct {
	Item  string `json:"item"`
	Group string `json:"group"`
	// Monthly is at the planned (desired) size; MonthlyMax at the node
	// groups' maximum size.
	Monthly    float64 `json:"monthly"`
	MonthlyMax float64 `json:"monthlyMax"`
	Detail     string  `json:"detail"`
	// Part is the part the line is for alone (RDS for the database);
	// Pool the node pool whose pods share it.
	Part string `json:"part,omitempty"`
	Pool string `json:"pool,omitempty"`
}

// PartCost is one part's share of the monthly bill: the lines that are
// its own, and its CPU share of the machines or node pools it runs on.
type PartCost struct {
	Part    string  `json:"part"`
	Monthly float64 `json:"monthly"`
	Basis   string  `json:"basis"`
}

// Unpriced is a planned resource the price table does not cover.
type Unpriced struct {
	Type   string `json:"type"`
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// Estimate is a stage's cost.
type Estimate struct {
	Stage        string     `json:"stage"`
	Currency     string     `json:"currency"`
	MonthlyTotal float64    `json:"monthlyTotal"`
	MonthlyMax   float64    `json:"monthlyMax"`
	OneTimeTotal float64    `json:"oneTimeTotal"`
	Lines        []Line     `json:"lines"`
	OneTime      []Line     `json:"oneTime"`
	Unpriced     []Unpriced `json:"unpriced"`
	// Parts attributes the monthly total to the parts, the user's
	// services among them; "shared" is what no part has alone.
	Parts       []PartCost `json:"parts"`
	Assumptions []string   `json:"assumptions"`
	// UsdVnd is the exchange rate used.
	UsdVnd float64 `json:"usdVnd"`
	Prices string  `json:"prices,omitempty"`
}

// Estimate prices a stage. p is the stage's plan (the cloud is priced from
// it); currency is VND or USD.
func Compute(cfg *model.Config, p *plan.Plan, currency string) (*Estimate, error) {
	if currency != VND && currency != USD {
		return nil, fmt.Errorf("--currency: unknown currency %q; use VND or USD", currency)
	}
	prof, err := model.ProfileOf(cfg.Stage)
	if err != nil {
		return nil, err
	}
	e := &Estimate{Stage: string(cfg.Stage), Currency: currency, UsdVnd: cfg.Costs.UsdVnd, Lines: []Line{}, OneTime: []Line{}, Unpriced: []Unpriced{}}
	switch prof.Hosting {
	case model.SelfHosted:
		e.selfHosted(cfg)
	case model.Provider:
		price, ok := providers[prof.Provider]
		if !ok {
			return nil, fmt.Errorf("stage %s: nfx has no prices for provider %q", cfg.Stage, prof.Provider)
		}
		if err := price(e, cfg, p); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("stage %s: unknown hosting %q", cfg.Stage, prof.Hosting)
	}
	for _, l := range e.Lines {
		e.MonthlyTotal += l.Monthly
		e.MonthlyMax += l.MonthlyMax
	}
	for _, l := range e.OneTime {
		e.OneTimeTotal += l.Monthly
	}
	e.attribute(cfg, prof)
	return e, nil
}

// vnd adds a line given in VND, converting to the report's currency.
func (e *Estimate) vnd(item, group string, monthly, max float64, detail string) {
	if e.Currency == USD {
		monthly, max = monthly/e.UsdVnd, max/e.UsdVnd
	}
	e.Lines = append(e.Lines, Line{Item: item, Group: group, Monthly: round(monthly), MonthlyMax: round(max), Detail: detail})
}

// usd adds a line given in USD.
func (e *Estimate) usd(item, group string, monthly, max float64, detail string) {
	if e.Currency == VND {
		monthly, max = monthly*e.UsdVnd, max*e.UsdVnd
	}
	e.Lines = append(e.Lines, Line{Item: item, Group: group, Monthly: round(monthly), MonthlyMax: round(max), Detail: detail})
}

func round(v float64) float64 { return math.Round(v*100) / 100 }

func (e *Estimate) selfHosted(cfg *model.Config) {
	c := cfg.Costs
	nodes := max(cfg.Host.Nodes, 1)
	watts := c.DevicePowerW*float64(nodes) + c.CoolingPowerW + c.NASPowerW
	kwh := watts * c.HoursPerDay * 30 / 1000
	e.vnd("electricity", "operations", kwh*c.Tariff, kwh*c.Tariff,
		fmt.Sprintf("%.0f W (%d x %.0f W machines, %.0f W cooling, %.0f W NAS) x %.0f h x 30 days = %.0f kWh at %.0f VND/kWh",
			watts, nodes, c.DevicePowerW, c.CoolingPowerW, c.NASPowerW, c.HoursPerDay, kwh, c.Tariff))
	e.vnd("internet", "operations", c.Internet, c.Internet, "the connection")
	e.vnd("maintenance", "operations", c.Maintenance, c.Maintenance, "repairs, parts and upkeep")
	if c.Lease > 0 {
		e.vnd("server lease", "infrastructure", c.Lease, c.Lease, "rack space and leased servers")
	}
	if c.Investment > 0 {
		m := c.Investment / float64(c.AmortizationMonths)
		e.vnd(Amortisation, "infrastructure", m, m, fmt.Sprintf("%.0f VND over %d months", c.Investment, c.AmortizationMonths))
		inv := c.Investment
		if e.Currency == USD {
			inv /= c.UsdVnd
		}
		e.OneTime = append(e.OneTime, Line{Item: "hardware investment", Group: "infrastructure", Monthly: round(inv), MonthlyMax: round(inv), Detail: "GPUs, NAS and set-up"})
	}
	e.Assumptions = append(e.Assumptions,
		fmt.Sprintf("the machines run %.0f h a day; set nextflow:costs.hoursPerDay", c.HoursPerDay),
		fmt.Sprintf("electricity costs %.0f VND/kWh; set nextflow:costs.tariff to your bill's rate", c.Tariff))
	if c.Investment == 0 {
		e.Assumptions = append(e.Assumptions, fmt.Sprintf("the %s stage's hardware is already owned: no investment", cfg.Stage))
	}
}

// free are the planned types that cost nothing themselves beyond the
// provider's own (aws.Free): their cost is in what runs on them.
var free = map[string]string{
	"pulumi:providers:kubernetes": "no charge",
	"pulumi:providers:aws":        "no charge",
	"cloudflare:index/zeroTrustTunnelCloudflared:ZeroTrustTunnelCloudflared":             "Cloudflare Tunnel has no charge; cloudflared runs on the priced nodes",
	"cloudflare:index/zeroTrustTunnelCloudflaredConfig:ZeroTrustTunnelCloudflaredConfig": "no charge",
	"kubernetes:helm.sh/v3:Release":  "runs on the priced nodes",
	"cloudflare:index/record:Record": "DNS records are free on every Cloudflare plan",
}

// unpricedLoadBalancing says why Cloudflare Load Balancing is not priced:
// a paid add-on of the account whose bill depends on its subscription
// (endpoints, the checks' interval and regions) and on its DNS queries,
// none of which nfx has a published price for.
const unpricedLoadBalancing = "Cloudflare Load Balancing is a paid add-on billed to the account (by its subscription's endpoints, check interval and regions, and its DNS queries); nfx has no price for it: add it from your Cloudflare bill"

// price looks up a size in one of the table's price lists; a size the list
// lacks makes the resource unpriced, never free.
func (e *Estimate) price(list map[string]float64, region, size string, r plan.Resource) (float64, bool) {
	v, ok := list[size]
	if !ok {
		e.Unpriced = append(e.Unpriced, Unpriced{r.Type, r.Name, fmt.Sprintf("no %s price for %s", region, size)})
	}
	return v, ok
}

// providers price each provider's plan.
var providers = map[string]func(*Estimate, *model.Config, *plan.Plan) error{
	"aws": (*Estimate).aws,
}

// aws prices an AWS plan against the embedded price table.
func (e *Estimate) aws(cfg *model.Config, p *plan.Plan) error {
	cc, costs := cfg.Cloud, cfg.Costs
	t, ok := aws.Prices[cc.Region]
	if !ok {
		var regions []string
		for r := range aws.Prices {
			regions = append(regions, r)
		}
		sort.Strings(regions)
		return fmt.Errorf("nextflow:cloud.region: nfx has no prices for %q; it prices %s", cc.Region, strings.Join(regions, ", "))
	}
	e.Prices = fmt.Sprintf("%s, %s, %s", t.Region, aws.PricesDate, aws.PricesSource)
	h := float64(aws.HoursPerMonth)
	nats := map[string]int{}
	scaled := hpaBounds(p)
	primary := t
	for _, r := range p.Resources {
		in := r.Inputs
		// A resource of the second region (cloud.standbyRegion) at that
		// region's prices, or unpriced where nfx has none.
		t = primary
		standby := ""
		reg := ""
		if tags, _ := in["tags"].(map[string]any); tags != nil {
			reg, _ = tags[aws.RegionTag].(string)
		}
		if reg == "" && strings.HasPrefix(r.Type, "kubernetes:") && strings.Contains(r.Provider, aws.StandbyInfix) {
			// An object of the standby's cluster: its volumes are that region's.
			reg = cc.StandbyRegion
		}
		if reg != "" && reg != primary.Region {
			rt, ok := aws.Prices[reg]
			_, isFree := aws.Free[r.Type]
			switch {
			case isFree, !ok && strings.HasPrefix(r.Type, "kubernetes:") && !k8sPriced(r):
				continue
			case !ok:
				e.Unpriced = append(e.Unpriced, Unpriced{r.Type, r.Name, "nfx has no prices for " + reg})
				continue
			}
			t, standby = rt, reg
		}
		lines := len(e.Lines)
		switch {
		case strings.HasPrefix(r.Type, "nextflow:"):
			continue
		case r.Type == aws.Cluster:
			// A version past its standard support is billed at the
			// extended rate for as long as it runs (aws.EKSVersions).
			version, _ := in["version"].(string)
			support, day := aws.EKSSupport(version, cfg.Today), cfg.Today.Format("2006-01-02")
			rate, why := t.EKSCluster, fmt.Sprintf("$%.2f/h, Kubernetes %s in standard support on %s", t.EKSCluster, version, day)
			if support != aws.SupportStandard {
				rate, why = t.EKSExtended, fmt.Sprintf("$%.2f/h: Kubernetes %s is %s on %s", t.EKSExtended, version, support, day)
			}
			e.usd("EKS control plane", "infrastructure", rate*h, rate*h, why)
			logs := costs.LogsGB * t.LogsIngestGB
			e.usd("control-plane logs", "infrastructure", logs, logs, fmt.Sprintf("%.0f GB/month ingested (assumed) at $%.2f/GB", costs.LogsGB, t.LogsIngestGB))
		case r.Type == aws.NodeGroup:
			typ := first(in["instanceTypes"])
			price, ok := e.price(t.EC2, t.Region, typ, r)
			if !ok {
				continue
			}
			sc, _ := in["scalingConfig"].(map[string]any)
			desired, maxSize := num(sc["desiredSize"]), num(sc["maxSize"])
			e.usd("nodes "+r.Name, "infrastructure", desired*price*h, maxSize*price*h, fmt.Sprintf("%.0f (up to %.0f) x %s at $%.3f/h", desired, maxSize, typ, price))
			pool, _ := in["labels"].(map[string]any)
			e.Lines[len(e.Lines)-1].Pool, _ = pool["nextflow.io/pool"].(string)
			disk := num(in["diskSize"])
			if disk == 0 {
				disk = 20 // EKS's default root volume
			}
			e.usd("node disks "+r.Name, "infrastructure", desired*disk*t.EBSgp3GB, maxSize*disk*t.EBSgp3GB, fmt.Sprintf("%.0f GB gp3 each at $%.3f/GB-month", disk, t.EBSgp3GB))
		case r.Type == aws.NATGateway:
			nats[t.Region]++
		case r.Type == aws.EIP:
			e.usd("public IPv4 "+r.Name, "infrastructure", t.PublicIPv4*h, t.PublicIPv4*h, fmt.Sprintf("$%.3f/h", t.PublicIPv4))
		case r.Type == "kubernetes:apps/v1:StatefulSet":
			spec, _ := in["spec"].(map[string]any)
			replicas, most := num(spec["replicas"]), num(spec["replicas"])
			what := fmt.Sprintf("%.0f", replicas)
			if b, ok := scaled[metaName(in)]; ok && spec["replicas"] == nil {
				// The HPA owns the count: its floor, and its ceiling at most.
				replicas, most = b[0], b[1]
				what = fmt.Sprintf("%.0f (up to %.0f)", b[0], b[1])
			}
			claims, _ := spec["volumeClaimTemplates"].([]any)
			// A pod's own volumes (ephemeral: made and deleted with it).
			tmpl, _ := spec["template"].(map[string]any)
			podSpec, _ := tmpl["spec"].(map[string]any)
			vols, _ := podSpec["volumes"].([]any)
			for _, v := range vols {
				vm, _ := v.(map[string]any)
				eph, _ := vm["ephemeral"].(map[string]any)
				if ct, ok := eph["volumeClaimTemplate"]; ok {
					claims = append(claims, ct)
				}
			}
			for _, c := range claims {
				gb := claimGB(c)
				e.usd("volumes "+r.Name, "infrastructure", replicas*gb*t.EBSgp3GB, most*gb*t.EBSgp3GB, fmt.Sprintf("%s x %.0f GB gp3 at $%.3f/GB-month", what, gb, t.EBSgp3GB))
			}
		case r.Type == aws.DBInstance:
			class, _ := in["instanceClass"].(string)
			price, ok := e.price(t.RDS, t.Region, class, r)
			if !ok {
				continue
			}
			copies, az := 1.0, "single-AZ"
			if in["multiAz"] == true {
				copies, az = 2, "Multi-AZ"
			}
			storage := num(in["allocatedStorage"])
			if storage == 0 {
				storage = float64(cc.DBStorageGB) // a replica has its source's storage
			}
			v := copies * price * h
			e.usd("database "+r.Name, "infrastructure", v, v, fmt.Sprintf("%s %s at $%.3f/h per instance", class, az, price))
			e.Lines[len(e.Lines)-1].Part = partOf(r)
			s := copies * storage * t.RDSgp3GB
			e.usd("database storage "+r.Name, "infrastructure", s, s, fmt.Sprintf("%.0f GB gp3 x %.0f at $%.3f/GB-month", storage, copies, t.RDSgp3GB))
			e.Lines[len(e.Lines)-1].Part = partOf(r)
		case r.Type == aws.CacheGroup:
			typ, _ := in["nodeType"].(string)
			price, ok := e.price(t.Cache, t.Region, typ, r)
			if !ok {
				continue
			}
			n := num(in["numCacheClusters"])
			e.usd("cache "+r.Name, "infrastructure", n*price*h, n*price*h, fmt.Sprintf("%.0f x %s at $%.3f/h", n, typ, price))
			e.Lines[len(e.Lines)-1].Part = partOf(r)
		case r.Type == aws.Bucket:
			v := costs.S3GB * t.S3GB
			e.usd("backup storage", "infrastructure", v, v, fmt.Sprintf("%.0f GB (assumed) at $%.3f/GB-month", costs.S3GB, t.S3GB))
		case r.Type == aws.BucketReplication:
			// Each backup crosses to the standby once, billed by the
			// source: a month's new backups, the stored GB over the days
			// they are kept.
			monthly := costs.S3GB * math.Min(1, 30/float64(max(cc.BackupRetentionDays, 1)))
			v := monthly * t.TransferRegion
			e.usd("backup replication to the standby", "infrastructure", v, v, fmt.Sprintf("%.0f GB a month (%.0f GB kept %d days) between regions at $%.3f/GB", monthly, costs.S3GB, cc.BackupRetentionDays, t.TransferRegion))
		case r.Type == aws.MetricAlarm:
			e.usd("alarm "+r.Name, "infrastructure", t.AlarmMonth, t.AlarmMonth, fmt.Sprintf("$%.2f/month", t.AlarmMonth))
		case r.Type == aws.KMSKey:
			e.usd("KMS key", "infrastructure", t.KMSKeyMonth, t.KMSKeyMonth, fmt.Sprintf("$%.2f/month", t.KMSKeyMonth))
		case r.Type == aws.HostedZone:
			e.usd("private DNS zone", "infrastructure", t.HostedZoneMonth, t.HostedZoneMonth, fmt.Sprintf("$%.2f/month", t.HostedZoneMonth))
		case r.Type == "kubernetes:helm.sh/v3:Release" && in["chart"] == "kube-prometheus-stack":
			// Its pods run on the priced nodes; Prometheus's volume is its own.
			values, _ := in["values"].(map[string]any)
			prom, _ := values["prometheus"].(map[string]any)
			spec, _ := prom["prometheusSpec"].(map[string]any)
			storage, _ := spec["storageSpec"].(map[string]any)
			if gb := claimGB(storage["volumeClaimTemplate"]); gb > 0 {
				v := gb * t.EBSgp3GB
				e.usd("volumes prometheus", "infrastructure", v, v, fmt.Sprintf("%.0f GB gp3 at $%.3f/GB-month (nextflow:monitoring.diskGB)", gb, t.EBSgp3GB))
				e.Lines[len(e.Lines)-1].Part = model.RoleMonitoring
			}
		case strings.HasPrefix(r.Type, "kubernetes:"):
			continue // the objects run on the priced nodes
		default:
			if _, ok := free[r.Type]; ok {
				continue
			}
			if _, ok := aws.Free[r.Type]; ok {
				continue
			}
			why := "not in nfx's price table"
			switch {
			case strings.HasPrefix(r.Type, "cloudflare:index/loadBalancer"):
				why = unpricedLoadBalancing
			case r.Type == "cloudflare:index/notificationPolicy:NotificationPolicy":
				why = "a Cloudflare notification of the load balancers' pools' health, a feature of the account: nfx has no price for it"
			}
			e.Unpriced = append(e.Unpriced, Unpriced{r.Type, r.Name, why})
		}
		for i := lines; standby != "" && i < len(e.Lines); i++ {
			if !strings.Contains(e.Lines[i].Item, "standby") {
				e.Lines[i].Item += ", standby in " + standby
			}
		}
	}
	t = primary
	if n := nats[t.Region]; n > 0 {
		v := float64(n) * t.NATHour * h
		e.usd("NAT gateways", "infrastructure", v, v, fmt.Sprintf("%d x $%.3f/h", n, t.NATHour))
		d := costs.NatGB * t.NATGB
		e.usd("NAT data processed", "infrastructure", d, d, fmt.Sprintf("%.0f GB (assumed) at $%.3f/GB", costs.NatGB, t.NATGB))
	}
	if n := nats[cc.StandbyRegion]; n > 0 {
		// The standby's, at its region's price; its traffic is the
		// serving region's, priced once, in the primary's.
		st := aws.Prices[cc.StandbyRegion]
		v := float64(n) * st.NATHour * h
		e.usd("NAT gateways, standby in "+cc.StandbyRegion, "infrastructure", v, v, fmt.Sprintf("%d x $%.3f/h", n, st.NATHour))
	}
	out := costs.DataTransferGB * t.TransferOut
	e.usd("data transfer out", "infrastructure", out, out, fmt.Sprintf("%.0f GB to the Internet (assumed) at $%.2f/GB", costs.DataTransferGB, t.TransferOut))
	e.vnd("AI API", "operations", costs.AIAPI, costs.AIAPI, "external AI API usage (nextflow:costs.aiApi)")
	e.vnd("monitoring and tools", "operations", costs.Monitoring, costs.Monitoring, "nextflow:costs.monitoring")
	e.vnd("DevOps team", "operations", costs.DevOps, costs.DevOps, "nextflow:costs.devops")
	e.Assumptions = append(e.Assumptions,
		"on-demand prices, 730 hours a month, no Savings Plans or Reserved Instances",
		fmt.Sprintf("node groups at their desired size; monthlyMax at their maximum"),
		fmt.Sprintf("usage: %.0f GB out to the Internet, %.0f GB through NAT, %.0f GB of backups, %.0f GB of logs a month", costs.DataTransferGB, costs.NatGB, costs.S3GB, costs.LogsGB),
		fmt.Sprintf("1 USD = %.0f VND; set nextflow:costs.usdVnd", costs.UsdVnd))
	if cc.StandbyRegion != "" {
		e.Assumptions = append(e.Assumptions, fmt.Sprintf("the database's replication to %s (its write-ahead log, as much as the database writes) is not priced: $%.3f/GB between regions from %s",
			cc.StandbyRegion, primary.TransferRegion, primary.Region))
	}
	sort.SliceStable(e.Unpriced, func(i, j int) bool { return e.Unpriced[i].Name < e.Unpriced[j].Name })
	return nil
}

// k8sPriced says whether a Kubernetes object is priced itself: a
// StatefulSet's volumes, Prometheus's in the monitoring's release.
func k8sPriced(r plan.Resource) bool {
	return r.Type == "kubernetes:apps/v1:StatefulSet" || (r.Type == "kubernetes:helm.sh/v3:Release" && r.Inputs["chart"] == "kube-prometheus-stack")
}

// partOf is the part a resource is parented to ("nextflow-postgres" is
// the postgres part's component).
func partOf(r plan.Resource) string {
	name, ok := strings.CutPrefix(r.Parent, model.Namespace+"-")
	if !ok {
		return ""
	}
	if _, isPart := model.LookupPart(name); isPart {
		return name
	}
	return ""
}

// attribute splits the monthly total over the parts. On a self-hosted
// stage the machines run every container: each part gets its CPU share of
// the whole bill. On a provider, a line of a part's own (RDS) is that
// part's; a node pool's lines are shared by the pods on it by their CPU;
// the rest (the control plane, NAT, load balancers, the team) is shared.
func (e *Estimate) attribute(cfg *model.Config, prof model.Profile) {
	app := model.Build(cfg)
	pool := func(in model.Instance) string {
		if p, ok := app.Part(in.Part); ok && p.Service.GPUs > 0 && cfg.Cloud.GPUPool {
			return "gpu"
		}
		return "general"
	}
	cores := map[string]map[string]float64{} // pool -> part -> cores
	total := map[string]float64{}
	var order []string
	seen := map[string]bool{}
	for _, in := range model.Instances(cfg) {
		name := in.Group()
		if !seen[name] {
			seen[name] = true
			order = append(order, name)
		}
		pl := "all"
		if prof.Hosting == model.Provider {
			pl = pool(in)
		}
		if cores[pl] == nil {
			cores[pl] = map[string]float64{}
		}
		c := in.Sizing.CPUs * float64(in.Replicas)
		cores[pl][name] += c
		total[pl] += c
	}
	got := map[string]float64{}
	basis := map[string][]string{}
	pooled := map[string]bool{}
	shared := 0.0
	for _, l := range e.Lines {
		switch {
		case prof.Hosting == model.SelfHosted && total["all"] > 0:
			for n, c := range cores["all"] {
				got[n] += l.Monthly * c / total["all"]
			}
		case l.Part != "":
			if !seen[l.Part] {
				seen[l.Part] = true
				order = append(order, l.Part)
			}
			got[l.Part] += l.Monthly
			basis[l.Part] = append(basis[l.Part], l.Item)
		case l.Pool != "" && total[l.Pool] > 0:
			for n, c := range cores[l.Pool] {
				got[n] += l.Monthly * c / total[l.Pool]
				pooled[n] = true
			}
		default:
			shared += l.Monthly
		}
	}
	for _, n := range order {
		b := "its CPU share of the machines"
		if prof.Hosting == model.Provider {
			b = "its CPU share of its node pool"
			if len(basis[n]) > 0 {
				b = strings.Join(basis[n], ", ")
				if pooled[n] {
					b = "its CPU share of its node pool, " + b
				}
			}
		}
		if got[n] == 0 {
			continue
		}
		e.Parts = append(e.Parts, PartCost{Part: n, Monthly: round(got[n]), Basis: b})
	}
	if shared > 0 {
		e.Parts = append(e.Parts, PartCost{Part: "shared", Monthly: round(shared), Basis: "what no part has alone: the platform, the network, operations"})
	}
}

// InfrastructureTotal sums the infrastructure lines.
func (e *Estimate) InfrastructureTotal() float64 {
	var v float64
	for _, l := range e.Lines {
		if l.Group == "infrastructure" {
			v += l.Monthly
		}
	}
	return v
}

func first(v any) string {
	if a, ok := v.([]any); ok && len(a) > 0 {
		s, _ := a[0].(string)
		return s
	}
	return ""
}

func num(v any) float64 {
	f, _ := v.(float64)
	return f
}

// hpaBounds is the floor and ceiling of each StatefulSet an HPA of the
// plan scales, by the set's name.
func hpaBounds(p *plan.Plan) map[string][2]float64 {
	out := map[string][2]float64{}
	for _, r := range p.Resources {
		if r.Type != "kubernetes:autoscaling/v2:HorizontalPodAutoscaler" {
			continue
		}
		spec, _ := r.Inputs["spec"].(map[string]any)
		ref, _ := spec["scaleTargetRef"].(map[string]any)
		if ref["kind"] == "StatefulSet" {
			name, _ := ref["name"].(string)
			out[name] = [2]float64{num(spec["minReplicas"]), num(spec["maxReplicas"])}
		}
	}
	return out
}

// metaName is a Kubernetes object's metadata.name among its inputs.
func metaName(in map[string]any) string {
	md, _ := in["metadata"].(map[string]any)
	name, _ := md["name"].(string)
	return name
}

func claimGB(c any) float64 {
	m, _ := c.(map[string]any)
	spec, _ := m["spec"].(map[string]any)
	res, _ := spec["resources"].(map[string]any)
	req, _ := res["requests"].(map[string]any)
	s, _ := req["storage"].(string)
	var gb float64
	if _, err := fmt.Sscanf(strings.TrimSuffix(s, "Gi"), "%g", &gb); err != nil {
		return 0
	}
	return gb * 1.073741824 // GiB to GB
}
