package model

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Endpoint names a connection a part offers and other parts need: the
// database for writes or for reads, the cache, the vector store, the AI
// API. A service refers to an endpoint's attributes in its environment as
// ${endpoint.attr}; each stage resolves the reference (a container's name
// on the laptop, the primary or the replica on the server, the RDS address
// in the cloud, unknown until the provider says).
type Endpoint string

// The endpoints of NextFlow.
const (
	EndpointDB     Endpoint = "db"
	EndpointDBRead Endpoint = "db-read"
	EndpointCache  Endpoint = "cache"
	EndpointVector Endpoint = "vector"
	EndpointAI     Endpoint = "ai"
	// EndpointPublic is the service's own public address, where it is
	// reachable from outside.
	EndpointPublic Endpoint = "public"
)

// Attrs is what a stage must resolve for an endpoint: every Required
// attribute on every stage; Optional ones where the stage has them (the
// Sentinels of the server's Redis).
type Attrs struct {
	Required []string
	Optional []string
}

// EndpointAttrs is the contract every stage's resolver meets.
var EndpointAttrs = map[Endpoint]Attrs{
	EndpointDB:     {Required: []string{"host", "port", "name", "user", "url", "sslmode"}},
	EndpointDBRead: {Required: []string{"host", "port", "name", "user", "url", "sslmode"}},
	EndpointCache:  {Required: []string{"host", "port", "url", "tls"}, Optional: []string{"sentinels", "master"}},
	EndpointVector: {Required: []string{"host", "port", "url", "grpcPort"}},
	EndpointAI:     {Required: []string{"host", "port", "url", "model", "embedModel"}},
	EndpointPublic: {Required: []string{"url", "host"}},
}

// EndpointNames lists the endpoints a service may need, sorted.
func EndpointNames() []string {
	var out []string
	for e := range EndpointAttrs {
		if e != EndpointPublic {
			out = append(out, string(e))
		}
	}
	sort.Strings(out)
	return out
}

// Ref is a reference to one attribute of an endpoint, such as ${db.url}.
// An optional reference, ${cache.sentinels?}, drops the variable that
// holds it on a stage that has no such attribute.
type Ref struct {
	Endpoint Endpoint
	Attr     string
	Optional bool
}

func (r Ref) String() string {
	s := "${" + string(r.Endpoint) + "." + r.Attr
	if r.Optional {
		s += "?"
	}
	return s + "}"
}

// Segment is a piece of a value: literal text, or a reference.
type Segment struct {
	Text string
	Ref  *Ref
}

// ParseValue splits a value into text and references. "$${" writes a
// literal "${".
func ParseValue(s string) ([]Segment, error) {
	var out []Segment
	var lit strings.Builder
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "$${"):
			lit.WriteString("${")
			i += 3
		case strings.HasPrefix(s[i:], "${"):
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return nil, fmt.Errorf("%q opens a reference that is not closed; write ${endpoint.attr}, or $${ for a literal ${", s)
			}
			body := s[i+2 : i+end]
			ref, err := parseRef(body)
			if err != nil {
				return nil, err
			}
			if lit.Len() > 0 {
				out = append(out, Segment{Text: lit.String()})
				lit.Reset()
			}
			out = append(out, Segment{Ref: &ref})
			i += end + 1
		default:
			lit.WriteByte(s[i])
			i++
		}
	}
	if lit.Len() > 0 || len(out) == 0 {
		out = append(out, Segment{Text: lit.String()})
	}
	return out, nil
}

func parseRef(body string) (Ref, error) {
	opt := strings.HasSuffix(body, "?")
	body = strings.TrimSuffix(body, "?")
	ep, attr, ok := strings.Cut(body, ".")
	if !ok {
		return Ref{}, fmt.Errorf("${%s} is not a reference; write ${endpoint.attr}, such as ${db.url}", body)
	}
	attrs, known := EndpointAttrs[Endpoint(ep)]
	if !known {
		return Ref{}, fmt.Errorf("${%s}: unknown endpoint %q; use one of %s", body, ep, strings.Join(append(EndpointNames(), string(EndpointPublic)), ", "))
	}
	r := Ref{Endpoint: Endpoint(ep), Attr: attr, Optional: opt}
	switch {
	case contains(attrs.Required, attr):
	case contains(attrs.Optional, attr):
		if !opt {
			return Ref{}, fmt.Errorf("%s: %s is offered on some stages only; write ${%s.%s?} to leave the variable out where it is not", r, attr, ep, attr)
		}
	default:
		return Ref{}, fmt.Errorf("${%s}: endpoint %s has no attribute %q; it has %s", body, ep, attr, strings.Join(append(append([]string{}, attrs.Required...), attrs.Optional...), ", "))
	}
	return r, nil
}

// Refs returns the references in a value; a malformed value has none.
func Refs(s string) []Ref {
	segs, err := ParseValue(s)
	if err != nil {
		return nil
	}
	var out []Ref
	for _, sg := range segs {
		if sg.Ref != nil {
			out = append(out, *sg.Ref)
		}
	}
	return out
}

// Lookup resolves one reference on a stage; ok is false where the stage
// does not offer it.
type Lookup func(Ref) (string, bool)

