package model

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// URLRule is what a URL given to nfx may hold: its schemes, the query
// parameters it takes, whether it names a user and a path. JudgeURL
// checks a value against it without ever repeating the value: a URL that
// is refused may hold a password, so a refusal names the part that is
// wrong, never the text.
type URLRule struct {
	// Flag names the value in messages (--source-db, nextflow:promotion.verify.prometheus).
	Flag string
	// Schemes are the accepted schemes, the first one shown in the fix.
	Schemes []string
	// Query are the query parameters taken; any other is refused.
	Query []string
	// AnyQuery takes any query parameter whose name does not name a
	// credential (a health URL's ?full=1).
	AnyQuery bool
	// NoPath refuses a path other than "/" (a base URL).
	NoPath bool
	// Example is a well-formed value for the fix.
	Example string
	// Fix is where the secret goes instead of the URL (an environment
	// variable, a password file).
	Fix string
}

// credentialKeys are query parameter names that carry a secret.
var credentialKeys = lazy(`(?i)(^|[_.-])(pass(word|wd)?|pwd|token|secret|(api|access|private|secret)?[_-]?key|auth(orization)?|sig(nature)?|credentials?|session(id)?|cookie|jwt)($|[_.-])`)

var queryKeyRE = lazy(`^[A-Za-z_][A-Za-z0-9_.-]{0,39}$`)

// CredentialQueryKey is the first query parameter of q whose name says it
// holds a credential (password, access_token, api_key...), "" when none.
func CredentialQueryKey(q url.Values) string {
	for _, k := range SortedKeys(q) {
		if credentialKeys.MatchString(k) {
			return k
		}
	}
	return ""
}

// JudgeURL parses raw under r, or says what is wrong with it, naming
// r.Flag, the part at fault and the fix, never raw itself.
func JudgeURL(raw string, r URLRule) (*url.URL, error) {
	bad := func(format string, args ...any) error {
		msg := fmt.Sprintf(format, args...)
		return fmt.Errorf("%s: %s (the value is not shown: it may hold a secret); fix: give a URL such as %s", r.Flag, msg, r.Example)
	}
	secret := func(what string) error {
		fix := "give it another way"
		if r.Fix != "" {
			fix = r.Fix
		}
		return fmt.Errorf("%s: %s (not shown); a secret never goes in a URL, which is printed, logged and kept in shell history; fix: remove it and %s", r.Flag, what, fix)
	}
	schemes := strings.Join(r.Schemes, ":// or ") + "://"
	switch {
	case raw == "":
		return nil, bad("is empty")
	case len(raw) > 2048:
		return nil, bad("is %d characters, over 2048", len(raw))
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok && strings.Contains(raw, "=") && !strings.Contains(raw, "/") {
		if strings.Contains(strings.ToLower(raw), "password") {
			return nil, secret("is in libpq's keyword=value form and holds a password")
		}
		return nil, bad("is in libpq's keyword=value form, not a URL")
	}
	if strings.ContainsFunc(raw, func(c rune) bool { return c <= ' ' || c == 0x7f }) {
		return nil, bad("holds a space or a control character")
	}
	if !ok {
		if at := strings.LastIndex(raw, "@"); at >= 0 && strings.Contains(raw[:at], ":") {
			return nil, secret("is not a URL (no " + schemes + ") and seems to hold a password")
		}
		return nil, bad("does not start with %s", schemes)
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		if strings.Contains(rest[:at], ":") {
			return nil, secret("holds a password")
		}
	}
	if !contains(r.Schemes, strings.ToLower(scheme)) {
		return nil, bad("does not start with %s", schemes)
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse's own error repeats the URL: never shown.
		return nil, bad("does not parse as a URL")
	}
	if u.User != nil && strings.ContainsAny(u.User.Username(), ":@") {
		// An encoded colon (%3A) in the user name: a password in disguise.
		return nil, secret("holds a password in its user name")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, bad("its query does not parse")
	}
	if k := CredentialQueryKey(q); k != "" {
		name := "a query parameter"
		if queryKeyRE.MatchString(k) {
			name = "the query parameter " + k
		}
		return nil, secret(name + " holds a credential")
	}
	for _, k := range SortedKeys(q) {
		if r.AnyQuery || contains(r.Query, k) {
			continue
		}
		name := "a query parameter nfx does not take"
		if queryKeyRE.MatchString(k) {
			name = "the query parameter " + k + " is not taken"
		}
		if len(r.Query) > 0 {
			name += " (only " + strings.Join(r.Query, ", ") + ")"
		}
		return nil, bad("%s", name)
	}
	switch {
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return nil, bad("has a #fragment")
	case u.Hostname() == "":
		return nil, bad("names no host")
	case r.NoPath && u.Path != "" && u.Path != "/":
		return nil, bad("has a path; give the base URL only")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, bad("its port is not a number from 1 to 65535")
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return nil, bad("its port is empty")
	}
	return u, nil
}
