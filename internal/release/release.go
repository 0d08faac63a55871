// Package release is what a stack runs, as opposed to how it runs it: the
// images of the CRM, Ollama, the data services, the edge and the user's
// services, and the models Ollama serves. A release moves between stacks
// (promotion); the topology and sizing of each stack stay its own.
package release

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/nextflow-crm/nfx/internal/model"
)

// Release is one stack's release.
type Release struct {
	// Images are the image references by service (a built-in part's key,
	// or services.<name> for the user's).
	Images map[string]string `json:"images"`
	// Models are Ollama's models: ai.model and ai.embeddingModel.
	Models map[string]string `json:"models"`
	// Digest identifies the release: the SHA-256 of the rest, canonical.
	Digest string `json:"digest"`
}

// builtin are the built-in parts' image keys a release carries.
var builtin = []string{model.PartCRM, model.PartAI, model.PartPostgres, model.PartRedis, model.PartQdrant, model.PartTunnel, "nginx"}

// Of is the release a loaded config runs.
func Of(c *model.Config) Release {
	r := Release{Images: map[string]string{}, Models: map[string]string{}}
	imgs := map[string]string{
		model.PartCRM: c.CRM.Image, model.PartAI: c.AI.Image, model.PartPostgres: c.Postgres.Image,
		model.PartRedis: c.Redis.Image, model.PartQdrant: c.Qdrant.Image, model.PartTunnel: c.Tunnel.Image, "nginx": c.Nginx.Image,
	}
	for _, k := range builtin {
		r.Images[k] = imgs[k]
	}
	for _, s := range c.Services {
		r.Images["services."+s.Name] = s.Image
	}
	r.Models["model"] = c.AI.Model
	r.Models["embeddingModel"] = c.AI.EmbeddingModel
	r.Digest = r.digest()
	return r
}

func (r Release) digest() string {
	// encoding/json sorts map keys: the same release, the same bytes.
	b, _ := json.Marshal(struct {
		Images map[string]string `json:"images"`
		Models map[string]string `json:"models"`
	}{r.Images, r.Models})
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Short is the digest's first 12 hex digits, for messages.
func (r Release) Short() string { return Short(r.Digest) }

// Short is a release digest's first 12 hex digits.
func Short(digest string) string {
	d := strings.TrimPrefix(digest, "sha256:")
	if len(d) > 12 {
		return d[:12]
	}
	return d
}

// Services lists the release's services, sorted.
func (r Release) Services() []string {
	out := make([]string, 0, len(r.Images))
	for k := range r.Images {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// mutableTags are tags registries move to new builds.
var mutableTags = map[string]bool{"latest": true, "stable": true, "main": true, "master": true, "edge": true,
	"dev": true, "develop": true, "nightly": true, "lts": true, "current": true, "release": true, "prod": true, "production": true}

// Mutable says why an image reference can point at another build
// tomorrow, or "" when it is pinned (a digest, or a version tag).
func Mutable(ref string) string {
	if strings.Contains(ref, "@sha256:") {
		return ""
	}
	last := ref[strings.LastIndex(ref, "/")+1:]
	_, tag, ok := strings.Cut(last, ":")
	switch {
	case !ok || tag == "":
		return "has no tag (Docker reads it as latest)"
	case mutableTags[strings.ToLower(tag)]:
		return fmt.Sprintf("uses the mutable tag %q", tag)
	}
	return ""
}

// CheckPinned names every service whose image may move: a promotion
// carries exactly what ran.
func (r Release) CheckPinned() []string {
	var out []string
	for _, s := range r.Services() {
		if why := Mutable(r.Images[s]); why != "" {
			out = append(out, fmt.Sprintf("%s: %s %s; pin it to a version tag or a digest (@sha256:...)", s, r.Images[s], why))
		}
	}
	return out
}

// Change is one value a promotion changes in the target.
type Change struct {
	Key      string `json:"key"`
	From, To string
}

// Diff lists what carrying r into a stack running cur changes.
func (r Release) Diff(cur Release) []Change {
	var out []Change
	for _, s := range r.Services() {
		if cur.Images[s] != r.Images[s] {
			out = append(out, Change{Key: s + ".image", From: cur.Images[s], To: r.Images[s]})
		}
	}
	for _, m := range []string{"model", "embeddingModel"} {
		if cur.Models[m] != r.Models[m] {
			out = append(out, Change{Key: "ai." + m, From: cur.Models[m], To: r.Models[m]})
		}
	}
	return out
}
