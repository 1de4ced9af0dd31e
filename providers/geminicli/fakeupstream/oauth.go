package fakeupstream

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// AddAuthCode makes code exchangeable (authorization_code grant) for the
// account behind refreshToken.
func (s *Server) AddAuthCode(code, refreshToken string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.codes[code] = refreshToken
}

// OmitIDToken makes token replies carry no id_token, so clients must ask
// userinfo who the account is.
func (s *Server) OmitIDToken(omit bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.omitIDToken = omit
}

// SetExpiresIn sets the expires_in of issued access tokens (default 3599).
func (s *Server) SetExpiresIn(secs int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expiresIn = secs
}

// ScriptToken queues answers for the next token endpoint calls.
func (s *Server) ScriptToken(rs ...Response) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokenScript = append(s.tokenScript, rs...)
}

// ExpireAccessTokens forgets every issued access token, so the next call
// with one gets 401 until the client refreshes.
func (s *Server) ExpireAccessTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.access)
}

// Refreshes returns how many refresh_token grants used refreshToken.
func (s *Server) Refreshes(refreshToken string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refreshes[refreshToken]
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "unparseable form")
		return
	}
	s.mu.Lock()
	if len(s.tokenScript) > 0 {
		resp := s.tokenScript[0]
		s.tokenScript = s.tokenScript[1:]
		s.mu.Unlock()
		serveResponse(w, r, resp)
		return
	}
	defer s.mu.Unlock()
	if r.PostForm.Get("client_id") == "" {
		writeOAuthError(w, http.StatusUnauthorized, "invalid_client", "The OAuth client was not found.")
		return
	}
	var refresh string
	switch r.PostForm.Get("grant_type") {
	case "refresh_token":
		refresh = r.PostForm.Get("refresh_token")
		s.refreshes[refresh]++
		a, ok := s.accounts[refresh]
		if !ok || a.InvalidGrant {
			writeOAuthError(w, http.StatusBadRequest, "invalid_grant", "Token has been expired or revoked.")
			return
		}
	case "authorization_code":
		code := r.PostForm.Get("code")
		var ok bool
		refresh, ok = s.codes[code]
		if !ok || r.PostForm.Get("code_verifier") == "" || r.PostForm.Get("redirect_uri") == "" {
			writeOAuthError(w, http.StatusBadRequest, "invalid_grant", "Malformed auth code.")
			return
		}
		delete(s.codes, code)
	default:
		writeOAuthError(w, http.StatusBadRequest, "unsupported_grant_type", "Invalid grant_type.")
		return
	}
	a := s.accounts[refresh]
	s.n++
	access := "ya29.fake-" + strconv.Itoa(s.n)
	s.access[access] = refresh
	reply := map[string]any{
		"access_token": access,
		"expires_in":   s.expiresIn,
		"token_type":   "Bearer",
		"scope":        "https://www.googleapis.com/auth/cloud-platform https://www.googleapis.com/auth/userinfo.email https://www.googleapis.com/auth/userinfo.profile openid",
	}
	if r.PostForm.Get("grant_type") == "authorization_code" {
		reply["refresh_token"] = refresh
	}
	if !s.omitIDToken {
		reply["id_token"] = idToken(a.Sub, a.Email, r.PostForm.Get("client_id"))
	}
	writeJSON(w, http.StatusOK, reply)
}

// idToken builds an unsigned-looking JWT with Google's claim set.
func idToken(sub, email, aud string) string {
	enc := base64.RawURLEncoding
	header := enc.EncodeToString([]byte(`{"alg":"RS256","kid":"fake","typ":"JWT"}`))
	now := time.Now().Unix()
	payload, _ := json.Marshal(map[string]any{
		"iss": "https://accounts.google.com", "aud": aud, "azp": aud,
		"sub": sub, "email": email, "email_verified": true,
		"iat": now, "exp": now + 3600,
	})
	return header + "." + enc.EncodeToString(payload) + "." + enc.EncodeToString([]byte("fake-signature"))
}

func (s *Server) userinfo(w http.ResponseWriter, r *http.Request) {
	a, _, ok := s.authorize(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	reply := map[string]any{"id": a.Sub, "email": a.Email, "verified_email": true}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, reply)
}

func writeOAuthError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}
