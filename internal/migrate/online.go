package migrate

import "context"

// OnlineState is the online mode's record.
type OnlineState struct{}

// onlineSteps run the online mode's steps.
var onlineSteps = map[string]func(*Run, context.Context) (string, bool, error){}