// Expand resolves the references in a value. keep is false when an
// optional reference has no value on the stage: the variable is left out.
// A required reference the stage cannot resolve is an error: the stage
// breaks its contract.
func Expand(s string, lookup Lookup) (value string, keep bool, err error) {
	segs, err := ParseValue(s)
	if err != nil {
		return "", false, err
	}
	var b strings.Builder
	for _, sg := range segs {
		if sg.Ref == nil {
			b.WriteString(sg.Text)
			continue
		}
		v, ok := lookup(*sg.Ref)
		if !ok {
			if sg.Ref.Optional {
				return "", false, nil
			}
			return "", false, fmt.Errorf("the stage does not resolve %s", sg.Ref)
		}
		b.WriteString(v)
	}
	return b.String(), true, nil
}

// ExpandEnv resolves every value of an environment, dropping the variables
// whose optional references the stage does not offer.
func ExpandEnv(env map[string]string, lookup Lookup) (map[string]string, error) {
	out := make(map[string]string, len(env))
	for _, k := range SortedKeys(env) {
		v, keep, err := Expand(env[k], lookup)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		if keep {
			out[k] = v
		}
	}
	return out, nil
}

// SortedKeys returns a map's keys in order.
func SortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// PostgresURL is a PostgreSQL connection URL without a password.
func PostgresURL(user, host string, port int, db, sslmode string) string {
	u := fmt.Sprintf("postgres://%s@%s:%d/%s", user, host, port, db)
	if sslmode != "" && sslmode != "disable" {
		u += "?sslmode=" + sslmode
	}
	return u
}

// HostPort is where a stage serves an endpoint.
type HostPort struct {
	Host string
	Port int
}

// Addrs are where a stage serves each endpoint and how; Lookup derives
// every attribute of the contract from them, so that each stage states
// only its facts. A host only a provider knows is a Placeholder.
type Addrs struct {
	DB, DBRead, Cache, Vector HostPort
	// SSLMode is libpq's sslmode for the database ("disable", "require").
	SSLMode string
	// CacheTLS says Redis is reached over TLS (rediss://).
	CacheTLS bool
	// Sentinels and Master, where the stage runs Redis Sentinel.
	Sentinels, Master string
	// VectorGRPCPort is Qdrant's gRPC port.
	VectorGRPCPort int
	// AI is the Ollama API's base URL and its host and port.
	AI    HostPort
	AIURL string
	// Public answers a part's own public address.
	Public func(*Part) (url, host string, ok bool)
}

// Lookup resolves references for part self on a stage with these addresses.
func (a Addrs) Lookup(c *Config, self *Part) Lookup {
	return func(r Ref) (string, bool) {
		switch r.Endpoint {
		case EndpointDB, EndpointDBRead:
			hp := a.DB
			if r.Endpoint == EndpointDBRead {
				hp = a.DBRead
			}
			switch r.Attr {
			case "host":
				return hp.Host, true
			case "port":
				return strconv.Itoa(hp.Port), true
			case "name":
				return c.Postgres.Database, true
			case "user":
				return c.Postgres.User, true
			case "sslmode":
				return a.SSLMode, true
			case "url":
				return PostgresURL(c.Postgres.User, hp.Host, hp.Port, c.Postgres.Database, a.SSLMode), true
			}
		case EndpointCache:
			scheme := "redis"
			if a.CacheTLS {
				scheme = "rediss"
			}
			switch r.Attr {
			case "host":
				return a.Cache.Host, true
			case "port":
				return strconv.Itoa(a.Cache.Port), true
			case "tls":
				return strconv.FormatBool(a.CacheTLS), true
			case "url":
				return fmt.Sprintf("%s://%s:%d/0", scheme, a.Cache.Host, a.Cache.Port), true
			case "sentinels":
				return a.Sentinels, a.Sentinels != ""
			case "master":
				return a.Master, a.Master != ""
			}
		case EndpointVector:
			switch r.Attr {
			case "host":
				return a.Vector.Host, true
			case "port":
				return strconv.Itoa(a.Vector.Port), true
			case "grpcPort":
				return strconv.Itoa(a.VectorGRPCPort), true
			case "url":
				return fmt.Sprintf("http://%s:%d", a.Vector.Host, a.Vector.Port), true
			}
		case EndpointAI:
			switch r.Attr {
			case "host":
				return a.AI.Host, true
			case "port":
				return strconv.Itoa(a.AI.Port), true
			case "url":
				if a.AIURL != "" {
					return a.AIURL, true
				}
				return fmt.Sprintf("http://%s:%d", a.AI.Host, a.AI.Port), true
			case "model":
				return c.AI.Model, true
			case "embedModel":
				return c.AI.EmbeddingModel, true
			}
		case EndpointPublic:
			if a.Public == nil || self == nil || self.Public == nil {
				return "", false
			}
			url, host, ok := a.Public(self)
			if r.Attr == "host" {
				return host, ok
			}
			return url, ok
		}
		return "", false
	}
}

// placeholderMark brackets a placeholder; configuration values cannot
// hold it (NUL is refused in every value that reaches an environment).
const placeholderMark = "\x00"

// Placeholder stands for a value only a provider knows (an RDS address):
// a resolved value holding it is completed by the stage once the
// provider answers.
func Placeholder(name string) string { return placeholderMark + name + placeholderMark }

// SplitPlaceholders splits a resolved value into literal text (even
// indexes) and placeholder names (odd indexes).
func SplitPlaceholders(s string) []string { return strings.Split(s, placeholderMark) }
