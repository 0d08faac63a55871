// Package components holds the Pulumi component resources that describe
// NextFlow once: NextFlow, the whole stack, and one component per part (CRM,
// AI, PostgreSQL, Redis, Qdrant, tunnel). Each follows one contract: a type
// token, New<Thing>(ctx, name, args, opts...), Args.Validate() before
// anything registers, every child parented, RegisterResourceOutputs last.
//
// How a part is realised on a stage is not decided here: NextFlow hands the
// parts to the stage's Realiser, chosen from an explicit registry.
package components
