package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/xml"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/nextflow-crm/nfx/internal/testutil"
)

// fakeAWS is S3 and STS as the cloud stage's backup job meets them. The
// objects live in gofakes3 (multipart uploads, metadata, ListObjectsV2,
// Content-MD5); in front of it, what gofakes3 does not check and AWS does:
//   - every request signed with Signature Version 4, checked by
//     recomputing it with AWS's own signer (aws-sdk-go-v2 aws/signer/v4),
//     path-style with S3's unescaped path, under the credentials STS gave
//     (key, secret and session token) and within 15 minutes of now;
//   - x-amz-content-sha256 on every request (S3 API Reference, "Common
//     Request Headers": required for Signature Version 4);
//   - every part but the last at least 5 MiB (CompleteMultipartUpload:
//     EntityTooSmall);
//   - STS's AssumeRoleWithWebIdentity (STS API Reference): an unsigned
//     form POST whose token must be the pod's, answered in XML.
//
// fault, when set, answers a request in S3's place.
type fakeAWS struct {
	s3, sts     *httptest.Server
	bucket      string
	keyID       string
	secret      string
	token       string
	webIdentity string
	region      string

	mu       sync.Mutex
	fault    func(r *http.Request, body []byte) (int, string, bool)
	parts    map[string]map[string]int // upload id -> part number -> size
	requests []string                  // "METHOD query-keys", in order
	backend  *s3mem.Backend
	pageSize int
	// lifetime is how long STS's credentials last; stsCalls counts them.
	lifetime time.Duration
	stsCalls int
	// inner is gofakes3's handler, which a fault may call itself.
	inner http.Handler
}

func newFakeAWS(t *testing.T) *fakeAWS {
	t.Helper()
	f := &fakeAWS{bucket: "nextflow-cloud-backups-0a1b", keyID: "ASIAEXAMPLEKEYID7Q2Z", region: "ap-southeast-1",
		secret: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYzEXAMPLEKEY", token: "IQoJb3JpZ2luX2VjEJr//////////wEaDmFwLXNvdXRoZWFzdC0x+/==",
		webIdentity: "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6bmV4dGZsb3c6YmFja3VwIn0.c2lnbmF0dXJl",
		parts:       map[string]map[string]int{}, backend: s3mem.New(), pageSize: 2, lifetime: time.Hour}
	if err := f.backend.CreateBucket(f.bucket); err != nil {
		t.Fatal(err)
	}
	f.inner = gofakes3.New(f.backend, gofakes3.WithoutVersioning(), gofakes3.WithIntegrityCheck(true), gofakes3.WithLogger(gofakes3.DiscardLog())).Server()
	f.s3 = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { f.serveS3(w, r, f.inner) }))
	f.sts = httptest.NewServer(http.HandlerFunc(f.serveSTS))
	t.Cleanup(f.s3.Close)
	t.Cleanup(f.sts.Close)
	return f
}

var sigV4 = regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$`)

func s3Error(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message></Error>`, code, msg)
}

