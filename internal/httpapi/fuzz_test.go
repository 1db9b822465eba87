package httpapi

import (
	"bytes"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/muster-dev/muster/internal/muster"
)

// FuzzDecode: the JSON bodies of invitations, onboarding events and mail
// events are read into their request, or refused with a 4xx error that
// says what is wrong; never a bare error (a 500) or a panic.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"email":"anna@example.com","full_name":"Анна","feature":"Figma","manager_ids":[1,2],"locale":"en"}`,
		`{"email":"a@b.co","type":"registered","at":"2026-11-22T10:30:00Z","full_name":"A","phone":"+7916"}`,
		`{"message_id":"<invitation-1@muster.test>","type":"bounced","bounce":"hard","at":"2026-11-22T10:30:00Z"}`,
		`{"email":"a@b.co"} {"email":"c@d.co"}`, `{"email":1}`, `{"unknown":true}`, `[]`, `{"email":"\u0000"}`,
		"{\"email\":\"\xff\"}", `{"manager_ids":[1e400]}`, ``,
	} {
		f.Add([]byte(s))
	}
	now := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	check := func(t *testing.T, err error) {
		if err == nil {
			return
		}
		e := muster.AsError(err)
		if e == nil || statusOf[e.Kind] < 400 || statusOf[e.Kind] >= 500 || e.Message == "" {
			t.Fatalf("a body made %v", err)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var inv struct {
			Email      string  `json:"email"`
			FullName   string  `json:"full_name"`
			Feature    string  `json:"feature"`
			ManagerIDs []int64 `json:"manager_ids"`
			Locale     string  `json:"locale"`
		}
		err := decode(httptest.NewRecorder(), httptest.NewRequest("POST", "/", bytes.NewReader(body)), &inv)
		if err == nil {
			_, err = muster.NewInvite(1, inv.Email, inv.FullName, inv.Feature, inv.ManagerIDs, inv.Locale)
		}
		check(t, err)
		var ev struct {
			Email     string `json:"email"`
			Type      string `json:"type"`
			At        string `json:"at"`
			FullName  string `json:"full_name"`
			Phone     string `json:"phone"`
			TaxStatus string `json:"tax_status"`
		}
		err = decode(httptest.NewRecorder(), httptest.NewRequest("POST", "/", bytes.NewReader(body)), &ev)
		if err == nil {
			_, err = muster.NewEvent(ev.Email, ev.Type, ev.At, ev.FullName, ev.Phone, ev.TaxStatus, now)
		}
		check(t, err)
		var me struct {
			MessageID string `json:"message_id"`
			Type      string `json:"type"`
			Bounce    string `json:"bounce"`
			At        string `json:"at"`
			Detail    string `json:"detail"`
		}
		err = decode(httptest.NewRecorder(), httptest.NewRequest("POST", "/", bytes.NewReader(body)), &me)
		if err == nil {
			_, err = muster.NewMailEvent(me.MessageID, me.Type, me.Bounce, me.At, me.Detail, now)
		}
		check(t, err)
	})
}
