package migrate

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

func redisClient(r Redis) *redis.Client {
	o := &redis.Options{Addr: r.Addr, Username: r.Username, Password: r.Password, DialTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second}
	if r.TLS {
		host, _, _ := net.SplitHostPort(r.Addr)
		o.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host, RootCAs: r.RootCAs}
	}
	return redis.NewClient(o)
}

func redisErr(r Redis, what string, err error) error {
	return fmt.Errorf("%s Redis %s: %s: %s", r.Name, r, what, scrub(err.Error(), r.Password))
}

// PauseWrites stops client writes on the source Redis for d: they wait,
// nothing is lost, and the pause ends by itself after d even if nfx dies.
func PauseWrites(ctx context.Context, r Redis, d time.Duration) error {
	c := redisClient(r)
	defer c.Close()
	if err := c.Do(ctx, "CLIENT", "PAUSE", strconv.FormatInt(d.Milliseconds(), 10), "WRITE").Err(); err != nil {
		return redisErr(r, "CLIENT PAUSE", err)
	}
	return nil
}

// UnpauseWrites ends a pause.
func UnpauseWrites(ctx context.Context, r Redis) error {
	c := redisClient(r)
	defer c.Close()
	if err := c.Do(ctx, "CLIENT", "UNPAUSE").Err(); err != nil {
		return redisErr(r, "CLIENT UNPAUSE", err)
	}
	return nil
}

// CopyStats says what a Redis copy did.
type CopyStats struct {
	Keys  int64 `json:"keys"`
	Bytes int64 `json:"bytes"`
}

// CopyRedis copies every key of the source into the target by value, with
// its type and remaining TTL, each key replaced whole in one MULTI: a
// rerun copies a key again instead of adding to it. Copying by value works
// across Redis versions and onto ElastiCache, where DUMP payloads of a
// newer Redis would not restore. The source is only read.
func CopyRedis(ctx context.Context, src, dst Redis, progress func(int64)) (CopyStats, error) {
	s, d := redisClient(src), redisClient(dst)
	defer s.Close()
	defer d.Close()
	var st CopyStats
	var cursor uint64
	for {
		keys, next, err := s.Scan(ctx, cursor, "*", 500).Result()
		if err != nil {
			return st, redisErr(src, "SCAN", err)
		}
		for _, k := range keys {
			n, err := copyKey(ctx, s, d, k)
			if err != nil {
				return st, fmt.Errorf("key %q: %w", k, err)
			}
			if n >= 0 {
				st.Keys++
				st.Bytes += n
			}
		}
		if progress != nil {
			progress(st.Keys)
		}
		if cursor = next; cursor == 0 {
			return st, nil
		}
	}
}

