package migrate

import (
	"crypto/x509"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/nextflow-crm/nfx/internal/model"
)

// DB is how to reach one PostgreSQL database. The password never sits in
// the URL: it comes from an environment variable or a file, and reaches
// the client tools through a 0600 password file.
type DB struct {
	// Name says which side it is, for messages (source, target).
	Name     string
	Host     string
	Port     int
	User     string
	Database string
	Password string
	// SSLMode is libpq's sslmode ("disable", "require").
	SSLMode string
	// md5Sums: its tables are summed with sumRowsMD5, not hashRows, as a
	// server before PostgreSQL 14 (no hash_record_extended) takes part in
	// the comparison; agreeSums decides it for every side at once.
	md5Sums, sumsAgreed bool
}

// ParseDB reads a postgres://user@host:port/db URL. A URL that carries a
// password, in any form, is refused without being repeated: it would be
// printed, logged and kept in shell history.
func ParseDB(name, raw, password string) (DB, error) {
	flag := "--" + name + "-db"
	u, err := model.JudgeURL(raw, model.URLRule{Flag: flag, Schemes: []string{"postgres", "postgresql"}, Query: []string{"sslmode"},
		Example: "postgres://nextflow@127.0.0.1:5432/nextflow", Fix: passwordFix(name, "DB")})
	if err != nil {
		return DB{}, err
	}
	d := DB{Name: name, Host: u.Hostname(), User: u.User.Username(), Database: strings.TrimPrefix(u.Path, "/"), Password: password, Port: 5432, SSLMode: "prefer"}
	if p := u.Port(); p != "" {
		d.Port, _ = strconv.Atoi(p)
	}
	if m := u.Query().Get("sslmode"); m != "" {
		if !sslModes[m] {
			return DB{}, fmt.Errorf("%s: sslmode is not one of disable, allow, prefer, require, verify-ca, verify-full; fix: ?sslmode=require", flag)
		}
		d.SSLMode = m
	}
	if d.User == "" || d.Database == "" || strings.Contains(d.Database, "/") {
		return DB{}, fmt.Errorf("%s: names no user or no database (the value is not shown); fix: write postgres://user@host:port/database", flag)
	}
	return d, nil
}

// sslModes are libpq's sslmode values.
var sslModes = map[string]bool{"disable": true, "allow": true, "prefer": true, "require": true, "verify-ca": true, "verify-full": true}

// passwordFix says where a connection's secret goes instead of its URL.
func passwordFix(name, kind string) string {
	what := "PASSWORD"
	if kind == "QDRANT" {
		what = "API_KEY"
	}
	return fmt.Sprintf("export NFX_%s_%s_%s or pass --%s-%s-password-file", strings.ToUpper(name), kind, what, name, strings.ToLower(kind))
}

// URL is the connection URL with the password, for the Go driver only;
// it is never printed.
func (d DB) url() string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(d.User, d.Password), Host: d.Host + ":" + strconv.Itoa(d.Port), Path: "/" + d.Database}
	q := url.Values{"sslmode": {d.SSLMode}, "application_name": {"nfx-migrate"}}
	for _, kv := range sessionSettings {
		q.Set(kv[0], kv[1])
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// String names the database without its password.
func (d DB) String() string {
	return fmt.Sprintf("postgres://%s@%s:%d/%s", d.User, d.Host, d.Port, d.Database)
}

// Redis is how to reach one Redis server; the password comes from the
// environment or a file.
type Redis struct {
	Name     string
	Addr     string
	Username string
	Password string
	TLS      bool
	// RootCAs verify a rediss:// server; nil means the system's (which
	// hold the Amazon roots ElastiCache's certificates chain to).
	RootCAs *x509.CertPool
}

// LoadCAFile reads PEM certificates to verify a TLS server with.
func LoadCAFile(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s holds no PEM certificate", file)
	}
	return pool, nil
}

// ParseRedis reads redis://[user@]host:port[/db] or rediss://.
func ParseRedis(name, raw, password string) (Redis, error) {
	flag := "--" + name + "-redis"
	u, err := model.JudgeURL(raw, model.URLRule{Flag: flag, Schemes: []string{"redis", "rediss"},
		Example: "redis://127.0.0.1:6379", Fix: passwordFix(name, "REDIS")})
	if err != nil {
		return Redis{}, err
	}
	if p := strings.TrimPrefix(u.Path, "/"); p != "" {
		if _, err := strconv.Atoi(p); err != nil {
			return Redis{}, fmt.Errorf("%s: its path is not a database number (the value is not shown); fix: redis://host:6379 or redis://host:6379/0", flag)
		}
	}
	r := Redis{Name: name, Addr: u.Host, Username: u.User.Username(), Password: password, TLS: strings.EqualFold(u.Scheme, "rediss")}
	if u.Port() == "" {
		r.Addr += ":6379"
	}
	return r, nil
}

func (r Redis) String() string {
	s := "redis://"
	if r.TLS {
		s = "rediss://"
	}
	return s + r.Addr
}

// Secret reads a password: the file if one is named, else the variable.
// The value is never printed; an error names where it was looked for.
func Secret(file, env string) (string, error) {
	if file != "" {
		fi, err := os.Stat(file)
		if err != nil {
			return "", err
		}
		if !fi.Mode().IsRegular() || fi.Size() > 64<<10 {
			return "", fmt.Errorf("%s: not a password file (a regular file of at most 64 KiB)", file)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return "", err
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	return os.Getenv(env), nil
}

// ParseQdrant reads a Qdrant REST URL (http://host:6333); its API key
// comes from the environment or a file.
func ParseQdrant(name, raw, apiKey string) (Qdrant, error) {
	u, err := model.JudgeURL(raw, model.URLRule{Flag: "--" + name + "-qdrant", Schemes: []string{"http", "https"}, NoPath: true,
		Example: "http://127.0.0.1:6333", Fix: passwordFix(name, "QDRANT")})
	if err != nil {
		return Qdrant{}, err
	}
	if u.User != nil {
		return Qdrant{}, fmt.Errorf("--%s-qdrant: names a user (not shown); Qdrant takes an API key instead; fix: %s", name, passwordFix(name, "QDRANT"))
	}
	return Qdrant{Name: name, URL: strings.TrimRight(u.Scheme+"://"+u.Host, "/"), APIKey: apiKey}, nil
}
