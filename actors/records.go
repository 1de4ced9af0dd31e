package actors

import (
	"time"

	"github.com/pollux-gateway/pollux/storage"
)

// The records the pools and the key set hand to transport. Storage persists
// them and defines them; these names are how the layers above the actors
// refer to them, so that nothing above the actors imports storage (the
// import rule in cmd/pollux/layout_test.go).

// Status is a credential's status, as the admin views show it.
type Status = storage.Status

// The credential statuses.
const (
	StatusActive      = storage.StatusActive
	StatusCooling     = storage.StatusCooling
	StatusNeedsReauth = storage.StatusNeedsReauth
	StatusIneligible  = storage.StatusIneligible
	StatusBanned      = storage.StatusBanned
	StatusDisabled    = storage.StatusDisabled
)

// Cooldown keeps a credential off one model (or AllModels) until a time.
type Cooldown = storage.Cooldown

// AllModels is the Cooldown model that cools the whole credential.
const AllModels = storage.AllModels

// ErrCredentialNotFound is the error of an admin call (SetDisabled,
// Remove, Refresh) on a credential id the pool does not hold.
var ErrCredentialNotFound = storage.ErrNotFound

// MemberKey is a member key's stored policy, the row Keys.Create and
// Keys.Update take.
type MemberKey = storage.MemberKey

// KeyUsage is an amount of usage counted for a key, or a sum of them.
type KeyUsage = storage.KeyUsage

// KeyUsageRow is one (key, provider, model, day) usage row of Keys.Usage.
type KeyUsageRow = storage.KeyUsageRow

// UsageDay is the day (YYYY-MM-DD, UTC) a usage row of time t is counted in.
func UsageDay(t time.Time) string { return storage.UsageDay(t) }