// copyKey copies one key; -1 when it expired meanwhile.
func copyKey(ctx context.Context, s, d *redis.Client, k string) (int64, error) {
	typ, err := s.Type(ctx, k).Result()
	if err != nil {
		return 0, err
	}
	ttl, err := s.PTTL(ctx, k).Result()
	if err != nil {
		return 0, err
	}
	var size int64
	var write func(p redis.Pipeliner)
	switch typ {
	case "none":
		return -1, nil
	case "string":
		v, err := s.Get(ctx, k).Result()
		if err == redis.Nil {
			return -1, nil
		} else if err != nil {
			return 0, err
		}
		size = int64(len(v))
		write = func(p redis.Pipeliner) { p.Set(ctx, k, v, 0) }
	case "hash":
		v, err := s.HGetAll(ctx, k).Result()
		if err != nil {
			return 0, err
		}
		args := make([]any, 0, 2*len(v))
		for f, x := range v {
			args = append(args, f, x)
			size += int64(len(f) + len(x))
		}
		write = func(p redis.Pipeliner) {
			if len(args) > 0 {
				p.HSet(ctx, k, args...)
			}
		}
	case "list":
		v, err := s.LRange(ctx, k, 0, -1).Result()
		if err != nil {
			return 0, err
		}
		args, n := members(v)
		size = n
		write = func(p redis.Pipeliner) {
			if len(args) > 0 {
				p.RPush(ctx, k, args...)
			}
		}
	case "set":
		v, err := s.SMembers(ctx, k).Result()
		if err != nil {
			return 0, err
		}
		args, n := members(v)
		size = n
		write = func(p redis.Pipeliner) {
			if len(args) > 0 {
				p.SAdd(ctx, k, args...)
			}
		}
	case "zset":
		v, err := s.ZRangeWithScores(ctx, k, 0, -1).Result()
		if err != nil {
			return 0, err
		}
		for _, z := range v {
			size += int64(len(fmt.Sprint(z.Member))) + 8
		}
		write = func(p redis.Pipeliner) {
			if len(v) > 0 {
				p.ZAdd(ctx, k, v...)
			}
		}
	case "stream":
		v, err := s.XRange(ctx, k, "-", "+").Result()
		if err != nil {
			return 0, err
		}
		groups, err := s.XInfoGroups(ctx, k).Result()
		if err == nil && len(groups) > 0 {
			return 0, fmt.Errorf("a stream with consumer groups cannot be copied by value; fix: let its consumers drain it before the freeze, or set redis.data cache")
		}
		write = func(p redis.Pipeliner) {
			for _, m := range v {
				p.XAdd(ctx, &redis.XAddArgs{Stream: k, ID: m.ID, Values: m.Values})
				size += int64(len(m.ID))
			}
		}
	default:
		return 0, fmt.Errorf("type %s is not one nfx copies (string, hash, list, set, zset, stream)", typ)
	}
	_, err = d.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, k)
		write(p)
		if ttl > 0 {
			p.PExpire(ctx, k, ttl)
		}
		return nil
	})
	return size, err
}

// RedisSummary is what verification compares of a Redis.
type RedisSummary struct {
	Keys int64 `json:"keys"`
	// Compared is how many keys were compared value by value; Sampled
	// says it was a sample (above migration.redisCompareAll).
	Compared int  `json:"compared"`
	Sampled  bool `json:"sampled"`
}

// CompareRedis compares the two sides: the key counts, and each key's
// type, value and TTL, all of them up to limit keys, a random sample of
// limit above it. A TTL may have run down by the time since the copy,
// plus a margin.
func CompareRedis(ctx context.Context, src, dst Redis, limit int, since time.Duration) (RedisSummary, []string, error) {
	s, d := redisClient(src), redisClient(dst)
	defer s.Close()
	defer d.Close()
	var sum RedisSummary
	var bad []string
	n, err := s.DBSize(ctx).Result()
	if err != nil {
		return sum, nil, redisErr(src, "DBSIZE", err)
	}
	m, err := d.DBSize(ctx).Result()
	if err != nil {
		return sum, nil, redisErr(dst, "DBSIZE", err)
	}
	sum.Keys = n
	if n != m {
		bad = append(bad, fmt.Sprintf("Redis: %d keys on the source, %d on the target", n, m))
	}
	var keys []string
	var cursor uint64
	for {
		ks, next, err := s.Scan(ctx, cursor, "*", 1000).Result()
		if err != nil {
			return sum, nil, redisErr(src, "SCAN", err)
		}
		keys = append(keys, ks...)
		if cursor = next; cursor == 0 {
			break
		}
	}
	sort.Strings(keys)
	if len(keys) > limit {
		sum.Sampled = true
		r := rand.New(rand.NewPCG(uint64(len(keys)), 7))
		r.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
		keys = keys[:limit]
	}
	margin := since + 5*time.Second
	for _, k := range keys {
		a, ta, err := digest(ctx, s, k)
		if err != nil {
			return sum, nil, err
		}
		b, tb, err := digest(ctx, d, k)
		if err != nil {
			return sum, nil, err
		}
		sum.Compared++
		switch {
		case a != b:
			bad = append(bad, fmt.Sprintf("Redis key %q differs", k))
		case (ta > 0) != (tb > 0):
			bad = append(bad, fmt.Sprintf("Redis key %q: TTL %v on the source, %v on the target", k, ta, tb))
		case ta > 0 && (tb > ta+time.Second || ta-tb > margin):
			bad = append(bad, fmt.Sprintf("Redis key %q: TTL %v on the source, %v on the target", k, ta, tb))
		}
		if len(bad) > 50 {
			bad = append(bad, "... (stopped after 50 differences)")
			break
		}
	}
	return sum, bad, nil
}

