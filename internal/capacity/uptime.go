package capacity

import (
	"fmt"
	"math"

	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/provider/aws"
)

// Failure rates and repair times of the self-hosted stages. They are
// assumptions, stated: what a laptop in an office and a small rack on
// premises typically see. Redundancy changes a failure's cost from the
// repair time to the failover time; the rates stay.
const (
	// A laptop crashes, shuts down hot or reboots for an update about once
	// a week, and is back in about two hours.
	laptopIncidents, laptopRepairHours = 4.0, 2.0
	// Power cuts a laptop's router and network with no UPS.
	laptopPowerCuts, laptopPowerHours = 2.0, 1.0
	// A home or small-office internet line.
	homeLineOutages, homeLineHours = 1.0, 3.0
	// A server node's hardware, kernel or disk fault, per node.
	nodeFaultsPerNode = 0.25
	// Rebuilding a node, or restoring a database that had no replica.
	nodeRepairHours = 4.0
	// The operator promotes the PostgreSQL replica with failover.sh after
	// the health checks' alert.
	pgManualFailoverHours = 0.5
	// Sentinel elects the Redis replica (down-after 5 s, then the election).
	sentinelFailoverHours = 30.0 / 3600
	// Swarm reschedules a lone stateless task on another node.
	rescheduleHours = 2.0 / 60
	// A business line with a service-level agreement; one line, no second ISP.
	businessLineOutages, businessLineHours = 1.0, 2.0
	// Power outages longer than the UPS bridges.
	longPowerCuts, longPowerHours = 0.1, 4.0
	// Planned PostgreSQL minor upgrades: a switchover to the replica.
	plannedSwitchovers, switchoverHours = 1.0, 5.0 / 60
)

// A second region with a cluster (cloud.standbyCluster) turns an outage of
// the primary's into a failover. The SLAs give a month's downtime, not how
// it comes: these are assumptions, stated.
const (
	// An outage of a region's parts lasts two hours on average (AWS's
	// post-event summaries run from under one to over ten).
	regionOutageHours = 2.0
	// The failover, in minutes: the operator paged and deciding; nfx
	// failover --unplanned's promotion, which nfx failover --rehearse
	// measures (RDS: minutes); its start of the standby's tunnel
	// connectors on the running nodes (beside the vector store's restore),
	// after which the CRM serves (its AI as GPU nodes join).
	failoverDetectMinutes, failoverPromoteMinutes, failoverServeMinutes = 10.0, 10.0, 5.0
	// Behind Cloudflare's load balancers (cloud.loadBalancer) the standby's
	// connectors run already: serving is the balancers' switch, one API
	// call whose change a proxied balancer applies without a DNS TTL; a
	// minute, stated.
	failoverSwitchMinutes = 1.0
)

