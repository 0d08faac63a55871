package server

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/nextflow-crm/nfx/internal/migrate"
	"github.com/nextflow-crm/nfx/internal/model"
	"github.com/nextflow-crm/nfx/internal/testutil"
)

const laptopRedisPassword = "laptop-Redis-1"

// Redis declared state, laptop -> server: a laptop Redis with keys of
// every type, binary values, odd names and TTLs moves into the server's
// primary, its replica and Sentinels from the rendered scripts, inside a
// whole migration. Nothing is lost, the TTLs are kept, the replica holds
// the same, the Sentinels still see a healthy primary.
func TestMigrateRedisStateIntoTheServersSentinelSetup(t *testing.T) {
	rc := startRedisCluster(t)
	server := testutil.Tool(t, "redis-server")
	port := testutil.FreePort(t)
	rc.s.mkdir("laptop-redis")
	rc.s.start(nil, "laptop-redis.log", server, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--requirepass", laptopRedisPassword,
		"--save", "", "--appendonly", "no", "--dir", rc.s.path("laptop-redis"))
	ctx := context.Background()
	src := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(port), Password: laptopRedisPassword})
	defer src.Close()
	eventually(t, 10*time.Second, "the laptop's Redis", func() (bool, string) {
		err := src.Ping(ctx).Err()
		return err == nil, fmt.Sprint(err)
	})
	pipe := src.Pipeline()
	for i := 0; i < 3000; i++ {
		pipe.Set(ctx, fmt.Sprintf("session:%d", i), fmt.Sprintf("user-%d", i), time.Duration(600+i)*time.Second)
	}
	pipe.Set(ctx, "binary", "\x00\xff\xfe\n\r\"'", 0)
	pipe.Set(ctx, "empty", "", 0)
	pipe.Set(ctx, "contact:ü ñ with\nnewline", "odd name", 0)
	pipe.HSet(ctx, "account:1", "name", "Acme", "tier", "3", "", "empty field")
	pipe.RPush(ctx, "queue:mail", "a", "b", "a", "c")
	pipe.SAdd(ctx, "tags", "x", "y", "z")
	pipe.ZAdd(ctx, "leaderboard", redis.Z{Score: 1.5, Member: "ann"}, redis.Z{Score: -2, Member: "bob"}, redis.Z{Score: 1e10, Member: "cy"})
	pipe.XAdd(ctx, &redis.XAddArgs{Stream: "events", ID: "1-1", Values: map[string]any{"kind": "signup"}})
	pipe.XAdd(ctx, &redis.XAddArgs{Stream: "events", ID: "2-0", Values: map[string]any{"kind": "deal", "v": "7"}})
	pipe.PExpire(ctx, "leaderboard", 90*time.Second)
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	srcKeys := src.DBSize(ctx).Val()

	m := newMigrationOf(t, model.MigrateDump, model.RedisState)
	r := m.run()
	r.RedisCompareAll = 5000
	r.E.SourceRedis = &migrate.Redis{Name: "source", Addr: "127.0.0.1:" + strconv.Itoa(port), Password: laptopRedisPassword}
	r.E.TargetRedis = &migrate.Redis{Name: "target", Addr: "127.0.0.1:" + strconv.Itoa(rc.primary.port), Password: redisPassword}
	r.E.TargetRedisReplica = &migrate.Redis{Name: "replica", Addr: "127.0.0.1:" + strconv.Itoa(rc.replica.port), Password: redisPassword}
	j, err := r.Execute(ctx)
	if err != nil {
		t.Fatalf("%v\n%s", err, rc.s.logTail("primary.log"))
	}
	if j.Redis == nil || j.Redis.Keys != srcKeys || j.Verification.Redis == nil || int64(j.Verification.Redis.Compared) != srcKeys {
		t.Fatalf("copied %+v, verified %+v, want %d keys", j.Redis, j.Verification.Redis, srcKeys)
	}
	for _, n := range []redisNode{rc.primary, rc.replica} {
		c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(n.port), Password: redisPassword})
		if got := c.DBSize(ctx).Val(); got != srcKeys {
			t.Errorf("port %d holds %d keys, want %d", n.port, got, srcKeys)
		}
		for _, k := range []string{"session:2999", "leaderboard"} {
			want, got := src.PTTL(ctx, k).Val(), c.PTTL(ctx, k).Val()
			if got <= 0 || got > want+time.Second || want-got > 30*time.Second {
				t.Errorf("port %d: %s TTL %v, the source's %v", n.port, k, got, want)
			}
		}
		if got := c.Get(ctx, "binary").Val(); got != "\x00\xff\xfe\n\r\"'" {
			t.Errorf("port %d: binary value %q", n.port, got)
		}
		if c.TTL(ctx, "tags").Val() != -1 {
			t.Errorf("port %d: a key without TTL got one", n.port)
		}
		c.Close()
	}
	out, _ := rc.sentinels[0].cli("", "SENTINEL", "GET-MASTER-ADDR-BY-NAME", MasterName)
	if want := strconv.Itoa(rc.primary.port); filepath.Base(out) == "" || out[len(out)-len(want):] != want {
		t.Errorf("the Sentinels' primary after the import: %q", out)
	}
	// The source's Redis is paused for writes until confirm or rollback.
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if err := src.Set(short, "late", "x", 0).Err(); err == nil {
		t.Error("the frozen source's Redis took a write")
	}
	// Rollback needs the source's Redis, to end its pause.
	if _, err := m.run().Rollback(ctx, true); err == nil || !strings.Contains(err.Error(), "give --source-redis") {
		t.Errorf("a rollback that would leave Redis paused: %v", err)
	}
	if _, err := r.Rollback(ctx, true); err != nil {
		t.Fatal(err)
	}
	if err := src.Set(ctx, "after-rollback", "x", 0).Err(); err != nil {
		t.Errorf("the source's Redis refuses writes after the rollback: %v", err)
	}
}
