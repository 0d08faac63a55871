package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"gocloud.dev/blob"
	// s3:// backends: the state, and nfx's ledger beside it, in a bucket.
	_ "gocloud.dev/blob/s3blob"
	"gocloud.dev/gcerrors"

	"github.com/nextflow-crm/nfx/internal/files"
	"github.com/nextflow-crm/nfx/internal/model"
)

// Backend is a Pulumi state backend and its layout: where the engine
// keeps each stack's state, and where nfx keeps what it adds beside the
// stacks (the ledger), so that whoever reads the state reads those too.
// A file:// directory or an s3:// bucket (with an optional prefix).
type Backend struct {
	// URL is the backend's URL for the engine.
	URL string
	// Dir is a file backend's directory.
	Dir string
	// Bucket is an s3 backend's bucket, under its prefix; Where names it in
	// messages (its URL without query or credentials).
	Bucket *blob.Bucket
	Where  string
}

// OpenBackend opens backend (a `pulumi login` URL), or the project's file
// backend when it is empty. A URL that may carry a credential is refused
// without being repeated.
func OpenBackend(ctx context.Context, proj, backend string) (*Backend, error) {
	if backend == "" {
		backend = "file://" + files.BackendDir(proj)
	}
	u, err := url.Parse(backend)
	if err != nil || u.User != nil || strings.Contains(backend, "@") {
		return nil, fmt.Errorf("--backend: %s is not a backend URL nfx takes (credentials are never taken in a URL: give them as AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or an AWS profile)", redactURL(backend))
	}
	if k := model.CredentialQueryKey(u.Query()); k != "" || strings.ContainsAny(backend, "#\n\r") {
		return nil, fmt.Errorf("--backend: a query parameter holds a credential, or the URL a fragment or a line break (not shown); fix: give AWS credentials as AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or an AWS profile")
	}
	switch u.Scheme {
	case "file":
		dir := strings.TrimPrefix(backend, "file://")
		if dir == "" {
			return nil, fmt.Errorf("--backend: file:// names no directory; fix: file:///srv/pulumi-state")
		}
		if strings.HasPrefix(dir, "~") {
			home, _ := os.UserHomeDir()
			dir = filepath.Join(home, strings.TrimPrefix(dir, "~"))
		}
		return &Backend{URL: "file://" + dir, Dir: dir}, nil
	case "s3":
		if u.Host == "" {
			return nil, fmt.Errorf("--backend: s3:// names no bucket; fix: s3://my-bucket[/prefix]?region=ap-southeast-1")
		}
		where := "s3://" + u.Host + u.Path
		bu := *u
		bu.Path = ""
		b, err := blob.OpenBucket(ctx, bu.String())
		if err != nil {
			// The opener's error may repeat the URL's query: shown as where.
			return nil, fmt.Errorf("--backend %s: %s", where, strings.ReplaceAll(err.Error(), bu.String(), where))
		}
		bucket := b
		if p := strings.Trim(u.Path, "/"); p != "" {
			bucket = blob.PrefixedBucket(b, p+"/")
		}
		return &Backend{URL: backend, Bucket: bucket, Where: where}, nil
	}
	return nil, fmt.Errorf("--backend: the ledger is kept beside the state of a file:// or s3:// backend; %s is not one (fix: use a file:// directory CI keeps, or an S3 bucket)", redactURL(backend))
}

// stateKey is where the engine keeps a stack's state in a backend.
func stateKey(stack string) string {
	return ".pulumi/stacks/" + model.Namespace + "/" + stack + ".json"
}

// State reads a stack's state; nil when it has none.
func (b *Backend) State(stack string) ([]byte, error) {
	if b.Bucket == nil {
		data, err := os.ReadFile(filepath.Join(b.Dir, filepath.FromSlash(stateKey(stack))))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return data, err
	}
	ctx := context.Background()
	for _, k := range []string{stateKey(stack), stateKey(stack) + ".gz"} {
		data, err := b.Bucket.ReadAll(ctx, k)
		if gcerrors.Code(err) == gcerrors.NotFound {
			continue
		}
		return data, err
	}
	return nil, nil
}

// LedgerFile is a file backend's ledger, beside its stacks ("" in a
// bucket, where the ledger is objects under .nfx/ledger/).
func (b *Backend) LedgerFile() string {
	if b.Bucket != nil {
		return ""
	}
	return files.LedgerIn(b.Dir)
}

// Close releases the bucket.
func (b *Backend) Close() {
	if b.Bucket != nil {
		b.Bucket.Close()
	}
}

// redactURL drops what a URL may carry after its scheme.
func redactURL(u string) string {
	if scheme, _, ok := strings.Cut(u, "://"); ok {
		return scheme + "://…"
	}
	return "the given backend"
}
