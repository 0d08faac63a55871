// Package ciinit writes the CI pipelines a team commits to promote its
// stacks with nfx: on a pull or merge request, the diff, the cost and the
// promotion's gates as one comment, failing on a blocking gate; on the
// default branch, promotion through the stacks in order, each behind a
// manual approval; and the stage upgrade as a manual pipeline of its own.
package ciinit

import (
	"bytes"
	"fmt"
	"strings"
	"text/template"

	"github.com/nextflow-crm/nfx/internal/files"
	"github.com/nextflow-crm/nfx/internal/model"
)

// Providers are the CI systems nfx writes pipelines for.
var Providers = []string{"github", "gitlab"}

// Pair is one promotion: From's release into To.
type Pair struct{ From, To string }

// Pairs are the promotions through the stages, in order.
func Pairs() []Pair {
	var out []Pair
	for i := 0; i+1 < len(model.Stages); i++ {
		out = append(out, Pair{string(model.Stages[i]), string(model.Stages[i+1])})
	}
	return out
}

type data struct {
	Pairs  []Pair
	Stages []string
	// Upgrades are the stage upgrades offered, as from:to.
	Upgrades []string
}

func newData() data {
	d := data{Pairs: Pairs()}
	for _, st := range model.Stages {
		d.Stages = append(d.Stages, string(st))
	}
	for _, p := range d.Pairs {
		d.Upgrades = append(d.Upgrades, p.From+"-to-"+p.To)
	}
	return d
}

var funcs = template.FuncMap{
	"join": strings.Join,
	// gh is a GitHub expression, written so Go's template leaves it alone.
	"gh": func(expr string) string { return "${{ " + expr + " }}" },
}

// Files are the provider's pipeline files, by path in the repository.
func Files(provider string) (files.Set, error) {
	var tmpls map[string]string
	switch provider {
	case "github":
		tmpls = map[string]string{
			".github/workflows/nfx-review.yml":  githubReview,
			".github/workflows/nfx-promote.yml": githubPromote,
			".github/workflows/nfx-upgrade.yml": githubUpgrade,
		}
	case "gitlab":
		tmpls = map[string]string{".gitlab-ci.yml": gitlabCI}
	default:
		return nil, fmt.Errorf("unknown provider %q; use %s", provider, strings.Join(Providers, " or "))
	}
	d := newData()
	var set files.Set
	for path, text := range tmpls {
		t, err := template.New(path).Funcs(funcs).Option("missingkey=error").Parse(text)
		if err != nil {
			return nil, err
		}
		var b bytes.Buffer
		if err := t.Execute(&b, d); err != nil {
			return nil, err
		}
		set = append(set, files.File{Path: path, Data: b.Bytes()})
	}
	return set.Sorted(), nil
}

// stackEnv is what a GitHub job that runs a stack gets from its
// environment: the backend, the passphrase, the AWS credentials (an s3://
// backend, the cloud stage).
const stackEnv = `      NFX_BACKEND: {{gh "vars.NFX_BACKEND"}}
      PULUMI_CONFIG_PASSPHRASE: {{gh "secrets.PULUMI_CONFIG_PASSPHRASE"}}
      # An s3:// backend and the cloud stage: the environment's AWS credentials.
      AWS_ACCESS_KEY_ID: {{gh "secrets.AWS_ACCESS_KEY_ID"}}
      AWS_SECRET_ACCESS_KEY: {{gh "secrets.AWS_SECRET_ACCESS_KEY"}}
      AWS_REGION: {{gh "vars.AWS_REGION"}}
`

// The GitHub jobs' steps that set up Go with its caches kept (keyed on
// go.sum), and that build nfx and the Pulumi program once.
const (
	setupGo = `      - uses: actions/setup-go@v5
        with:
          go-version-file: go.mod
          cache-dependency-path: go.sum
`
	buildOnce = `      - name: Build nfx and the Pulumi program once
        run: |
          go build -o bin/nfx ./cmd/nfx
          go build -o bin/nextflow ./cmd/nextflow
`
)

// The review script: the diff, the target's cost and the promotion's dry
// run as one Markdown comment; exit 3 when a blocking gate refuses. A
// review has neither the stacks' state nor their secrets (a pull request
// may come from a fork): its dry run is the offline gates (--config-only);
// the engine's preview runs in the promotion job, on the target's
// environment, right before its up.
const reviewScript = `{{range .Pairs}}
            bin/nfx diff --from {{.From}} --to {{.To}} --markdown --backend "$NFX_BACKEND" >> comment.md
            { echo; echo '#### Cost of {{.To}}'; echo; echo '` + "```" + `'; bin/nfx cost --stage {{.To}}; echo '` + "```" + `'; echo; } >> comment.md
            bin/nfx promote --from {{.From}} --to {{.To}} --dry-run --config-only --markdown --backend "$NFX_BACKEND" >> comment.md || rc=$?
{{- end}}`

