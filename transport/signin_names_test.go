package transport

import (
	"errors"
	"time"

	"github.com/pollux-gateway/pollux/transport/signin"
)

// The sign-in routes' paths as the whole-gateway tests name them (the
// routes live in package signin).
const (
	oauthPastePath   = signin.PastePath
	geminiAuthPath   = "/geminicli/auth"
	codexAuthPath    = "/codex/auth"
	geminiCallback   = "/oauth2callback"
	codexCallback    = "/auth/callback"
	codexCallbackAlt = codexAuthPath + "/callback"
	codexDevicePath  = codexAuthPath + "/device"
	deviceStatusPath = "/oauth/device"
)

// The device sign-in's JSON status and its states.
type deviceStatus = signin.DeviceStatus

const (
	devicePending = signin.DevicePending
	deviceAdded   = signin.DeviceAdded
	deviceFailed  = signin.DeviceFailed
)

// flowState is what a flow cookie carries (signed, not secret).
type flowState struct {
	Provider string `json:"p"`
	State    string `json:"s"`
	Verifier string `json:"v"`
	Redirect string `json:"r"`
	Project  string `json:"j,omitempty"`
	Expires  int64  `json:"e"`
}

// cookieName is the name of a provider's flow cookie.
func cookieName(provider string) string { return "pollux_oauth_" + provider }

// What the sign-in package keeps to itself, as the tests check it.
const (
	oauthKeySetting  = "oauth_cookie_key"
	oauthKeyLen      = 32
	oauthFlowTTL     = 10 * time.Minute
	deviceCookieName = "pollux_oauth_device"
	hintDeviceAgain  = "Start a new sign-in with a device code at " + codexDevicePath + " (with your Pollux key)."
)

// The reasons a flow cookie is refused, as the log states them.
var (
	errFlowInvalid = errors.New("flow cookie is malformed or its signature does not match")
	errFlowExpired = errors.New("flow cookie expired")
)
