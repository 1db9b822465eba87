package postgres_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/muster-dev/muster/internal/muster"
	"github.com/muster-dev/muster/internal/postgres"
	"github.com/muster-dev/muster/internal/postgres/pgtest"
)

func setup(t *testing.T) (*postgres.DB, *muster.Account) {
	t.Helper()
	db := pgtest.New(t)
	_, acc, err := db.CreateClient(context.Background(), muster.ClientDraft{Name: "Acme", OwnerEmail: "owner@acme.test", OwnerLocale: muster.Russian, AccountName: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	return db, acc
}

func invite(t *testing.T, db *postgres.DB, accountID int64, email string) (*muster.Invited, error) {
	t.Helper()
	in, err := muster.NewInvite(accountID, email, "", "", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	return db.Invite(context.Background(), in)
}

func TestConcurrentInvitesOfOneEmailCreateOneMember(t *testing.T) {
	t.Parallel()
	db, acc := setup(t)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() { _, errs[i] = invite(t, db, acc.ID, "Same@Example.test") })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case muster.ErrorCode(err) != "already_member":
			t.Errorf("unexpected error %v", err)
		}
	}
	var contractors, memberships, invitations int
	db.Get(&contractors, `SELECT count(*) FROM contractors`)
	db.Get(&memberships, `SELECT count(*) FROM memberships`)
	db.Get(&invitations, `SELECT count(*) FROM invitations`)
	if ok != 1 || contractors != 1 || memberships != 1 || invitations != 1 {
		t.Fatalf("winners %d, rows %d/%d/%d; want exactly one of each", ok, contractors, memberships, invitations)
	}
}