var githubReview = `# Written by nfx ci init: on every pull request, the diff between the stacks, the
# target's cost and the promotion's gates as one comment; fails on a blocking gate.
name: nfx review
on:
  pull_request:
permissions:
  contents: read
  pull-requests: write
concurrency:
  group: nfx-review-{{gh "github.event.pull_request.number"}}
  cancel-in-progress: true
jobs:
  review:
    runs-on: ubuntu-latest
    env:
      # A file:// backend: the ledger of the dry runs sits beside its state.
      NFX_BACKEND: file://{{gh "github.workspace"}}/.nfx/state
    steps:
      - uses: actions/checkout@v4
` + setupGo + buildOnce + `      - name: Diff, cost and the promotion's gates
        id: review
        run: |
          rc=0
          : > comment.md
` + reviewScript + `
            echo "rc=$rc" >> "$GITHUB_OUTPUT"
      - name: Comment on the pull request
        if: always() && hashFiles('comment.md') != ''
        env:
          GH_TOKEN: {{gh "github.token"}}
          PR: {{gh "github.event.pull_request.number"}}
        run: gh pr comment "$PR" --body-file comment.md --edit-last || gh pr comment "$PR" --body-file comment.md
      - name: Fail on a blocking gate
        if: steps.review.outputs.rc != '0'
        env:
          RC: {{gh "steps.review.outputs.rc"}}
        run: |
          echo "nfx promote refused the promotion (exit $RC): see the comment"
          exit 1
`

var githubPromote = `# Written by nfx ci init: on the default branch, promote the release through the
# stacks in order. Each promotion runs in a GitHub environment named after its
# target stack: give each one required reviewers (Settings > Environments) and a
# job waits for their approval. NFX_BACKEND (a repository variable) is the
# backend that keeps the state and the ledger: an s3:// bucket (with the AWS
# credentials as secrets), or a file:// directory the self-hosted runner keeps.
name: nfx promote
on:
  push:
    branches: [main]
permissions:
  contents: write
concurrency:
  group: nfx-promote
  cancel-in-progress: false
jobs:
  build:
    runs-on: self-hosted
    steps:
      - uses: actions/checkout@v4
` + setupGo + buildOnce + `      - uses: actions/upload-artifact@v4
        with:
          name: nfx-bin
          path: bin/
          retention-days: 1
{{- $prev := "build"}}
{{- range .Pairs}}
  promote-{{.To}}:
    needs: [{{$prev}}]
    runs-on: self-hosted
    environment: {{.To}}
    env:
` + stackEnv + `      NFX_DEPLOY_CMD: {{gh "vars.NFX_DEPLOY_CMD"}}
    steps:
      - uses: actions/checkout@v4
        with:
          ref: main
` + setupGo + `      - uses: actions/download-artifact@v4
        with:
          name: nfx-bin
          path: bin/
      - name: Promote {{.From}} to {{.To}}
        run: |
          chmod +x bin/*
          git pull --ff-only
          # NFX_DEPLOY_CMD (an environment variable) starts the stack after its up.
          set --
          if [ -n "${NFX_DEPLOY_CMD:-}" ]; then set -- --deploy-cmd "$NFX_DEPLOY_CMD"; fi
          bin/nfx promote --from {{.From}} --to {{.To}} --backend "$NFX_BACKEND" "$@"
          bin/nfx ledger --verify --backend "$NFX_BACKEND"
      - name: Commit the promoted stack file
        run: |
          git config user.name "nfx promote"
          git config user.email "nfx-promote@users.noreply.github.com"
          git add Pulumi.{{.To}}.yaml
          git diff --cached --quiet || { git commit -m "Promote {{.From}} to {{.To}} [skip ci]"; git push; }
{{- $prev = printf "promote-%s" .To}}
{{- end}}
`

