package httpapi_test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Expected statuses, one per caller in the order of actors:
//
//	staff client owner admin manager viewer noaccess anon
const (
	everyone      = "200 200 200 200 200 200 200 200"
	anyMember     = "200 200 200 200 200 200 200 401"
	seesAccount   = "200 200 200 200 200 200 404 401"
	onlyStaff200  = "200 404 404 404 404 404 404 401" // another dashboard: staff only
	onlyStaff201  = "201 404 404 404 404 404 404 401"
	onlyStaff202  = "202 404 404 404 404 404 404 401"
	writes200     = "200 200 200 200 200 403 404 401" // contractor work: not viewers
	writes201     = "201 201 201 201 201 403 404 401"
	writes202     = "202 202 202 202 202 403 404 401"
	anyToken      = "200 200 200 200 200 200 200 401"
	staffOnly200  = "200 403 403 403 403 403 403 401" // platform work: 403 to everyone else
	staffOnly202  = "202 403 403 403 403 403 403 401"
	managesAdmins = "202 202 202 202 403 403 403 401"
)

type accessRow struct {
	route        string // the pattern, as registered
	request      func(d *dashboard, n int) (path string, body any)
	own, foreign string // expected statuses, one per actor
}

// accessMatrix holds every route of the API against every caller, on
// objects of the callers' own dashboard and of another one. A route that
// has no row fails TestAccessMatrix: a new endpoint must say here who may
// call it. request builds the call on dashboard d; n is unique per call.
var accessMatrix = []accessRow{
	{"GET /healthz", fixed("/healthz", nil), everyone, everyone},
	{"GET /readyz", fixed("/readyz", nil), everyone, everyone},
	{"GET /v1/openapi.json", fixed("/v1/openapi.json", nil), everyone, everyone},
	{"GET /v1/docs/", fixed("/v1/docs/", nil), everyone, everyone},
	{"/", fixed("/v1/nowhere", nil), "404 404 404 404 404 404 404 404", "404 404 404 404 404 404 404 404"},
	{"POST /v1/clients", func(_ *dashboard, n int) (string, any) {
		return "/v1/clients", map[string]any{"name": fmt.Sprint("New ", n), "owner_email": fmt.Sprintf("new%d@clients.test", n)}
	}, "201 403 403 403 403 403 403 401", "201 403 403 403 403 403 403 401"},
	{"POST /v1/clients/{id}/accounts", func(d *dashboard, n int) (string, any) {
		return path("/v1/clients/{id}/accounts", d.clientID), map[string]any{"name": fmt.Sprint("Account ", n)}
	}, "201 201 201 201 403 403 403 401", onlyStaff201},
	{"GET /v1/clients/{id}/accounts", func(d *dashboard, _ int) (string, any) {
		return path("/v1/clients/{id}/accounts", d.clientID), nil
	}, anyMember, onlyStaff200},
	{"GET /v1/accounts/{id}", func(d *dashboard, _ int) (string, any) {
		return path("/v1/accounts/{id}", d.account), nil
	}, seesAccount, onlyStaff200},
	{"POST /v1/accounts/{id}/kyb", func(d *dashboard, _ int) (string, any) {
		return path("/v1/accounts/{id}/kyb", d.account), map[string]any{"status": "rejected"}
	}, "200 403 403 403 403 403 404 401", onlyStaff200},
	{"POST /v1/accounts/{id}/invitations", func(d *dashboard, n int) (string, any) {
		return path("/v1/accounts/{id}/invitations", d.account), map[string]any{"email": fmt.Sprintf("c%d@contractors.test", n)}
	}, "202 202 202 202 202 403 404 401", onlyStaff202},
	{"GET /v1/accounts/{id}/contractors/{cid}", func(d *dashboard, _ int) (string, any) {
		return path("/v1/accounts/{id}/contractors/", d.account) + strconv.FormatInt(d.contractor, 10), nil
	}, seesAccount, onlyStaff200},
	{"GET /v1/accounts/{id}/contractors", func(d *dashboard, _ int) (string, any) {
		return path("/v1/accounts/{id}/contractors", d.account), nil
	}, seesAccount, onlyStaff200},
	{"PATCH /v1/accounts/{id}/contractors/{cid}", func(d *dashboard, n int) (string, any) {
		return path("/v1/accounts/{id}/contractors/", d.account) + strconv.FormatInt(d.contractor, 10), map[string]any{"notes": fmt.Sprint("note ", n)}
	}, writes200, onlyStaff200},
	// The contractor was just invited: whoever may resend hears it is too soon.
	{"POST /v1/accounts/{id}/contractors/{cid}/resend", func(d *dashboard, _ int) (string, any) {
		return path("/v1/accounts/{id}/contractors/", d.account) + strconv.FormatInt(d.contractor, 10) + "/resend", nil
	}, "429 429 429 429 429 403 404 401", "429 404 404 404 404 404 404 401"},
	{"POST /v1/accounts/{id}/contractors/{cid}/exclude", func(d *dashboard, _ int) (string, any) {
		return path("/v1/accounts/{id}/contractors/", d.account) + strconv.FormatInt(d.spare, 10) + "/exclude", nil
	}, writes200, onlyStaff200},
	{"GET /v1/accounts/{id}/tasks", func(d *dashboard, _ int) (string, any) {
		return path("/v1/accounts/{id}/tasks", d.account), nil
	}, seesAccount, onlyStaff200},
	{"POST /v1/accounts/{id}/tasks", func(d *dashboard, n int) (string, any) {
		return path("/v1/accounts/{id}/tasks", d.account), map[string]any{"contractor_id": d.contractor, "title": fmt.Sprint("Task ", n)}
	}, writes201, onlyStaff201},
	{"PATCH /v1/accounts/{id}/tasks/{tid}", func(d *dashboard, n int) (string, any) {
		return path("/v1/accounts/{id}/tasks/", d.account) + strconv.FormatInt(d.task, 10), map[string]any{"title": fmt.Sprint("Task ", n)}
	}, writes200, onlyStaff200},
	// Onboarding events are global: only staff (or the sign-up app's signature).
	{"POST /v1/contractor-events", func(d *dashboard, _ int) (string, any) {
		return "/v1/contractor-events", map[string]any{"email": d.email, "type": "phone_verified", "at": "2026-01-02T03:04:05Z"}
	}, "200 403 403 403 403 403 403 401", "200 403 403 403 403 403 403 401"},
	// The mail provider's reports and the suppression list: staff (or the
	// provider's signature). No email has this Message-ID, nor is this
	// address suppressed: staff hear 404.
	{"POST /v1/mail-events", fixed("/v1/mail-events", map[string]any{"message_id": "<invitation-999999@muster.test>", "type": "delivered", "at": "2026-01-02T03:04:05Z"}),
		"404 403 403 403 403 403 403 401", "404 403 403 403 403 403 403 401"},
	{"GET /v1/suppressions", fixed("/v1/suppressions", nil), staffOnly200, staffOnly200},
	{"DELETE /v1/suppressions/{email}", fixed("/v1/suppressions/nobody@example.test", nil),
		"404 403 403 403 403 403 403 401", "404 403 403 403 403 403 403 401"},
	// Public: the signed link is the credential.
	{"POST /v1/unsubscribe", fixed("/v1/unsubscribe?token=forged.token", nil),
		"400 400 400 400 400 400 400 400", "400 400 400 400 400 400 400 400"},
	{"POST /v1/clients/{id}/managers", func(d *dashboard, n int) (string, any) {
		return path("/v1/clients/{id}/managers", d.clientID),
			map[string]any{"email": fmt.Sprintf("m%d@managers.test", n), "role": "viewer", "account_ids": []int64{d.account}}
	}, managesAdmins, onlyStaff202},
	{"GET /v1/clients/{id}/managers", func(d *dashboard, _ int) (string, any) {
		return path("/v1/clients/{id}/managers", d.clientID), nil
	}, anyMember, onlyStaff200},
	{"GET /v1/managers/{id}", func(d *dashboard, _ int) (string, any) {
		return path("/v1/managers/{id}", d.target), nil
	}, anyMember, onlyStaff200},
	{"PATCH /v1/managers/{id}", func(d *dashboard, _ int) (string, any) {
		return path("/v1/managers/{id}", d.target), map[string]any{"role": "viewer", "account_ids": []int64{d.account}}
	}, "200 200 200 200 403 403 403 401", onlyStaff200},
	// The manager was just invited, too: throttled like a contractor.
	{"POST /v1/managers/{id}/resend", func(d *dashboard, _ int) (string, any) {
		return path("/v1/managers/{id}/resend", d.target), nil
	}, "429 429 429 429 403 403 403 401", "429 404 404 404 404 404 404 401"},
	// After every other row on target: the manager is gone afterwards.
	{"DELETE /v1/managers/{id}", func(d *dashboard, _ int) (string, any) {
		return path("/v1/managers/{id}", d.target), nil
	}, "200 200 200 200 403 403 403 401", onlyStaff200},
	{"GET /v1/tokens", fixed("/v1/tokens", nil), anyToken, anyToken},
	// A spare client token: the dashboard's for its owner, not a manager's own.
	{"DELETE /v1/tokens/{id}", func(d *dashboard, _ int) (string, any) {
		return "/v1/tokens/" + strconv.FormatInt(d.spareToken, 10), nil
	}, "200 200 200 404 404 404 404 401", onlyStaff200},
	{"GET /v1/clients", fixed("/v1/clients?q=own", nil), staffOnly200, staffOnly200},
	{"POST /v1/accounts/{id}/imports", func(d *dashboard, n int) (string, any) {
		return path("/v1/accounts/{id}/imports", d.account), upload{"team.csv", []byte(fmt.Sprintf("email\nrow%d@imports.test\n", n))}
	}, writes202, onlyStaff202},
	{"GET /v1/accounts/{id}/imports", func(d *dashboard, _ int) (string, any) {
		return path("/v1/accounts/{id}/imports", d.account), nil
	}, seesAccount, onlyStaff200},
	// The fixture's import is done: whoever may cancel hears it is too late.
	{"POST /v1/imports/{id}/cancel", func(d *dashboard, _ int) (string, any) {
		return "/v1/imports/" + strconv.FormatInt(d.imported, 10) + "/cancel", nil
	}, "409 409 409 409 409 403 404 401", "409 404 404 404 404 404 404 401"},
	{"POST /v1/imports/{id}/confirm", func(d *dashboard, _ int) (string, any) {
		return "/v1/imports/" + strconv.FormatInt(d.imported, 10) + "/confirm", nil
	}, "409 409 409 409 409 403 404 401", "409 404 404 404 404 404 404 401"},
	{"GET /v1/imports/template.xlsx", fixed("/v1/imports/template.xlsx", nil), anyToken, anyToken},
	{"GET /v1/imports/{id}", func(d *dashboard, _ int) (string, any) {
		return "/v1/imports/" + strconv.FormatInt(d.imported, 10), nil
	}, seesAccount, onlyStaff200},
	{"GET /v1/imports/{id}/events", func(d *dashboard, _ int) (string, any) {
		return "/v1/imports/" + strconv.FormatInt(d.imported, 10) + "/events", nil
	}, seesAccount, onlyStaff200},
	{"GET /v1/imports/{id}/errors", func(d *dashboard, _ int) (string, any) {
		return "/v1/imports/" + strconv.FormatInt(d.imported, 10) + "/errors", nil
	}, seesAccount, onlyStaff200},
	// Merges are the platform's: staff only, whichever dashboards.
	{"POST /v1/merges", func(d *dashboard, _ int) (string, any) {
		return "/v1/merges", map[string]any{"target_client_id": d.clientID, "source_client_ids": []int64{d.sibling}, "dry_run": true}
	}, staffOnly202, staffOnly202},
	{"GET /v1/merges", fixed("/v1/merges", nil), staffOnly200, staffOnly200},
	{"GET /v1/merges/{id}", func(d *dashboard, _ int) (string, any) {
		return "/v1/merges/" + strconv.FormatInt(d.merge, 10), nil
	}, staffOnly200, staffOnly200},
	// The service's internals: staff only.
	{"GET /metrics", fixed("/metrics", nil), staffOnly200, staffOnly200},
	{"/asynq/", fixed("/asynq/", nil), staffOnly200, staffOnly200},
	// Public: the signed token is the credential, whoever sends it.
	{"POST /v1/manager-invitations/accept", fixed("/v1/manager-invitations/accept", map[string]any{"token": "forged.token"}),
		"400 400 400 400 400 400 400 400", "400 400 400 400 400 400 400 400"},
}

