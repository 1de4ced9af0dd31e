package fakeupstream

import "net/http"

// handleUsage answers GET /backend-api/wham/usage: the account's plan and
// its two usage windows, unless a reply was scripted.
func (s *Server) handleUsage(w http.ResponseWriter, r *http.Request) {
	_, reply := s.record(r, Usage)
	a, ok := s.authorized(r)
	if !ok {
		writeJSON(w, http.StatusUnauthorized, unauthorizedBody)
		return
	}
	if reply == nil {
		reply = &Reply{Body: `{"plan_type":` + jsonString(a.PlanType) + `,"rate_limit":{"allowed":true,"limit_reached":false,` +
			`"primary_window":{"used_percent":12,"limit_window_seconds":18000,"reset_after_seconds":3600},` +
			`"secondary_window":{"used_percent":3,"limit_window_seconds":604800,"reset_after_seconds":86400}}}`}
	}
	s.serveReply(w, r, reply, "")
}
