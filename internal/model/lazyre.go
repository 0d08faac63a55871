package model

import (
	"regexp"
	"sync"
)

// lazyRE is a regular expression compiled on its first use rather than at
// every process's start: nfx's two dozen checks took half a millisecond to
// compile (counted repetitions such as an IAM name's {1,512} unroll into
// hundreds of states), most commands use a few of them, and the front nfx,
// which starts in a few milliseconds, uses none on --help.
type lazyRE struct {
	expr string
	get  func() *regexp.Regexp
}

// lazyREs are every lazyRE, for the test that compiles them all.
var lazyREs []lazyRE

func lazy(expr string) lazyRE {
	l := lazyRE{expr, sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })}
	lazyREs = append(lazyREs, l)
	return l
}

func (l lazyRE) MatchString(s string) bool { return l.get().MatchString(s) }

func (l lazyRE) FindStringSubmatch(s string) []string { return l.get().FindStringSubmatch(s) }