func (e *Estimate) uptime(cfg *model.Config) error {
	switch m := model.Profiles[cfg.Stage].UptimeModel; m {
	case model.UptimeSingleHost:
		e.ServiceHoursPerDay = cfg.Costs.HoursPerDay
		e.Uptime = []Outage{
			outage("the laptop crashes, overheats or reboots for updates", laptopIncidents, laptopRepairHours, "one machine: every part is down until it is back"),
			outage("power cut, no UPS", laptopPowerCuts, laptopPowerHours, ""),
			outage("internet line outage", homeLineOutages, homeLineHours, "the Cloudflare Tunnel needs the line"),
		}
	case model.UptimeCluster:
		e.ServiceHoursPerDay = 24
		e.Uptime = serverOutages(cfg)
	case model.UptimeProviderSLA:
		e.ServiceHoursPerDay = 24
		up := 1.0
		for _, s := range aws.SLAs {
			up *= s.Uptime / 100
			e.Uptime = append(e.Uptime, Outage{Cause: s.Part, DowntimeHours: (1 - s.Uptime/100) * hoursPerMonth,
				Detail: fmt.Sprintf("%.2f %% committed", s.Uptime)})
		}
		e.DowntimeHoursPerMonth = (1 - up) * hoursPerMonth
		e.UptimePercent = up * 100
		e.Assumptions = append(e.Assumptions, "the provider's uptime is the product of the published SLAs of the parts in series, in one region")
		if r := cfg.Cloud.StandbyRegion; r != "" {
			e.Standby = &Standby{Region: r,
				DataLost: "the database's writes not yet replayed by its cross-region replica (its lag, which AWS expects to be higher across regions than within one), the backups not yet copied (usually within 15 minutes, at times hours), Qdrant since its last daily backup, and the cache (sessions and queues)",
				Recovery: "nfx failover --stage cloud promotes the replica and moves the database's names to it (nfx failover --rehearse measures how long the promotion takes, into the ledger); the workloads stay in the primary's region, reaching it through the peering, and a lost region's workloads need the cluster built there (EKS alone about 20 minutes): not counted in the uptime above, which no second region raises until a cluster runs there (cloud.standbyCluster)"}
			if cfg.Cloud.StandbyCluster {
				e.twoRegions(cfg, 1-up)
			}
		}
		return nil
	default:
		return fmt.Errorf("stage %s: no uptime model %q in nfx", cfg.Stage, m)
	}
	for _, o := range e.Uptime {
		e.DowntimeHoursPerMonth += o.DowntimeHours
	}
	service := e.ServiceHoursPerDay * hoursPerMonth / 24
	e.UptimePercent = 100
	if service > 0 {
		e.UptimePercent = 100 * max(0, 1-e.DowntimeHoursPerMonth/service)
	}
	e.Assumptions = append(e.Assumptions, fmt.Sprintf("uptime is counted over %g service hours a day", e.ServiceHoursPerDay))
	return nil
}

func outage(cause string, events, hours float64, detail string) Outage {
	return Outage{Cause: cause, EventsPerMonth: events, HoursEach: hours, DowntimeHours: events * hours, Detail: detail}
}

// serverOutages weighs a node fault by what runs on the failed node: the
// PostgreSQL primary, the Redis primary, or only stateless replicas.
func serverOutages(cfg *model.Config) []Outage {
	topo := model.Profiles[cfg.Stage].Topology
	nodes := float64(max(cfg.Host.Nodes, 1))
	pg, pgHow := nodeRepairHours, "no replica: repaired or restored from backup"
	if topo.PostgresInstances >= 2 && cfg.Host.Nodes >= 2 {
		pg, pgHow = pgManualFailoverHours, "the operator promotes the replica (failover.sh)"
	}
	redis, redisHow := nodeRepairHours, "no replica"
	if topo.RedisInstances >= 2 && topo.Sentinels >= 3 && cfg.Host.Nodes >= 2 {
		redis, redisHow = sentinelFailoverHours, "Sentinel promotes the replica"
	}
	// A lone CRM or AI task is rescheduled on another node; two or more
	// behind nginx keep serving.
	stateless, statelessHow := 0.0, "CRM and AI replicas on other nodes keep serving"
	if cfg.CRM.Replicas < 2 || cfg.AI.Replicas < 2 {
		stateless, statelessHow = rescheduleHours, "Swarm reschedules the lone CRM or AI task"
	}
	if cfg.Host.Nodes < 2 {
		stateless, statelessHow = nodeRepairHours, "one node: everything waits for the repair"
	}
	each := (pg + redis + stateless*(nodes-2)) / nodes
	if nodes < 2 {
		each = nodeRepairHours
	}
	faults := nodeFaultsPerNode * nodes
	return []Outage{
		outage("a node fails", faults, each, fmt.Sprintf("%d nodes; PostgreSQL primary's node: %s; Redis primary's: %s; others: %s", cfg.Host.Nodes, pgHow, redisHow, statelessHow)),
		outage("planned PostgreSQL switchover", plannedSwitchovers, switchoverHours, "minor upgrades restart the primary"),
		outage("power cut longer than the UPS", longPowerCuts, longPowerHours, ""),
		outage("internet line outage", businessLineOutages, businessLineHours, "one business line: the Cloudflare Tunnel needs it"),
	}
}

