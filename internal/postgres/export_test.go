package postgres

// ClaimSQL is the single sends' claim statement, for tests of its plan.
var ClaimSQL = claimInvitations

// OutcomesSQL is the statement that records outcomes.
const OutcomesSQL = recordOutcomes
