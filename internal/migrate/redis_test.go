package migrate

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/nextflow-crm/nfx/internal/testutil"
)

// selfSignedCert writes a certificate for 127.0.0.1 and its key.
func selfSignedCert(t *testing.T, dir string) (cert, key string) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "cache.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(k)
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return cert, key
}

func startRedis(t *testing.T, args ...string) {
	bin := testutil.Tool(t, "redis-server")
	cmd := exec.Command(bin, append([]string{"--save", "", "--appendonly", "no", "--dir", t.TempDir()}, args...)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
}

// ElastiCache cannot run here. What nfx asks of it is the Redis protocol
// over TLS with an AUTH token, without the commands ElastiCache withholds
// (CONFIG, SAVE, BGSAVE, DEBUG, MIGRATE, REPLICAOF, SYNC): a Redis run
// that way takes the whole copy, verified, and refuses a client that does
// not trust its certificate.
func TestCopyRedisIntoAnElastiCacheLikeTarget(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cert, key := selfSignedCert(t, dir)
	const token = "ElastiCache-auth-token-0123456789"
	srcPort, dstPort := testutil.FreePort(t), testutil.FreePort(t)
	startRedis(t, "--port", strconv.Itoa(srcPort), "--bind", "127.0.0.1", "--requirepass", "laptop-pw")
	withheld := []string{}
	for _, c := range []string{"CONFIG", "SAVE", "BGSAVE", "DEBUG", "MIGRATE", "REPLICAOF", "SLAVEOF", "SYNC", "PSYNC"} {
		withheld = append(withheld, "--rename-command", c, "")
	}
	startRedis(t, append([]string{"--port", "0", "--tls-port", strconv.Itoa(dstPort), "--bind", "127.0.0.1", "--tls-cert-file", cert, "--tls-key-file", key,
		"--tls-auth-clients", "no", "--requirepass", token}, withheld...)...)
	pool, err := LoadCAFile(cert)
	if err != nil {
		t.Fatal(err)
	}
	src := Redis{Name: "source", Addr: "127.0.0.1:" + strconv.Itoa(srcPort), Password: "laptop-pw"}
	dst, err := ParseRedis("target", "rediss://127.0.0.1:"+strconv.Itoa(dstPort), token)
	if err != nil {
		t.Fatal(err)
	}
	dst.RootCAs = pool
	s := redis.NewClient(&redis.Options{Addr: src.Addr, Password: src.Password})
	defer s.Close()
	deadline := time.Now().Add(10 * time.Second)
	for s.Ping(ctx).Err() != nil || redisKeysErr(ctx, dst) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("the servers did not start: %v %v", s.Ping(ctx).Err(), redisKeysErr(ctx, dst))
		}
		time.Sleep(100 * time.Millisecond)
	}
	for i := 0; i < 500; i++ {
		s.Set(ctx, fmt.Sprintf("session:%d", i), strings.Repeat("v", i), time.Duration(100+i)*time.Second)
	}
	s.HSet(ctx, "account:7", "name", "Acme", "plan", "pro")
	s.ZAdd(ctx, "rank", redis.Z{Score: 2, Member: "a"})
	s.XAdd(ctx, &redis.XAddArgs{Stream: "audit", ID: "5-1", Values: []any{"who", "ann"}})
	st, err := CopyRedis(ctx, src, dst, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Keys != 503 {
		t.Errorf("copied %d keys", st.Keys)
	}
	sum, bad, err := CompareRedis(ctx, src, dst, 100000, time.Minute)
	if err != nil || len(bad) > 0 || sum.Compared != 503 {
		t.Errorf("verification: %v %v %+v", err, bad, sum)
	}
	// Without its certificate trusted, the target is refused, and the
	// error names it without the token.
	untrusted := dst
	untrusted.RootCAs = nil
	if _, err := RedisKeys(ctx, untrusted); err == nil || !strings.Contains(err.Error(), "target Redis rediss://") || strings.Contains(err.Error(), token) {
		t.Errorf("an untrusted certificate: %v", err)
	}
	wrong := dst
	wrong.Password = "not-the-token"
	if _, err := RedisKeys(ctx, wrong); err == nil || strings.Contains(err.Error(), "not-the-token") {
		t.Errorf("a wrong token: %v", err)
	}
}

// redisKeysErr is RedisKeys's error only.
func redisKeysErr(ctx context.Context, r Redis) error { _, err := RedisKeys(ctx, r); return err }
