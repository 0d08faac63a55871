package model

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
)

// secretValueRE is what a password or token of nfx's own keys may hold:
// every place it goes takes these characters as they are (Redis's and
// Sentinel's configuration files quote it, libpq's password file, a
// psql variable, a Compose or Swarm secret file), where a quote, a
// backslash, a space or a newline would break one of them or quietly
// become another password.
var secretValueRE = boundedRE{lazy(`^[A-Za-z0-9._~+/=@%^*!,-]*$`), 8, 1000}

// boundedRE is a regular expression of ASCII characters whose length, in
// bytes, is checked apart: regexp compiles a counted repetition such as
// {8,1000} into a thousand states, which took a fifth of every nfx
// command's start-up.
type boundedRE struct {
	re       lazyRE
	min, max int
}

func (b boundedRE) MatchString(s string) bool {
	return len(s) >= b.min && len(s) <= b.max && b.re.MatchString(s)
}

// SecretValueFix says what a secret key's value may hold.
const SecretValueFix = "use 8 to 1000 letters, digits and - . _ ~ + / = @ % ^ * ! , (no quotes, backslashes, spaces or newlines)"

// CheckSecretValue checks a value of one of nfx's secret keys for every
// place it goes on the stage: nfx's own rule, then the rules of the APIs
// it reaches there (SecretRules). Its error names the key and the
// consumer, never the value.
func CheckSecretValue(stage Stage, key, v string) error {
	fix := SecretValueFix
	if k, ok := LookupKey(key); ok && k.Generated {
		fix += ", or unset it and let `nfx up` generate one"
	}
	if !secretValueRE.MatchString(v) {
		what := "holds a character nfx cannot pass safely to every place it goes"
		switch {
		case len(v) < 8:
			what = fmt.Sprintf("is %d characters long, under the 8 nfx requires", len(v))
		case len(v) > 1000:
			what = fmt.Sprintf("is %d characters long, over the 1000 nfx takes", len(v))
		}
		return &SecretValueError{Key: key, Problem: what, Fix: fix}
	}
	if key == KeyTunnelToken {
		if why := tunnelTokenShape(v); why != "" {
			return &SecretValueError{Key: key, Problem: "not a Cloudflare Tunnel token: " + why, Fix: TunnelTokenFix}
		}
	}
	for _, r := range SecretRules(stage, key) {
		if why := r.Check(v); why != "" {
			return &SecretValueError{Key: key, Problem: fmt.Sprintf("on the %s stage its value goes to %s, and %s", stage, r.Consumer, why),
				Fix: "use a value it takes, such as 40 letters and digits, or unset it and let `nfx up` generate one"}
		}
	}
	return nil
}

// SecretValueError is a secret key's value refused: what is wrong with it
// and the fix, never the value.
type SecretValueError struct{ Key, Problem, Fix string }

func (e *SecretValueError) Error() string {
	return fmt.Sprintf("%s: %s (the value is not shown); fix: %s", FullKey(e.Key), e.Problem, e.Fix)
}

// TunnelTokenFix says where a tunnel's token comes from.
const TunnelTokenFix = "copy the tunnel's token from Cloudflare (Zero Trust > Networks > Tunnels > the tunnel > the install command, the string after --token) or print it with `cloudflared tunnel token NAME`"

// tunnelTokenShape reports why v is not what cloudflared 2025.4.0 takes
// from --token-file, or "": base64 (standard alphabet, padded) of a JSON
// object whose "a" is the account, "s" the tunnel's secret (base64 bytes)
// and "t" the tunnel's UUID (cmd/cloudflared/tunnel/subcommands.go
// ParseToken, connection/connection.go TunnelToken, at 2025.4.0). Without
// this check a wrong value shows only at run time, as cloudflared's
// "Provided Tunnel token is not valid." and a tunnel that restarts for
// ever. The reasons name no part of the value.
func tunnelTokenShape(v string) string {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
	if err != nil {
		return "it is not base64"
	}
	var tok struct {
		Account string `json:"a"`
		Secret  []byte `json:"s"`
		Tunnel  string `json:"t"`
	}
	if err := json.Unmarshal(raw, &tok); err != nil {
		return "its base64 does not hold the JSON object a token holds"
	}
	switch {
	case tok.Account == "":
		return `it names no account ("a")`
	case len(tok.Secret) == 0:
		return `it holds no tunnel secret ("s")`
	}
	if _, err := uuid.Parse(tok.Tunnel); err != nil {
		return `its tunnel id ("t") is not a UUID`
	}
	return ""
}

// CheckAppSecretValue checks a value of nextflow:secrets: it reaches only
// a file, so any text will do, up to 64 KiB, without NUL.
func CheckAppSecretValue(field, v string) error {
	path := FullKey(KeyAppSecrets) + "." + field
	switch {
	case v == "":
		return fmt.Errorf("%s is empty; fix: set it with `pulumi config set --secret --path '%s' <value>`", path, path)
	case len(v) > 64<<10:
		return fmt.Errorf("%s is %d bytes, over the 64 KiB a secret file takes (the value is not shown); fix: keep it shorter", path, len(v))
	case !utf8.ValidString(v) || strings.ContainsRune(v, 0):
		return fmt.Errorf("%s is not text (the value is not shown); fix: base64 it, and decode it in the service", path)
	}
	return nil
}