// verify recomputes the request's signature with AWS's signer.
func (f *fakeAWS) verify(r *http.Request) (string, string) {
	m := sigV4.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil {
		return "AccessDenied", "no Signature Version 4 Authorization header"
	}
	if m[1] != f.keyID || m[3] != f.region || m[4] != "s3" {
		return "InvalidAccessKeyId", "unknown key, region or service in " + m[1] + "/" + m[3] + "/" + m[4]
	}
	payload := r.Header.Get("X-Amz-Content-Sha256")
	if payload == "" {
		return "InvalidRequest", "Missing required header for this request: x-amz-content-sha256"
	}
	if r.Header.Get("X-Amz-Security-Token") != f.token {
		return "InvalidToken", "The provided token is malformed or otherwise invalid."
	}
	when, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil || time.Since(when).Abs() > 15*time.Minute || when.Format("20060102") != m[2] {
		return "RequestTimeTooSkewed", "The difference between the request time and the current time is too large."
	}
	signed, err := http.NewRequest(r.Method, "http://"+r.Host+r.URL.EscapedPath()+"?"+r.URL.RawQuery, nil)
	if err != nil {
		return "InvalidRequest", err.Error()
	}
	signed.URL.RawQuery = r.URL.RawQuery
	for _, h := range strings.Split(m[5], ";") {
		if h != "host" {
			signed.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	creds := aws.Credentials{AccessKeyID: f.keyID, SecretAccessKey: f.secret, SessionToken: f.token}
	if err := signer.SignHTTP(context.Background(), creds, signed, payload, "s3", f.region, when); err != nil {
		return "InvalidRequest", err.Error()
	}
	if got := sigV4.FindStringSubmatch(signed.Header.Get("Authorization")); got == nil || got[6] != m[6] || got[5] != m[5] {
		return "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided."
	}
	return "", ""
}

func (f *fakeAWS) serveS3(w http.ResponseWriter, r *http.Request, s3 http.Handler) {
	body, _ := io.ReadAll(r.Body)
	q := r.URL.Query()
	f.mu.Lock()
	f.requests = append(f.requests, r.Method+" "+strings.Join(slices.Sorted(maps.Keys(q)), "&"))
	fault := f.fault
	f.mu.Unlock()
	if code, msg := f.verify(r); code != "" {
		s3Error(w, http.StatusForbidden, code, msg)
		return
	}
	if fault != nil {
		defer func() {
			if v := recover(); v != nil {
				if _, ok := v.(cutOff); !ok {
					panic(v)
				}
				w.Header().Set("Content-Length", "4096")
				w.WriteHeader(http.StatusOK)
				io.WriteString(w, strings.Repeat("x", 100))
				w.(http.Flusher).Flush()
				panic(http.ErrAbortHandler)
			}
		}()
		if status, answer, ok := fault(r, body); ok {
			w.WriteHeader(status)
			io.WriteString(w, answer)
			return
		}
	}
	id := q.Get("uploadId")
	switch {
	case r.Method == http.MethodPut && id != "":
		f.mu.Lock()
		if f.parts[id] == nil {
			f.parts[id] = map[string]int{}
		}
		f.parts[id][q.Get("partNumber")] = len(body)
		f.mu.Unlock()
	case r.Method == http.MethodPost && id != "":
		var in struct {
			Parts []struct{ PartNumber string } `xml:"Part"`
		}
		if err := xml.Unmarshal(body, &in); err != nil {
			s3Error(w, http.StatusBadRequest, "MalformedXML", err.Error())
			return
		}
		f.mu.Lock()
		sizes := f.parts[id]
		f.mu.Unlock()
		for i, p := range in.Parts {
			if i < len(in.Parts)-1 && sizes[p.PartNumber] < 5<<20 {
				s3Error(w, http.StatusBadRequest, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed object size.")
				return
			}
		}
	case r.Method == http.MethodGet && q.Get("list-type") == "2":
		q.Set("max-keys", fmt.Sprint(f.pageSize))
		r.URL.RawQuery = q.Encode()
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	s3.ServeHTTP(w, r)
}

func (f *fakeAWS) serveSTS(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.Method != http.MethodPost {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	if r.PostForm.Get("Action") != "AssumeRoleWithWebIdentity" || r.PostForm.Get("Version") != "2011-06-15" ||
		!strings.HasPrefix(r.PostForm.Get("RoleArn"), "arn:aws:iam::") || r.PostForm.Get("RoleSessionName") == "" {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `<ErrorResponse><Error><Type>Sender</Type><Code>ValidationError</Code><Message>bad parameters</Message></Error></ErrorResponse>`)
		return
	}
	if r.PostForm.Get("WebIdentityToken") != f.webIdentity {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>InvalidIdentityToken</Code><Message>Couldn't retrieve verification key from your identity provider</Message></Error></ErrorResponse>`)
		return
	}
	f.mu.Lock()
	f.stsCalls++
	lifetime := f.lifetime
	f.mu.Unlock()
	fmt.Fprintf(w, `<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <SubjectFromWebIdentityToken>system:serviceaccount:nextflow:backup</SubjectFromWebIdentityToken>
    <Credentials>
      <SessionToken>%s</SessionToken>
      <SecretAccessKey>%s</SecretAccessKey>
      <Expiration>%s</Expiration>
      <AccessKeyId>%s</AccessKeyId>
    </Credentials>
  </AssumeRoleWithWebIdentityResult>
</AssumeRoleWithWebIdentityResponse>`, f.token, f.secret, time.Now().Add(lifetime).UTC().Format(time.RFC3339), f.keyID)
}

// object is the stored object's bytes and metadata, or nil.
func (f *fakeAWS) object(t *testing.T, key string) ([]byte, map[string]string) {
	t.Helper()
	obj, err := f.backend.GetObject(f.bucket, key, nil)
	if err != nil {
		return nil, nil
	}
	defer obj.Contents.Close()
	b, err := io.ReadAll(obj.Contents)
	if err != nil {
		t.Fatal(err)
	}
	return b, obj.Metadata
}

func (f *fakeAWS) keys(t *testing.T) []string {
	t.Helper()
	list, err := f.backend.ListBucket(f.bucket, &gofakes3.Prefix{}, gofakes3.ListBucketPage{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range list.Contents {
		out = append(out, c.Key)
	}
	return out
}

func (f *fakeAWS) put(t *testing.T, key string, data []byte, meta map[string]string) {
	t.Helper()
	if _, err := f.backend.PutObject(f.bucket, key, meta, bytes.NewReader(data), int64(len(data)), nil); err != nil {
		t.Fatal(err)
	}
}

// s3Scripts are the cloud's backup and restore scripts (S3 on), with
// their environment as the CronJob's pod has it under IRSA.
type s3Scripts struct {
	dir, backup, restore, models string
	env                          []string
}

func newS3Scripts(t *testing.T, f *fakeAWS) s3Scripts {
	t.Helper()
	for _, tool := range []string{"bash", "curl", "flock", "tar", "gzip", "sha256sum", "md5sum", "base64", "dd", "awk"} {
		testutil.Tool(t, tool)
	}
	bk := BackupDefaults(testApp(t, "server", nil))
	bk.S3 = true
	s := s3Scripts{dir: t.TempDir()}
	s.backup, s.restore = writeBackupScripts(t, s.dir, bk)
	tokenFile := filepath.Join(s.dir, "token")
	if err := os.WriteFile(tokenFile, []byte(f.webIdentity), 0o600); err != nil {
		t.Fatal(err)
	}
	s.models = filepath.Join(s.dir, "models")
	if err := os.MkdirAll(filepath.Join(s.models, "blobs"), 0o755); err != nil {
		t.Fatal(err)
	}
	// 12 MiB that gzip cannot shrink: three parts of 5, 5 and 2 MiB.
	blob := make([]byte, 12<<20)
	if _, err := rand.Read(blob); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.models, "blobs", "sha256-llama"), blob, 0o644); err != nil {
		t.Fatal(err)
	}
	s.env = []string{"BACKUP_DIR=" + filepath.Join(s.dir, "staging"), "MODELS_DIR=" + s.models,
		"S3_BUCKET=" + f.bucket, "S3_ENDPOINT=" + f.s3.URL, "STS_ENDPOINT=" + f.sts.URL, "AWS_REGION=" + f.region,
		"AWS_ROLE_ARN=arn:aws:iam::123456789012:role/nextflow-cloud-backup", "AWS_WEB_IDENTITY_TOKEN_FILE=" + tokenFile,
		"S3_PART_BYTES=5242880", "S3_BACKOFF=0", "AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=", "AWS_SESSION_TOKEN="}
	return s
}

func (s s3Scripts) run(env []string, script string, args ...string) (string, string, error) {
	cmd := exec.Command("bash", append([]string{script}, args...)...)
	cmd.Env = append(append(os.Environ(), s.env...), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// partOnce answers the first upload of part n with status and body in
// S3's place; the retry goes through.
func partOnce(n string, status int, body string) func(*fakeAWS) func(*http.Request, []byte) (int, string, bool) {
	return func(*fakeAWS) func(*http.Request, []byte) (int, string, bool) {
		done := false
		return func(r *http.Request, _ []byte) (int, string, bool) {
			if r.URL.Query().Get("partNumber") != n || done {
				return 0, "", false
			}
			done = true
			return status, body, true
		}
	}
}

// TestBackupToS3 runs the cloud's backup job's script against S3 and STS
// as AWS defines them: the backup counts only once S3 holds all of it,
// and whatever fails on the way fails the job (its CronJob's last success
// does not move, and BackupTooOld fires) with no parts left behind.
func TestBackupToS3(t *testing.T) {
	for _, tc := range []struct {
		name  string
		env   []string
		fault func(f *fakeAWS) func(r *http.Request, body []byte) (int, string, bool)
		// fail is what a failed backup says; "" when it succeeds.
		fail string
	}{
		{"stored in parts", nil, nil, ""},
		{"static keys instead of a web identity", []string{"AWS_WEB_IDENTITY_TOKEN_FILE=", "AWS_ACCESS_KEY_ID=ASIAEXAMPLEKEYID7Q2Z",
			"AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYzEXAMPLEKEY", "AWS_SESSION_TOKEN=IQoJb3JpZ2luX2VjEJr//////////wEaDmFwLXNvdXRoZWFzdC0x+/=="}, nil, ""},
		{"a part answered 503 once", nil, partOnce("2", 503, `<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`), ""},
		{"a part's body timed out once (400 RequestTimeout)", nil, partOnce("3", 400, `<Error><Code>RequestTimeout</Code><Message>Your socket connection to the server was not read from or written to within the timeout period.</Message></Error>`), ""},
		{"the completion's answer lost after S3 made the object", nil, func(f *fakeAWS) func(*http.Request, []byte) (int, string, bool) {
			done := false
			return func(r *http.Request, body []byte) (int, string, bool) {
				if r.Method == http.MethodPost && r.URL.Query().Get("uploadId") != "" && !done {
					done = true
					r.Body = io.NopCloser(bytes.NewReader(body))
					f.inner.ServeHTTP(httptest.NewRecorder(), r) // S3 completes it
					panic(cutOff{})                              // and the answer never arrives
				}
				return 0, "", false
			}
		}, ""},
		{"a part refused every time", nil, func(f *fakeAWS) func(*http.Request, []byte) (int, string, bool) {
			return func(r *http.Request, _ []byte) (int, string, bool) {
				return 500, `<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>`, r.URL.Query().Get("partNumber") == "2"
			}
		}, "part 2 of s3://nextflow-cloud-backups-0a1b/models/models-"},
		{"a part changed on the way", nil, func(f *fakeAWS) func(*http.Request, []byte) (int, string, bool) {
			return func(r *http.Request, body []byte) (int, string, bool) {
				if r.URL.Query().Get("partNumber") == "3" {
					body[0] ^= 0xff // gofakes3 then checks the Content-MD5
				}
				return 0, "", false
			}
		}, "BadDigest"},
		{"the completion answers 200 with an error", nil, func(f *fakeAWS) func(*http.Request, []byte) (int, string, bool) {
			return func(r *http.Request, _ []byte) (int, string, bool) {
				return 200, `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message></Error>`,
					r.Method == http.MethodPost && r.URL.Query().Get("uploadId") != ""
			}
		}, "completing s3://"},
		{"the object read back is short", nil, func(f *fakeAWS) func(*http.Request, []byte) (int, string, bool) {
			return func(r *http.Request, _ []byte) (int, string, bool) {
				if r.Method == http.MethodHead {
					return 200, "", true // no Content-Length of the object's
				}
				return 0, "", false
			}
		}, "bytes, not"},
		{"credentials that expire during the upload", nil, func(f *fakeAWS) func(*http.Request, []byte) (int, string, bool) {
			f.lifetime = 4 * time.Minute // inside the 5 minutes' margin: new ones for every request
			return nil
		}, ""},
		{"a part's answer cut off", nil, func(f *fakeAWS) func(*http.Request, []byte) (int, string, bool) {
			cut := false
			return func(r *http.Request, _ []byte) (int, string, bool) {
				if r.URL.Query().Get("partNumber") == "1" && !cut {
					cut = true
					panic(cutOff{}) // 200, then the connection drops mid-answer
				}
				return 0, "", false
			}
		}, ""},
		{"more parts than S3 takes", []string{"S3_PART_BYTES=1"}, nil, "needs more than S3's 10,000 parts"},
		{"STS refuses the pod's token", []string{"AWS_WEB_IDENTITY_TOKEN_FILE=/dev/null"}, nil, "InvalidIdentityToken"},
		{"no credentials at all", []string{"AWS_WEB_IDENTITY_TOKEN_FILE="}, nil, "no AWS credentials"},
		{"no bucket", []string{"S3_BUCKET="}, nil, "S3_BUCKET is not set"},
		{"S3 refuses the signature", []string{"AWS_REGION=eu-west-1"}, nil, "InvalidAccessKeyId"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeAWS(t)
			s := newS3Scripts(t, f)
			if tc.fault != nil {
				f.fault = tc.fault(f)
			}
			defer func() {
				if tc.name == "credentials that expire during the upload" && f.stsCalls < 5 {
					t.Errorf("STS asked %d times: the expiring credentials were not renewed", f.stsCalls)
				}
			}()
			stdout, stderr, err := s.run(tc.env, s.backup, "models")
			out := stdout + stderr
			for _, secret := range []string{f.secret, f.token, f.webIdentity} {
				if strings.Contains(out, secret) {
					t.Fatalf("the job's output holds a credential:\n%s", out)
				}
			}
			var staged []string
			entries, _ := os.ReadDir(filepath.Join(s.dir, "staging", "models"))
			for _, e := range entries {
				if e.Name() != ".lock" {
					staged = append(staged, e.Name())
				}
			}
			if len(staged) != 0 {
				t.Errorf("the staging volume keeps %v", staged)
			}
			keys := f.keys(t)
			if tc.fail != "" {
				if err == nil || !strings.Contains(out, tc.fail) {
					t.Fatalf("want a failure saying %q, got %v:\n%s", tc.fail, err, out)
				}
				if len(keys) != 0 {
					t.Errorf("a failed backup left objects %v", keys)
				}
				// Parts sent are aborted, or the object they made deleted.
				if slices.Contains(f.requests, "PUT partNumber&uploadId") && !slices.Contains(f.requests, "DELETE uploadId") && !slices.Contains(f.requests, "DELETE ") {
					t.Fatalf("parts were sent and the upload neither aborted nor deleted: %v", f.requests)
				}
				return
			}
			if err != nil {
				t.Fatalf("backup: %v\n%s", err, out)
			}
			if len(keys) != 1 || !regexp.MustCompile(`^models/models-\d{8}T\d{6}Z\.tar\.gz$`).MatchString(keys[0]) {
				t.Fatalf("stored %v, want one models/models-<UTC time>.tar.gz", keys)
			}
			if n := strings.Count(strings.Join(f.requests, "\n"), "PUT partNumber&uploadId"); n < 3 {
				t.Errorf("%d part uploads for 12 MiB in 5 MiB parts: %v", n, f.requests)
			}
			// Fetched back (the newest, found through the listing's
			// pages among older ones) and restored: the same models.
			f.put(t, "models/models-20250101T030000Z.tar.gz", []byte("old"), map[string]string{"X-Amz-Meta-Sha256": "0"})
			f.put(t, "models/models-20250102T030000Z.tar.gz", []byte("old"), map[string]string{"X-Amz-Meta-Sha256": "0"})
			f.put(t, "models/models-20250103T030000Z.tar.gz", []byte("old"), map[string]string{"X-Amz-Meta-Sha256": "0"})
			file, stderr, err := s.run(tc.env, s.backup, "fetch", "models")
			if err != nil {
				t.Fatalf("fetch: %v\n%s", err, stderr)
			}
			file = strings.TrimSpace(file)
			if filepath.Base(file) != filepath.Base(keys[0]) {
				t.Fatalf("fetched %s, not the newest %s", file, keys[0])
			}
			back := filepath.Join(s.dir, "restored")
			if _, stderr, err := s.run([]string{"MODELS_DIR=" + back}, s.restore, "models", file); err != nil {
				t.Fatalf("restore: %v\n%s", err, stderr)
			}
			want, _ := os.ReadFile(filepath.Join(s.models, "blobs", "sha256-llama"))
			got, _ := os.ReadFile(filepath.Join(back, "blobs", "sha256-llama"))
			if !bytes.Equal(got, want) {
				t.Fatalf("the restored model differs from the one backed up (%d and %d bytes)", len(got), len(want))
			}
		})
	}
}

// TestFetchFromS3Refuses: what `backup.sh fetch` will not hand to a
// restore.
func TestFetchFromS3Refuses(t *testing.T) {
	f := newFakeAWS(t)
	s := newS3Scripts(t, f)
	f.put(t, "models/models-20250101T030000Z.tar.gz", []byte("not an archive"), map[string]string{"X-Amz-Meta-Sha256": strings.Repeat("0", 64)})
	f.put(t, "models/hand-made.tar.gz", []byte("x"), nil)
	for _, tc := range []struct {
		name string
		args []string
		fail string
	}{
		{"no backup of the kind", []string{"qdrant"}, "no backup under s3://nextflow-cloud-backups-0a1b/qdrant/"},
		{"a key of another kind", []string{"qdrant", "models/models-20250101T030000Z.tar.gz"}, "is not a qdrant backup"},
		{"a key nothing is stored under", []string{"models", "models/models-20990101T000000Z.tar.gz"}, "NoSuchKey"},
		{"an object nfx did not store", []string{"models", "models/hand-made.tar.gz"}, "no SHA-256 in its metadata"},
		{"an unknown kind", []string{"photos"}, "unknown kind photos"},
		{"a key with a newline", []string{"models", "models/models-20250101T030000Z.tar.gz\n"}, "has characters nfx's keys do not"},
		{"a key with a space", []string{"models", "models/a b.tar.gz"}, "has characters nfx's keys do not"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, err := s.run(nil, s.backup, append([]string{"fetch"}, tc.args...)...)
			if err == nil || !strings.Contains(stderr, tc.fail) {
				t.Fatalf("want a failure saying %q, got %v:\n%s", tc.fail, err, stderr)
			}
		})
	}
	// A stored object whose bytes do not match its SHA-256 is fetched, and
	// restore.sh refuses it before touching anything.
	file, stderr, err := s.run(nil, s.backup, "fetch", "models", "models/models-20250101T030000Z.tar.gz")
	if err != nil {
		t.Fatalf("fetch: %v\n%s", err, stderr)
	}
	back := filepath.Join(s.dir, "restored")
	_, stderr, err = s.run([]string{"MODELS_DIR=" + back}, s.restore, "models", strings.TrimSpace(file))
	if err == nil || !strings.Contains(stderr, "does not match its checksum") {
		t.Fatalf("restore of a damaged download: %v\n%s", err, stderr)
	}
	if _, err := os.Stat(back); !os.IsNotExist(err) {
		t.Errorf("restore touched %s", back)
	}
}

// The cloud's variant of the scripts (S3 on) passes shellcheck as the
// server's does.
func TestS3ScriptsPassShellcheck(t *testing.T) {
	shellcheck := testutil.Tool(t, "shellcheck")
	s := newS3Scripts(t, newFakeAWS(t))
	if out, err := exec.Command(shellcheck, "--severity=style", s.backup, s.restore).CombinedOutput(); err != nil {
		t.Errorf("shellcheck: %v\n%s", err, out)
	}
}

// A download cut off after S3's 200 is no download: curl's failure is
// read, the GET retried, and the file restore.sh gets is whole.
func TestFetchFromS3RetriesACutOffDownload(t *testing.T) {
	f := newFakeAWS(t)
	s := newS3Scripts(t, f)
	if _, stderr, err := s.run(nil, s.backup, "models"); err != nil {
		t.Fatalf("backup: %v\n%s", err, stderr)
	}
	cuts := 0
	f.fault = func(r *http.Request, _ []byte) (int, string, bool) {
		if r.Method == http.MethodGet && r.URL.Query().Get("list-type") == "" && cuts == 0 {
			cuts++
			panic(cutOff{})
		}
		return 0, "", false
	}
	file, stderr, err := s.run(nil, s.backup, "fetch", "models")
	if err != nil || cuts != 1 {
		t.Fatalf("fetch: %v (cut %d times)\n%s", err, cuts, stderr)
	}
	if _, stderr, err := s.run([]string{"MODELS_DIR=" + filepath.Join(s.dir, "restored")}, s.restore, "models", strings.TrimSpace(file)); err != nil {
		t.Fatalf("restore of the fetched file: %v\n%s", err, stderr)
	}
}

// cutOff, panicked in a fault, answers 200 with a Content-Length and
// half the bytes, then drops the connection.
type cutOff struct{}