// digest is a key's type and value as one hash, and its TTL.
func digest(ctx context.Context, c *redis.Client, k string) (string, time.Duration, error) {
	typ, err := c.Type(ctx, k).Result()
	if err != nil {
		return "", 0, err
	}
	ttl, _ := c.PTTL(ctx, k).Result()
	h := sha256.New()
	h.Write([]byte(typ + "\x00"))
	var parts []string
	switch typ {
	case "string":
		v, _ := c.Get(ctx, k).Result()
		parts = []string{v}
	case "hash":
		v, _ := c.HGetAll(ctx, k).Result()
		for f, x := range v {
			parts = append(parts, f+"\x00"+x)
		}
		sort.Strings(parts)
	case "list":
		parts, _ = c.LRange(ctx, k, 0, -1).Result()
	case "set":
		parts, _ = c.SMembers(ctx, k).Result()
		sort.Strings(parts)
	case "zset":
		v, _ := c.ZRangeWithScores(ctx, k, 0, -1).Result()
		for _, z := range v {
			parts = append(parts, fmt.Sprintf("%v\x00%v", z.Member, z.Score))
		}
	case "stream":
		v, _ := c.XRange(ctx, k, "-", "+").Result()
		for _, m := range v {
			var fs []string
			for f, x := range m.Values {
				fs = append(fs, fmt.Sprintf("%s=%v", f, x))
			}
			sort.Strings(fs)
			parts = append(parts, m.ID+"\x00"+strings.Join(fs, "\x00"))
		}
	}
	for _, p := range parts {
		h.Write([]byte(strconv.Itoa(len(p)) + ":" + p))
	}
	return hex.EncodeToString(h.Sum(nil)), ttl, nil
}

// RedisKeys counts the keys of a Redis.
func RedisKeys(ctx context.Context, r Redis) (int64, error) {
	c := redisClient(r)
	defer c.Close()
	n, err := c.DBSize(ctx).Result()
	if err != nil {
		return 0, redisErr(r, "DBSIZE", err)
	}
	return n, nil
}

// members is a list's or set's values as command arguments, and their size.
func members(v []string) ([]any, int64) {
	args := make([]any, len(v))
	var size int64
	for i, x := range v {
		args[i] = x
		size += int64(len(x))
	}
	return args, size
}

// WaitRedisReplica waits until the replica has the primary's whole
// replication stream: its offset reaches the primary's.
func WaitRedisReplica(ctx context.Context, primary, replica Redis, timeout time.Duration) error {
	p, r := redisClient(primary), redisClient(replica)
	defer p.Close()
	defer r.Close()
	field := func(c *redis.Client, who Redis, name string) (string, error) {
		out, err := c.Info(ctx, "replication").Result()
		if err != nil {
			return "", redisErr(who, "INFO", err)
		}
		for _, line := range strings.Split(out, "\n") {
			if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && k == name {
				return v, nil
			}
		}
		return "", nil
	}
	want, err := field(p, primary, "master_repl_offset")
	if err != nil {
		return err
	}
	target, _ := strconv.ParseInt(want, 10, 64)
	deadline := time.Now().Add(timeout)
	for {
		got, err := field(r, replica, "slave_repl_offset")
		if err != nil {
			return err
		}
		if n, _ := strconv.ParseInt(got, 10, 64); n >= target {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the Redis replica %s has not caught up with its primary within %s (offset %s of %d)", replica, timeout, got, target)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