func TestOneProfileAcrossAccounts(t *testing.T) {
	t.Parallel()
	db, acc := setup(t)
	ctx := context.Background()
	second, err := db.CreateAccount(ctx, acc.ClientID, "Acme Projects", nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := invite(t, db, acc.ID, "anna@example.test")
	if err != nil {
		t.Fatal(err)
	}
	b, err := invite(t, db, second.ID, "ANNA@example.test")
	if err != nil {
		t.Fatal(err)
	}
	if a.Contractor.ID != b.Contractor.ID || a.Membership.ID == b.Membership.ID {
		t.Fatalf("profiles %d/%d memberships %d/%d", a.Contractor.ID, b.Contractor.ID, a.Membership.ID, b.Membership.ID)
	}
	// Not registered yet: both are sign-up invitations, not links.
	if b.Linked || b.Invitation.Kind != muster.InviteSignup {
		t.Fatalf("second account: %+v", b)
	}
}

func TestExcludedContractorCanBeInvitedAgain(t *testing.T) {
	t.Parallel()
	db, acc := setup(t)
	first, err := invite(t, db, acc.ID, "back@example.test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE memberships SET status = 'excluded', excluded_at = now() WHERE id = $1`, first.Membership.ID); err != nil {
		t.Fatal(err)
	}
	again, err := invite(t, db, acc.ID, "back@example.test")
	if err != nil {
		t.Fatal(err)
	}
	if again.Membership.ID != first.Membership.ID || again.Membership.Status != muster.MemberInvited || again.Membership.ExcludedAt != nil {
		t.Fatalf("revived membership: %+v", again.Membership)
	}
	if again.Invitation.ID == first.Invitation.ID {
		t.Fatal("a new invitation should be queued")
	}
}

func TestTwoSweepersNeverTakeTheSameRow(t *testing.T) {
	t.Parallel()
	db, acc := setup(t)
	for i := range 50 {
		if _, err := invite(t, db, acc.ID, "u"+string(rune('a'+i%26))+string(rune('a'+i/26))+"@example.test"); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	if _, err := db.Exec(`UPDATE invitations SET enqueued_at = now() - interval '1 hour'`); err != nil {
		t.Fatal(err)
	}
	seen := map[int64]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for {
				batch, err := db.TakeUnsent(ctx, 30*time.Minute, 7)
				if err != nil {
					t.Error(err)
					return
				}
				if len(batch) == 0 {
					return
				}
				mu.Lock()
				for _, u := range batch {
					seen[u.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != 50 {
		t.Fatalf("%d rows taken, want 50", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("invitation %d taken %d times", id, n)
		}
	}
	// Stamped as enqueued now: the next sweep leaves them alone.
	if batch, err := db.TakeUnsent(ctx, time.Minute, 100); err != nil || len(batch) != 0 {
		t.Fatalf("after stamping: %d rows, %v", len(batch), err)
	}
}

func TestTokensAreHashedAndScoped(t *testing.T) {
	t.Parallel()
	db, acc := setup(t)
	ctx := context.Background()
	tok, err := db.CreateToken(ctx, muster.TokenClient, acc.ClientID, 0, "ci")
	if err != nil {
		t.Fatal(err)
	}
	var stored int
	db.Get(&stored, `SELECT count(*) FROM api_tokens WHERE encode(hash, 'escape') LIKE '%' || $1 || '%'`, tok[4:20])
	if stored != 0 {
		t.Fatal("the token is stored in clear")
	}
	a, err := db.Authenticate(ctx, tok)
	if err != nil || a.Kind != muster.TokenClient || a.ClientID != acc.ClientID {
		t.Fatalf("%+v %v", a, err)
	}
	var used int
	db.Get(&used, `SELECT count(*) FROM api_tokens WHERE last_used_at IS NOT NULL`)
	if used != 1 {
		t.Errorf("the token's use was not recorded")
	}
	// A dashboard merged away loses its tokens.
	other, _, err := db.CreateClient(ctx, muster.ClientDraft{Name: "Main", OwnerEmail: "main@acme.test", OwnerLocale: muster.Russian, AccountName: "Main"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE clients SET merged_into_id = $2 WHERE id = $1`, acc.ClientID, other.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Authenticate(ctx, tok); muster.ErrorCode(err) != "invalid_token" {
		t.Fatalf("token of a merged dashboard: %v", err)
	}
	if _, err := db.CreateToken(ctx, muster.TokenClient, 999, 0, ""); muster.ErrorKind(err) != muster.KindNotFound {
		t.Fatalf("token for an unknown client: %v", err)
	}
}

// A Pool keeps at most its n connections busy on the server, whatever
// asks: the rest wait for one.
func TestPoolCapsConnections(t *testing.T) {
	t.Parallel()
	db, _ := setup(t)
	p := db.Pool(2)
	defer p.Close()
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			if _, err := p.ExecContext(context.Background(), `SELECT pg_sleep(0.05)`); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if st := p.Stats(); st.MaxOpenConnections != 2 || st.OpenConnections > 2 || st.WaitCount == 0 {
		t.Errorf("pool stats: %+v", st)
	}
}

// The send path's prepared statements keep working when PostgreSQL drops
// the connections they were prepared on (a restart, a failover): they are
// prepared again on the new ones. At most the first call after the drop
// fails, on a connection the server closed.
func TestPreparedStatementsSurviveDroppedConnections(t *testing.T) {
	t.Parallel()
	db, acc := setup(t)
	ctx := context.Background()
	var ids []int64
	for _, email := range []string{"a@prep.test", "b@prep.test"} {
		res, err := invite(t, db, acc.ID, email)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.Invitation.ID)
	}
	claim := func(id int64) error {
		got, why, err := db.ClaimInvitations(ctx, []int64{id}, time.Minute)
		if err == nil && (got[id] == nil || why[id] != nil) {
			t.Fatalf("invitation %d not claimed: %v", id, why[id])
		}
		return err
	}
	if err := claim(ids[0]); err != nil {
		t.Fatal(err)
	}
	killer := db.Pool(1)
	defer killer.Close()
	if _, err := killer.ExecContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid()`); err != nil {
		t.Fatal(err)
	}
	err := claim(ids[1])
	if err != nil {
		err = claim(ids[1])
	}
	if err != nil {
		t.Fatalf("claim after the connections were dropped: %v", err)
	}
	out := muster.Outcome{InvitationID: ids[1], Attempt: 1, Status: muster.SendSent, MessageID: "m@prep.test", At: time.Now()}
	if err := db.RecordOutcomes(ctx, []muster.Outcome{out}); err != nil {
		t.Fatal(err)
	}
	var status string
	if err := db.GetContext(ctx, &status, `SELECT status FROM invitations WHERE id = $1`, ids[1]); err != nil || status != muster.SendSent {
		t.Fatalf("status %q, %v", status, err)
	}
}
