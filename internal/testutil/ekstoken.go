package testutil

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// VerifyEKSToken checks a bearer token for an EKS cluster as EKS's
// authenticator does before it asks STS who signed it: aws-iam-authenticator's
// Verify (pkg/token/token.go), its checks reproduced: the prefix and size, an
// https URL to region's STS at its root, only the query parameters it
// allows, each once, GetCallerIdentity, the cluster's header among the
// signed ones (the authenticator sends its cluster's name in it to STS,
// which checks the signature), an X-Amz-Expires of 0 to 900 and an X-Amz-Date of the last 15
// minutes. The STS call itself, which needs AWS, is not made.
func VerifyEKSToken(token, region string, now time.Time) error {
	if len(token) > 4096 {
		return fmt.Errorf("token is too large")
	}
	rest, ok := strings.CutPrefix(token, "k8s-aws-v1.")
	if !ok {
		return fmt.Errorf("token is missing the k8s-aws-v1. prefix")
	}
	raw, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil {
		return err
	}
	u, err := url.Parse(string(raw))
	if err != nil {
		return err
	}
	if u.Scheme != "https" || u.Host != "sts."+region+".amazonaws.com" || u.Path != "/" {
		return fmt.Errorf("unexpected URL %s://%s%s", u.Scheme, u.Host, u.Path)
	}
	allowed := map[string]bool{"action": true, "version": true, "x-amz-algorithm": true, "x-amz-credential": true, "x-amz-date": true,
		"x-amz-expires": true, "x-amz-security-token": true, "x-amz-signature": true, "x-amz-signedheaders": true}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return err
	}
	lower := url.Values{}
	for k, vs := range q {
		if !allowed[strings.ToLower(k)] {
			return fmt.Errorf("non-whitelisted query parameter %q", k)
		}
		if len(vs) != 1 {
			return fmt.Errorf("query parameter %q given %d times", k, len(vs))
		}
		lower.Set(strings.ToLower(k), vs[0])
	}
	if lower.Get("action") != "GetCallerIdentity" {
		return fmt.Errorf("action %q", lower.Get("action"))
	}
	signed := false
	for _, h := range strings.Split(lower.Get("x-amz-signedheaders"), ";") {
		signed = signed || strings.EqualFold(h, "x-k8s-aws-id")
	}
	if !signed {
		return fmt.Errorf("the x-k8s-aws-id header is not signed")
	}
	expires, err := strconv.Atoi(lower.Get("x-amz-expires"))
	if err != nil || expires < 0 || expires > 900 {
		return fmt.Errorf("invalid X-Amz-Expires %q", lower.Get("x-amz-expires"))
	}
	date, err := time.Parse("20060102T150405Z", lower.Get("x-amz-date"))
	if err != nil {
		return fmt.Errorf("X-Amz-Date: %w", err)
	}
	if now.After(date.Add(15*time.Minute)) || date.After(now.Add(5*time.Minute)) {
		return fmt.Errorf("X-Amz-Date %s is not of the last 15 minutes", date)
	}
	if !strings.Contains(lower.Get("x-amz-credential"), "/"+region+"/sts/aws4_request") {
		return fmt.Errorf("credential scope %q", lower.Get("x-amz-credential"))
	}
	return nil
}
