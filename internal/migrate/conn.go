package migrate

import (
	"crypto/x509"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
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
}

// ParseDB reads a postgres://user@host:port/db URL. A URL that carries a
// password is refused: it would be printed, logged and kept in shell
// history.
func ParseDB(name, raw, password string) (DB, error) {
	if holdsPassword(raw) {
		return DB{}, fmt.Errorf("--%s-db: the URL holds a password; fix: remove it and export NFX_%s_DB_PASSWORD or pass --%s-db-password-file", name, strings.ToUpper(name), name)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		return DB{}, fmt.Errorf("--%s-db: %q is not a postgres://user@host:port/database URL", name, redact(raw))
	}
	if _, has := u.User.Password(); has {
		return DB{}, fmt.Errorf("--%s-db: the URL holds a password; fix: remove it and export NFX_%s_DB_PASSWORD or pass --%s-db-password-file", name, strings.ToUpper(name), name)
	}
	d := DB{Name: name, Host: u.Hostname(), User: u.User.Username(), Database: strings.TrimPrefix(u.Path, "/"), Password: password, Port: 5432, SSLMode: "prefer"}
	if p := u.Port(); p != "" {
		if d.Port, err = strconv.Atoi(p); err != nil || d.Port < 1 || d.Port > 65535 {
			return DB{}, fmt.Errorf("--%s-db: port %q is not a TCP port", name, p)
		}
	}
	if m := u.Query().Get("sslmode"); m != "" {
		d.SSLMode = m
	}
	if d.User == "" || d.Database == "" {
		return DB{}, fmt.Errorf("--%s-db: %q names no user or no database; write postgres://user@host:port/database", name, redact(raw))
	}
	return d, nil
}

// URL is the connection URL with the password, for the Go driver only;
// it is never printed.
func (d DB) url() string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(d.User, d.Password), Host: d.Host + ":" + strconv.Itoa(d.Port), Path: "/" + d.Database}
	q := url.Values{"sslmode": {d.SSLMode}}
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

// ParseRedis reads redis://[user@]host:port or rediss://.
func ParseRedis(name, raw, password string) (Redis, error) {
	if holdsPassword(raw) {
		return Redis{}, fmt.Errorf("--%s-redis: the URL holds a password; fix: remove it and export NFX_%s_REDIS_PASSWORD or pass --%s-redis-password-file", name, strings.ToUpper(name), name)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
		return Redis{}, fmt.Errorf("--%s-redis: %q is not a redis://host:port URL", name, redact(raw))
	}
	if _, has := u.User.Password(); has {
		return Redis{}, fmt.Errorf("--%s-redis: the URL holds a password; fix: remove it and export NFX_%s_REDIS_PASSWORD", name, strings.ToUpper(name))
	}
	r := Redis{Name: name, Addr: u.Host, Username: u.User.Username(), Password: password, TLS: u.Scheme == "rediss"}
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

// redact hides a password someone put in a URL anyway, whether or not
// the URL parses: everything after the user name up to the last @ goes.
func redact(raw string) string {
	if scheme, rest, ok := strings.Cut(raw, "://"); ok {
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if user, _, has := strings.Cut(rest[:at], ":"); has {
				raw = scheme + "://" + user + ":[secret]" + rest[at:]
			}
		}
	}
	if len(raw) > 120 {
		return raw[:117] + "..."
	}
	return raw
}

// holdsPassword says a URL carries a password, whether or not it parses.
func holdsPassword(raw string) bool {
	_, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return false
	}
	at := strings.LastIndex(rest, "@")
	return at >= 0 && strings.Contains(rest[:at], ":")
}

// ParseQdrant reads a Qdrant REST URL (http://host:6333); its API key
// comes from the environment or a file.
func ParseQdrant(name, raw, apiKey string) (Qdrant, error) {
	if strings.Contains(raw, "@") {
		return Qdrant{}, fmt.Errorf("--%s-qdrant: %q is not an http(s)://host:port URL without credentials; fix: export NFX_%s_QDRANT_API_KEY instead", name, redact(raw), strings.ToUpper(name))
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return Qdrant{}, fmt.Errorf("--%s-qdrant: %q is not an http(s)://host:port URL without credentials", name, redact(raw))
	}
	return Qdrant{Name: name, URL: strings.TrimRight(u.String(), "/"), APIKey: apiKey}, nil
}
