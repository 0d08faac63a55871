package model

import (
	"crypto/rand"
	"fmt"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The rules the cloud's APIs put on what nfx sends them: the versions AWS
// accepts for new clusters, databases and caches, with their support
// windows, and the characters and lengths each API takes in a secret or a
// name. Each rule names its source and the date it was read; `nfx plan
// --stage cloud` and every test check the configuration against them, and
// nfx draws its generated values to satisfy them all.

// RulesDate is when the rules below were last read from their sources.
const RulesDate = "2026-12-05"

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

// rdsMinorFloor is, per major, the lowest minor RDS still creates instances on.
var rdsMinorFloor = map[string]struct {
	minor int
	since time.Time
}{
	"14": {18, day("2026-05-01")}, "15": {13, day("2026-05-01")},
	"16": {9, day("2026-05-01")}, "17": {5, day("2026-05-01")},
}

// ClusterAutoscalerSource is where ClusterAutoscalerTags come from.
const ClusterAutoscalerSource = "kubernetes/autoscaler: charts 9.54.0 to 9.59.0 ship image.tag v1.35.0 (appVersion 1.35.0); " +
	"its README asks for the autoscaler minor of the control plane's; the pinned chart 9.43.2 ships 1.31.0"

// ClusterAutoscalerTags are the Cluster Autoscaler images nfx runs, by the
// cluster's Kubernetes minor version.
var ClusterAutoscalerTags = map[string]string{"1.35": "v1.35.0"}

// The EC2 On-Demand vCPU quotas a fresh account starts with are often
// below what the cloud stage's node groups reach (they are per account and
// region, and AWS raises them on request): Service Quotas' codes for the
// two families the stage runs.
const (
	QuotaStandardVCPUs = "L-1216C47A" // Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances
	QuotaGVCPUs        = "L-DB2E81BA" // Running On-Demand G and VT instances
	QuotaSource        = "Amazon EC2 User Guide, On-Demand Instance quotas (vCPU-based), and Service Quotas' EC2 codes"
)

// GeneralVCPUs are the vCPUs of the general node types nfx prices (EC2 instance types).
var GeneralVCPUs = map[string]int{"m6i.large": 2, "m6i.xlarge": 4, "m6i.2xlarge": 8}

// ElastiCacheSource is where ElastiCacheRedisVersions come from.
const ElastiCacheSource = "Amazon ElastiCache for Redis OSS supported engine versions " +
	"(docs.aws.amazon.com/AmazonElastiCache/latest/dg/engine-versions.html): 6.2, 7.0 and 7.1 with " +
	"transit encryption and AUTH; Redis OSS 4 and 5 left standard support on 2026-01-31"

// ElastiCacheRedisVersions are the Redis OSS versions ElastiCache creates
// replication groups on, with AUTH over TLS.
var ElastiCacheRedisVersions = []string{"7.1", "7.0", "6.2"}

// window finds a version in a table.
func window(table []SupportWindow, v string) (SupportWindow, bool) {
	for _, w := range table {
		if w.Version == v {
			return w, true
		}
	}
	return SupportWindow{}, false
}

// EKSSupport is the EKS support of a Kubernetes version on day t.
func EKSSupport(version string, t time.Time) Support {
	w, ok := window(EKSVersions, version)
	if !ok {
		return SupportUnknown
	}
	return w.At(t)
}

// newestStandard is the newest version of a table under standard support on t.
func newestStandard(table []SupportWindow, t time.Time) SupportWindow {
	for _, w := range table {
		if !t.Before(w.Released) && w.At(t) == SupportStandard {
			return w
		}
	}
	return table[0]
}

// checkVersion checks a version against a support table on the day of the
// check: an ended or unknown version is an error (the API refuses it), one
// in extended support a warning with its price, one whose standard support
// ends within 90 days a warning.
func checkVersion(key, what string, table []SupportWindow, v string, today time.Time, extendedPrice string, ds *Diagnostics) {
	w, ok := window(table, v)
	newest := newestStandard(table, today)
	use := fmt.Sprintf("use %s (standard support until %s)", newest.Version, newest.StandardEnd.Format("2006-01-02"))
	if !ok {
		var known []string
		for _, w := range table {
			known = append(known, w.Version)
		}
		ds.Errorf(key, fmt.Sprintf("%s; nfx knows %s, from %s", use, strings.Join(known, ", "), RulesDate),
			"%s %q is not one AWS creates, by nfx's table", what, v)
		return
	}
	switch w.At(today) {
	case SupportEnded:
		end := w.ExtendedEnd
		if end.IsZero() {
			end = w.StandardEnd
		}
		ds.Errorf(key, use,
			"%s %s left support on %s: AWS creates no new ones and upgrades existing ones", what, v, end.Format("2006-01-02"))
	case SupportExtended:
		ds.Warnf(key, use,
			"%s %s is in extended support until %s%s", what, v, w.ExtendedEnd.Format("2006-01-02"), extendedPrice)
	case SupportStandard:
		if w.StandardEnd.Sub(today) < 90*24*time.Hour {
			ds.Warnf(key, "plan the upgrade to "+newest.Version,
				"%s %s leaves standard support on %s%s", what, v, w.StandardEnd.Format("2006-01-02"), extendedPrice)
		}
	}
}

var pgVersionRE = regexp.MustCompile(`^(\d+)(?:\.(\d+))?$`)

// checkRDSPostgres checks cloud.dbEngineVersion: a major RDS runs, and a
// pinned minor RDS still creates instances on.
func checkRDSPostgres(key, v string, today time.Time, ds *Diagnostics) {
	m := pgVersionRE.FindStringSubmatch(v)
	if m == nil {
		ds.Errorf(key, "use a PostgreSQL major version such as 16 (RDS keeps its minor current)", "%q is not a PostgreSQL version", v)
		return
	}
	checkVersion(key, "RDS PostgreSQL", RDSPostgresMajors, m[1], today, "", ds)
	if m[2] == "" {
		return
	}
	minor, _ := strconv.Atoi(m[2])
	if f, ok := rdsMinorFloor[m[1]]; ok && minor < f.minor && !today.Before(f.since) {
		ds.Errorf(key, fmt.Sprintf("use %s alone (RDS keeps its minor current), or %s.%d or later", m[1], m[1], f.minor),
			"RDS PostgreSQL %s takes no new instances since %s", v, f.since.Format("2006-01-02"))
	}
}

// SecretRule is what one consumer of a secret accepts.
type SecretRule struct {
	// Consumer names the API or program that receives the value.
	Consumer string
	Min, Max int
	// Allowed are the characters it takes besides letters and digits;
	// AllPrintable takes any printable ASCII but those in Forbidden.
	Allowed      string
	AllPrintable bool
	Forbidden    string
	Source       string
}

// Check reports why v breaks the rule, or "".
func (r SecretRule) Check(v string) string {
	if len(v) < r.Min || len(v) > r.Max {
		return fmt.Sprintf("%s takes %d to %d characters, and this value has %d", r.Consumer, r.Min, r.Max, len(v))
	}
	for _, c := range v {
		alnum := c < 128 && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9')
		switch {
		case alnum:
		case r.AllPrintable && c > ' ' && c < 127 && !strings.ContainsRune(r.Forbidden, c):
		case !r.AllPrintable && strings.ContainsRune(r.Allowed, c):
		default:
			return fmt.Sprintf("%s takes only letters, digits and %s", r.Consumer, r.describe())
		}
	}
	return ""
}

func (r SecretRule) describe() string {
	if r.AllPrintable {
		return "printable characters other than " + strings.Join(strings.Split(r.Forbidden, ""), " ") + " and space"
	}
	return strings.Join(strings.Split(r.Allowed, ""), " ")
}

// The rules of the cloud's consumers of nfx's secrets.
var (
	ElastiCacheAuthRule = SecretRule{
		Consumer: "ElastiCache's AUTH token", Min: 16, Max: 128, Allowed: "!&#$^<>-",
		Source: "ElastiCache CreateReplicationGroup, AuthToken (docs.aws.amazon.com/AmazonElastiCache/latest/APIReference/API_CreateReplicationGroup.html)",
	}
	RDSMasterPasswordRule = SecretRule{
		Consumer: "RDS's master password", Min: 8, Max: 128, AllPrintable: true, Forbidden: `/'"@`,
		Source: "RDS CreateDBInstance, MasterUserPassword (docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBInstance.html)",
	}
)

// SecretRules are the rules each of nfx's secret keys meets on a stage,
// beyond nfx's own (secretValueRE): the APIs its value reaches.
func SecretRules(stage Stage, key string) []SecretRule {
	if Profiles[stage].Hosting != Provider {
		return nil
	}
	switch key {
	case KeyRedisPassword:
		return []SecretRule{ElastiCacheAuthRule}
	case KeyPostgresPassword:
		return []SecretRule{RDSMasterPasswordRule}
	}
	return nil
}

// GeneratedSecretAlphabet and GeneratedSecretLength are how nfx draws the
// secrets it generates: letters and digits only, which every consumer in
// SecretRules takes, 40 of them (238 bits).
const (
	GeneratedSecretAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	GeneratedSecretLength   = 40
)

// GenerateSecret draws a secret every consumer takes: GeneratedSecretLength
// characters of GeneratedSecretAlphabet, uniformly, from crypto/rand.
func GenerateSecret() string {
	out := make([]byte, GeneratedSecretLength)
	n := big.NewInt(int64(len(GeneratedSecretAlphabet)))
	for i := range out {
		j, err := rand.Int(rand.Reader, n)
		if err != nil {
			panic(err) // crypto/rand does not fail on supported platforms
		}
		out[i] = GeneratedSecretAlphabet[j.Int64()]
	}
	return string(out)
}