func fixed(path string, body any) func(*dashboard, int) (string, any) {
	return func(*dashboard, int) (string, any) { return path, body }
}

func TestAccessMatrix(t *testing.T) {
	t.Parallel()
	b := setup(t)
	own, foreign := b.dashboard(t, "Own"), b.dashboard(t, "Foreign")
	n := 0
	for _, row := range accessMatrix {
		method, _, ok := strings.Cut(row.route, " ")
		if !ok {
			method = "GET" // a pattern for every method
		}
		for _, target := range []struct {
			name string
			d    *dashboard
			want string
		}{{"own", own, row.own}, {"foreign", foreign, row.foreign}} {
			want := strings.Fields(target.want)
			if len(want) != len(actors) {
				t.Fatalf("%s: %d statuses for %d actors", row.route, len(want), len(actors))
			}
			for i, who := range actors {
				n++
				p, body := row.request(target.d, n)
				if res := b.do(t, method, p, own.tokens[who], body); strconv.Itoa(res.status) != want[i] {
					t.Errorf("%s, %s dashboard, as %s: %d %s, want %s", row.route, target.name, who, res.status, res.code(), want[i])
				}
			}
		}
	}
	routes := b.api.Routes()
	for _, r := range routes {
		if !slices.ContainsFunc(accessMatrix, func(row accessRow) bool { return row.route == r }) {
			t.Errorf("route %q has no row in accessMatrix: say who may call it", r)
		}
	}
	for _, row := range accessMatrix {
		if !slices.Contains(routes, row.route) {
			t.Errorf("accessMatrix row %q is not a route", row.route)
		}
	}
}