var githubUpgrade = `# Written by nfx ci init: moving to the next stage (nfx upgrade: a promotion
# of the release into the next stage with the migration as a step: the target's
# gates, preview and up, the rehearsal, the migration, verification and cutover,
# each recorded in the ledger) is a manual pipeline of its own, in the "upgrade"
# environment.
name: nfx upgrade
on:
  workflow_dispatch:
    inputs:
      path:
        description: the upgrade to run
        required: true
        type: choice
        options: [{{join .Upgrades ", "}}]
      deploy_cmd:
        description: the command that starts the target stack after up
        required: false
        type: string
permissions:
  contents: read
concurrency:
  group: nfx-upgrade
  cancel-in-progress: false
jobs:
  upgrade:
    runs-on: self-hosted
    environment: upgrade
    env:
` + stackEnv + `      NFX_SOURCE_DB: {{gh "vars.NFX_SOURCE_DB"}}
      NFX_TARGET_DB: {{gh "vars.NFX_TARGET_DB"}}
      NFX_SCRATCH_DB: {{gh "vars.NFX_SCRATCH_DB"}}
      NFX_SOURCE_DB_PASSWORD: {{gh "secrets.NFX_SOURCE_DB_PASSWORD"}}
      NFX_TARGET_DB_PASSWORD: {{gh "secrets.NFX_TARGET_DB_PASSWORD"}}
      NFX_SCRATCH_DB_PASSWORD: {{gh "secrets.NFX_SCRATCH_DB_PASSWORD"}}
      UPGRADE: {{gh "inputs.path"}}
      DEPLOY_CMD: {{gh "inputs.deploy_cmd"}}
    steps:
      - uses: actions/checkout@v4
` + setupGo + `      - name: Upgrade
        run: |
          go build -o bin/nfx ./cmd/nfx
          bin/nfx upgrade --from "${UPGRADE%%-to-*}" --to "${UPGRADE##*-to-}" --backend "$NFX_BACKEND" \
            --source-db "$NFX_SOURCE_DB" --target-db "$NFX_TARGET_DB" --scratch-db "$NFX_SCRATCH_DB" \
            ${DEPLOY_CMD:+--deploy-cmd "$DEPLOY_CMD"}
`

var gitlabCI = `# Written by nfx ci init. On a merge request: the diff between the stacks, the
# target's cost and the promotion's gates as one comment (posted when
# NFX_GITLAB_TOKEN, a project access token with api scope, is set), failing on a
# blocking gate. On the default branch: promotion through the stacks in order,
# each a manual job on the environment named after its target stack (protect it
# under Settings > CI/CD > Protected environments to require approvers).
# NFX_BACKEND is the backend that keeps the state and the ledger: an s3:// bucket,
# or a file:// directory the runner keeps.
stages: [build, review, promote, upgrade]

variables:
  GOPATH: $CI_PROJECT_DIR/.go
  GOCACHE: $CI_PROJECT_DIR/.go/cache
  NFX_BACKEND: file://$CI_PROJECT_DIR/.nfx/state

default:
  cache:
    key:
      files: [go.sum]
    paths: [.go/pkg/mod, .go/cache]

build:
  stage: build
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
    - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH
  script:
    - go build -o bin/nfx ./cmd/nfx
    - go build -o bin/nextflow ./cmd/nextflow
  artifacts:
    paths: [bin/]
    expire_in: 1 day

review:
  stage: review
  needs: [build]
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
  script:
    - |
      rc=0
      : > comment.md
` + reviewScriptGitLab + `
      if [ -n "${NFX_GITLAB_TOKEN:-}" ]; then
        curl -fsS -X POST -H "PRIVATE-TOKEN: $NFX_GITLAB_TOKEN" --data-urlencode "body@comment.md" \
          "$CI_API_V4_URL/projects/$CI_PROJECT_ID/merge_requests/$CI_MERGE_REQUEST_IID/notes" >/dev/null
      fi
      exit "$rc"
  artifacts:
    when: always
    paths: [comment.md]
{{- $prev := "build"}}
{{- range .Pairs}}

promote:{{.To}}:
  stage: promote
  needs: [{{$prev}}]
  rules:
    - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH
      when: manual
  allow_failure: false
  resource_group: nfx-{{.To}}
  environment:
    name: {{.To}}
  script:
    # NFX_DEPLOY_CMD (a variable scoped to the environment) starts the stack after its up.
    - |
      set --
      if [ -n "${NFX_DEPLOY_CMD:-}" ]; then set -- --deploy-cmd "$NFX_DEPLOY_CMD"; fi
      bin/nfx promote --from {{.From}} --to {{.To}} --backend "$NFX_BACKEND" "$@"
    - bin/nfx ledger --verify --backend "$NFX_BACKEND"
{{- $prev = printf "promote:%s" .To}}
{{- end}}

upgrade:
  stage: upgrade
  needs: [build]
  rules:
    - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH && $NFX_UPGRADE
      when: manual
  resource_group: nfx-upgrade
  environment:
    name: upgrade
  script:
    # NFX_UPGRADE is one of {{join .Upgrades ", "}}; the connections are CI/CD variables.
    - bin/nfx upgrade --from "${NFX_UPGRADE%%-to-*}" --to "${NFX_UPGRADE##*-to-}" --backend "$NFX_BACKEND" --source-db "$NFX_SOURCE_DB" --target-db "$NFX_TARGET_DB" --scratch-db "$NFX_SCRATCH_DB"
`

var reviewScriptGitLab = strings.ReplaceAll(reviewScript, "\n            ", "\n      ")
