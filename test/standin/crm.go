package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// crm stands in for the NextFlow CRM image, whose contract is the one nfx's
// README gives the CRM (its environment): PORT; DATABASE_URL (no password)
// with DATABASE_PASSWORD_FILE and DATABASE_SSLMODE; REDIS_URL with
// REDIS_PASSWORD_FILE, or REDIS_SENTINELS with REDIS_MASTER_NAME; QDRANT_URL
// with an optional QDRANT_API_KEY_FILE; OLLAMA_BASE_URL. /healthz answers 200
// only when PostgreSQL takes a write, Redis answers PING with the password
// and Qdrant is ready, each through the names and secrets the environment
// gives: the test of a stage's wiring, not of a CRM.
func crm(_ []string) error {
	port := envOr("PORT", "3000")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "NextFlow CRM stand-in") })
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "# TYPE http_requests_total counter")
		fmt.Fprintln(w, "http_requests_total 1")
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 4*time.Second)
		defer cancel()
		for _, check := range []func(context.Context) error{crmPostgres, crmRedis, crmQdrant} {
			if err := check(ctx); err != nil {
				fmt.Fprintln(os.Stderr, "healthz:", err)
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		fmt.Fprintln(w, "ok")
	})
	return http.ListenAndServe(":"+port, mux)
}

func secretFile(env string) (string, error) {
	path := os.Getenv(env)
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", env, err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

func crmPostgres(ctx context.Context) error {
	cfg, err := pgx.ParseConfig(os.Getenv("DATABASE_URL"))
	if err != nil {
		return fmt.Errorf("DATABASE_URL: %w", err)
	}
	if cfg.Password, err = secretFile("DATABASE_PASSWORD_FILE"); err != nil {
		return err
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS standin_health (at timestamptz NOT NULL);
		INSERT INTO standin_health VALUES (now())`)
	if err != nil {
		return fmt.Errorf("postgres write: %w", err)
	}
	return nil
}

func crmRedis(ctx context.Context) error {
	pass, err := secretFile("REDIS_PASSWORD_FILE")
	if err != nil {
		return err
	}
	var c redis.UniversalClient
	if s := os.Getenv("REDIS_SENTINELS"); s != "" {
		c = redis.NewFailoverClient(&redis.FailoverOptions{MasterName: envOr("REDIS_MASTER_NAME", "mymaster"),
			SentinelAddrs: strings.Split(s, ","), Password: pass, SentinelPassword: pass})
	} else {
		opt, err := redis.ParseURL(os.Getenv("REDIS_URL"))
		if err != nil {
			return fmt.Errorf("REDIS_URL: %w", err)
		}
		opt.Password = pass
		c = redis.NewClient(opt)
	}
	defer c.Close()
	if err := c.Set(ctx, "standin:health", time.Now().Unix(), 0).Err(); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	return nil
}

func crmQdrant(ctx context.Context) error {
	u, err := url.Parse(os.Getenv("QDRANT_URL"))
	if err != nil || u.Host == "" {
		return errors.New("QDRANT_URL is not a URL")
	}
	key, err := secretFile("QDRANT_API_KEY_FILE")
	if err != nil {
		return err
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u.JoinPath("collections").String(), nil)
	if key != "" {
		req.Header.Set("api-key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("qdrant: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("qdrant: %s", resp.Status)
	}
	return nil
}
