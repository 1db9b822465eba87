// Package jobs is Muster's background work on Asynq: the task kinds and
// their typed arguments (catalogue.go), the handlers, the enqueuer and the
// worker and scheduler processes. Handlers are idempotent: PostgreSQL
// records what was done, so a task delivered twice, a worker killed
// mid-task or a Redis that lost its data never sends an email twice or
// loses one.
package jobs
