package model

import (
	"crypto/rand"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/nextflow-crm/nfx/internal/provider/aws"
)

// The rules the cloud's APIs put on what nfx sends them: the versions AWS
// accepts for new clusters, databases and caches, with their support
// windows, and the characters and lengths each API takes in a secret or a
// name. Each rule names its source and the date it was read; `nfx plan
// --stage cloud` and every test check the configuration against them, and
// nfx draws its generated values to satisfy them all.

// RulesDate is when the rules below, and AWS's versions
// (internal/provider/aws), were last read from their sources.
const RulesDate = aws.VersionsDate

// checkVersion checks a version against a support table on the day of the
// check: an ended or unknown version is an error (the API refuses it), one
// in extended support a warning with its price, one whose standard support
// ends within 90 days a warning.
func checkVersion(key, what string, table []aws.SupportWindow, v string, today time.Time, extendedPrice string, ds *Diagnostics) {
	w, ok := aws.Window(table, v)
	newest := aws.NewestStandard(table, today)
	use := fmt.Sprintf("use %s (standard support until %s)", newest.Version, newest.StandardEnd.Format("2006-01-02"))
	if !ok {
		var known []string
		for _, w := range table {
			known = append(known, w.Version)
		}
		ds.Errorf(key, fmt.Sprintf("%s; nfx knows %s, from %s", use, strings.Join(known, ", "), aws.VersionsDate),
			"%s %q is not one AWS creates, by nfx's table", what, v)
		return
	}
	switch w.At(today) {
	case aws.SupportEnded:
		end := w.ExtendedEnd
		if end.IsZero() {
			end = w.StandardEnd
		}
		ds.Errorf(key, use,
			"%s %s left support on %s: AWS creates no new ones and upgrades existing ones", what, v, end.Format("2006-01-02"))
	case aws.SupportExtended:
		ds.Warnf(key, use,
			"%s %s is in extended support until %s%s", what, v, w.ExtendedEnd.Format("2006-01-02"), extendedPrice)
	case aws.SupportStandard:
		if w.StandardEnd.Sub(today) < 90*24*time.Hour {
			ds.Warnf(key, "plan the upgrade to "+newest.Version,
				"%s %s leaves standard support on %s%s", what, v, w.StandardEnd.Format("2006-01-02"), extendedPrice)
		}
	}
}

var pgVersionRE = lazy(`^(\d+)(?:\.(\d+))?$`)

// checkRDSPostgres checks cloud.dbEngineVersion: a major RDS runs, and a
// pinned minor RDS still creates instances on.
func checkRDSPostgres(key, v string, today time.Time, ds *Diagnostics) {
	m := pgVersionRE.FindStringSubmatch(v)
	if m == nil {
		ds.Errorf(key, "use a PostgreSQL major version such as 16 (RDS keeps its minor current)", "%q is not a PostgreSQL version", v)
		return
	}
	checkVersion(key, "RDS PostgreSQL", aws.RDSPostgresMajors, m[1], today, "", ds)
	if m[2] == "" {
		return
	}
	minor, _ := strconv.Atoi(m[2])
	if f, ok := aws.RDSMinorFloor[m[1]]; ok && minor < f.Minor && !today.Before(f.Since) {
		ds.Errorf(key, fmt.Sprintf("use %s alone (RDS keeps its minor current), or %s.%d or later", m[1], m[1], f.Minor),
			"RDS PostgreSQL %s takes no new instances since %s", v, f.Since.Format("2006-01-02"))
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
