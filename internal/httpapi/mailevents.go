package httpapi

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/muster-dev/muster/internal/muster"
	"github.com/muster-dev/muster/jobs"
)

// mailEvent: POST /v1/mail-events, from the mail provider: delivered,
// bounced (hard or soft) or complained, for the email its message_id
// names. Signed like onboarding events (MAIL_EVENTS_SECRET), or sent with
// a staff token.
func (s *Server) mailEvent(w http.ResponseWriter, r *http.Request) error {
	if err := s.signedOrStaff(w, r, s.opts.MailEventsSecret, "MAIL_EVENTS_SECRET"); err != nil {
		return err
	}
	var req struct {
		MessageID string `json:"message_id"`
		Type      string `json:"type"`
		Bounce    string `json:"bounce"`
		At        string `json:"at"`
		Detail    string `json:"detail"`
	}
	if err := decode(w, r, &req); err != nil {
		return err
	}
	ev, err := muster.NewMailEvent(req.MessageID, req.Type, req.Bounce, req.At, req.Detail, s.opts.Now())
	if err != nil {
		return err
	}
	res, err := s.app.MailEvent(r.Context(), ev)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// listSuppressions: GET /v1/suppressions[?email=], staff only.
func (s *Server) listSuppressions(w http.ResponseWriter, r *http.Request) error {
	list, err := s.app.Suppressions(r.Context(), actor(r), r.URL.Query().Get("email"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"suppressions": list})
	return nil
}

// clearSuppression: DELETE /v1/suppressions/{email}, staff only: mail to
// the address goes out again.
func (s *Server) clearSuppression(w http.ResponseWriter, r *http.Request) error {
	if err := s.app.ClearSuppression(r.Context(), actor(r), r.PathValue("email")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// unsubscribe: POST /v1/unsubscribe?token=…, the one-click unsubscribe of
// RFC 8058 that a reminder's List-Unsubscribe header points to. The mail
// client posts "List-Unsubscribe=One-Click"; the signed token is the
// credential. It stops that membership's reminders, nothing else.
func (s *Server) unsubscribe(w http.ResponseWriter, r *http.Request) error {
	subject, err := s.signer.Verify(jobs.UnsubscribePurpose, strings.TrimSpace(r.URL.Query().Get("token")))
	if err != nil {
		return muster.Invalid("invalid_unsubscribe_link", "the unsubscribe link is invalid or has expired")
	}
	membershipID, err := strconv.ParseInt(subject, 10, 64)
	if err != nil {
		return muster.Invalid("invalid_unsubscribe_link", "the unsubscribe link is invalid")
	}
	if err := s.app.Unsubscribe(r.Context(), membershipID); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"unsubscribed": "reminders"})
	return nil
}
