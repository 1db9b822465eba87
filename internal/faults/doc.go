// Package faults is the fault suite: its tests start the real muster roles
// (web, worker, scheduler) as child processes against a PostgreSQL cluster,
// Redis servers and an SMTP server of their own on loopback, inject faults
// (kill -9, SIGTERM, Redis restarted empty, PostgreSQL stopped, SMTP
// refusals, drops and hangs, a Sentinel failover), and count what was lost
// and what was sent twice. `go test ./internal/faults` runs the short form;
// FAULTS=full runs the full form, FAULTS_SEED=N replays a run.
package faults
