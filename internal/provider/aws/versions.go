package aws

import "time"

// VersionsDate is when the versions below were last read from their sources.
const VersionsDate = "2026-12-05"

// day parses a rule's date; the tables below are constants, so a bad one is
// a programming error.
func day(s string) time.Time {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		panic(err)
	}
	return t
}

// SupportWindow is one version's life at a provider: created from Released,
// under standard support until StandardEnd, then (where the provider offers
// it, at a price) extended support until ExtendedEnd, after which the
// provider upgrades it and refuses new ones.
type SupportWindow struct {
	Version     string
	Released    time.Time
	StandardEnd time.Time
	ExtendedEnd time.Time
}

// Support is where a version stands on a day.
type Support int

// Support states.
const (
	SupportUnknown Support = iota
	SupportStandard
	SupportExtended
	SupportEnded
)

func (s Support) String() string {
	return [...]string{"not in nfx's table", "standard support", "extended support", "past its end of support"}[s]
}

// At is the version's support on day t.
func (w SupportWindow) At(t time.Time) Support {
	switch {
	case t.Before(w.StandardEnd):
		return SupportStandard
	case !w.ExtendedEnd.IsZero() && t.Before(w.ExtendedEnd):
		return SupportExtended
	}
	return SupportEnded
}

// EKSVersionsSource is where EKSVersions come from.
const EKSVersionsSource = "Amazon EKS user guide, Kubernetes version lifecycle: the release calendar " +
	"(docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html; also endoflife.date/amazon-eks); " +
	"standard support 14 months, extended 12 more at $0.60 per cluster-hour instead of $0.10 (aws.amazon.com/eks/pricing)"

// EKSVersions are the Kubernetes versions EKS creates clusters on.
var EKSVersions = []SupportWindow{
	{"1.35", day("2026-01-28"), day("2027-03-27"), day("2028-03-27")},
	{"1.34", day("2025-10-06"), day("2026-12-02"), day("2027-12-02")},
	{"1.33", day("2025-05-28"), day("2026-07-29"), day("2027-07-29")},
	{"1.32", day("2025-01-25"), day("2026-03-23"), day("2027-03-23")},
	{"1.31", day("2024-09-26"), day("2025-11-26"), day("2026-11-26")},
	{"1.30", day("2024-05-23"), day("2025-07-23"), day("2026-07-23")},
}

// RDSPostgresSource is where RDSPostgresMajors and the closed minors come from.
const RDSPostgresSource = "Amazon RDS for PostgreSQL release calendar " +
	"(docs.aws.amazon.com/AmazonRDS/latest/PostgreSQLReleaseNotes/postgresql-release-calendar.html), " +
	"and AWS's notice that minors 14.14-14.17, 15.9-15.12, 16.5-16.8 and 17.1-17.4 take no new instances from 2026-05-01 " +
	"and leave standard support on 2026-05-31, upgraded to 14.20, 15.15, 16.11 and 17.7"

// RDSPostgresMajors are the PostgreSQL major versions RDS runs. A major
// version alone (such as "16") lets RDS choose its current minor, which
// auto minor version upgrades then keep current: nfx's default, since a
// pinned minor leaves RDS's list within about a year.
var RDSPostgresMajors = []SupportWindow{
	{"17", day("2024-11-18"), day("2030-02-28"), day("2033-02-28")},
	{"16", day("2023-11-17"), day("2029-02-28"), day("2032-02-29")},
	{"15", day("2023-02-27"), day("2028-02-29"), day("2031-02-28")},
	{"14", day("2022-02-03"), day("2027-02-28"), day("2030-02-28")},
}

// RDSMinorFloor is, per major, the lowest minor RDS still creates instances on.
var RDSMinorFloor = map[string]struct {
	Minor int
	Since time.Time
}{
	"14": {18, day("2026-05-01")}, "15": {13, day("2026-05-01")},
	"16": {9, day("2026-05-01")}, "17": {5, day("2026-05-01")},
}

// ClusterAutoscalerSource is where ClusterAutoscalerTags come from.
const ClusterAutoscalerSource = "kubernetes/autoscaler: the release tags cluster-autoscaler-1.30.7 (2025-10-29), -1.31.5 (2025-10-08), -1.32.7 (2026-02-13), -1.33.6 and -1.34.5 " +
	"(2026-07-22), and v1.35.0, which charts 9.56.0 to 9.59.0 ship (9.54.0 and 9.55.0 ship v1.34.2 under appVersion 1.35.0); " +
	"its README asks for the autoscaler minor of the control plane's (1.35's turns dynamic resource allocation on, reading " +
	"resource.k8s.io/v1, which Kubernetes serves from 1.34); nfx pins chart 9.59.0"

// ClusterAutoscalerTags are the Cluster Autoscaler images nfx runs, by the
// cluster's Kubernetes minor version.
var ClusterAutoscalerTags = map[string]string{"1.30": "v1.30.7", "1.31": "v1.31.5", "1.32": "v1.32.7", "1.33": "v1.33.6", "1.34": "v1.34.5", "1.35": "v1.35.0"}

// ElastiCacheSource is where ElastiCacheRedisVersions come from.
const ElastiCacheSource = "Amazon ElastiCache for Redis OSS supported engine versions " +
	"(docs.aws.amazon.com/AmazonElastiCache/latest/dg/engine-versions.html): 6.2, 7.0 and 7.1 with " +
	"transit encryption and AUTH; Redis OSS 4 and 5 left standard support on 2026-01-31"

// ElastiCacheRedisVersions are the Redis OSS versions ElastiCache creates
// replication groups on, with AUTH over TLS.
var ElastiCacheRedisVersions = []string{"7.1", "7.0", "6.2"}

// Window finds a version in a table.
func Window(table []SupportWindow, v string) (SupportWindow, bool) {
	for _, w := range table {
		if w.Version == v {
			return w, true
		}
	}
	return SupportWindow{}, false
}

// EKSSupport is the EKS support of a Kubernetes version on day t.
func EKSSupport(version string, t time.Time) Support {
	w, ok := Window(EKSVersions, version)
	if !ok {
		return SupportUnknown
	}
	return w.At(t)
}

// NewestStandard is the newest version of a table under standard support on t.
func NewestStandard(table []SupportWindow, t time.Time) SupportWindow {
	for _, w := range table {
		if !t.Before(w.Released) && w.At(t) == SupportStandard {
			return w
		}
	}
	return table[0]
}
