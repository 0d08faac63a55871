package testutil

import (
	"net/http/httptest"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// S3 serves an S3 API (gofakes3, in memory) with one bucket for the
// test, sets the AWS variables its clients need (credentials it accepts
// without checking, a region), and returns the bucket's URL as Pulumi and
// nfx take it: s3://bucket?endpoint=…&s3ForcePathStyle=true&region=…
// (the responses of this server carry no checksums: validated only where
// an operation needs one).
func S3(t testing.TB, bucket string) string {
	t.Helper()
	backend := s3mem.New()
	if err := backend.CreateBucket(bucket); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(backend, gofakes3.WithoutVersioning(), gofakes3.WithLogger(gofakes3.DiscardLog())).Server())
	t.Cleanup(srv.Close)
	t.Setenv("AWS_ACCESS_KEY_ID", "nfx-test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "nfx-test-secret")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	return "s3://" + bucket + "?endpoint=" + srv.URL + "&s3ForcePathStyle=true&region=us-east-1&response_checksum_validation=when_required"
}