// seed compares the estimate with the seed's figures for the stage.
func (e *Estimate) seed(cfg *model.Config) {
	p := model.Profiles[cfg.Stage]
	rng := func(lo, hi float64, unit string) string {
		if hi == 0 {
			return fmt.Sprintf("%g+%s", lo, unit)
		}
		return fmt.Sprintf("%g-%g%s", lo, hi, unit)
	}
	check := func(metric string, v, lo, hi float64, seed string) {
		e.Seed = append(e.Seed, Check{Metric: metric, Estimate: v, Low: lo, High: hi, Within: v >= lo && (hi == 0 || v <= hi), Seed: seed})
	}
	check("concurrent users", float64(e.ConcurrentUsers), float64(p.Users[0]), float64(p.Users[1]), rng(float64(p.Users[0]), float64(p.Users[1]), ""))
	check("AI requests/s", e.AIRequestsPerSecond, p.AIRequests[0], p.AIRequests[1], rng(p.AIRequests[0], p.AIRequests[1], ""))
	// A faster answer or a higher uptime than the seed's range is not a miss.
	check("response time (s)", e.ResponseSeconds, 0, p.Response[1], rng(p.Response[0], p.Response[1], " s"))
	check("uptime (%)", e.UptimePercent, p.Uptime, 0, rng(p.Uptime, p.UptimeHigh, " %"))
}

// twoRegions counts the uptime of a primary region whose outages a warm
// standby region takes over: each outage (the SLAs' downtime in outages of
// regionOutageHours) costs the failover's time, and both regions down at
// once (independent, each at the SLAs' unavailability down) all of it.
// It says what failover time would reach the seed's uptime.
func (e *Estimate) twoRegions(cfg *model.Config, down float64) {
	outages := down * hoursPerMonth / regionOutageHours
	serve, serving := failoverServeMinutes, "to start its tunnel connectors (beside the vector store's restore)"
	if cfg.Cloud.LoadBalancer {
		serve, serving = failoverSwitchMinutes, "to switch Cloudflare's load balancers to its pools (its connectors run already)"
	}
	promote, promoting := failoverPromoteMinutes, "to promote (nfx failover --unplanned; assumed: nfx failover --rehearse measures it)"
	if m := e.measured; m.Promote > 0 {
		promote = m.Promote.Minutes()
		promoting = "to promote and move the names, as " + m.PromoteSource + " measured"
		e.Standby.PromoteMeasured = m.PromoteSource
	}
	failover := failoverDetectMinutes + promote + serve
	both := down * down * hoursPerMonth
	e.Uptime = []Outage{
		outage("the primary region's parts fail (their SLAs in series)", outages, min(failover/60, regionOutageHours),
			fmt.Sprintf("%.3f %% down, as outages of %g h; %s takes over after the failover: %g min to page and decide, %g %s, %g %s",
				down*100, regionOutageHours, cfg.Cloud.StandbyRegion, failoverDetectMinutes, math.Round(promote*10)/10, promoting, serve, serving)),
		{Cause: "both regions down at once", DowntimeHours: both, Detail: fmt.Sprintf("each %.3f %% down, independently", down*100)},
	}
	e.DowntimeHoursPerMonth = 0
	for _, o := range e.Uptime {
		e.DowntimeHoursPerMonth += o.DowntimeHours
	}
	e.UptimePercent = 100 * (1 - e.DowntimeHoursPerMonth/hoursPerMonth)
	e.Standby.FailoverMinutes = failover
	if target := model.Profiles[cfg.Stage].Uptime; target > 0 && outages > 0 {
		allowed := (1-target/100)*hoursPerMonth - both
		e.Standby.FailoverMinutesForSeed = max(0, allowed/outages*60)
	}
	e.Standby.Recovery = fmt.Sprintf("nfx failover --stage cloud --unplanned promotes the replica, moves the database's names, starts %s's tunnel connectors, AI (its GPU pool grows from zero as the AI's pods ask) and the vector store's restore, and stops the primary's connectors where its region answers", cfg.Cloud.StandbyRegion)
	if cfg.Cloud.LoadBalancer {
		e.Standby.Recovery += "; Cloudflare's load balancers switched to its pools"
	}
	e.Assumptions = append(e.Assumptions, fmt.Sprintf("two regions: the SLAs' downtime comes as outages of %g h each, a failover takes %g minutes, and the regions fail independently", regionOutageHours, failover))
}
