package actors

import (
	"errors"

	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/storage"
)

// permanentVerdicts is the one map from the providers' verdict sentinels
// (the Err of a *providers.VerdictError) to what they mean: the status a
// credential whose refresh failed so takes, and the result an onboarding or
// a sign-in reports. A verdict with another sentinel counts as ErrReauth: a
// human must look.
var permanentVerdicts = [...]struct {
	sentinel error
	status   storage.Status
	result   VerdictKind
}{
	{providers.ErrReauth, storage.StatusNeedsReauth, VerdictInvalid},
	{providers.ErrIneligible, storage.StatusIneligible, VerdictIneligible},
	{providers.ErrBanned, storage.StatusBanned, VerdictBanned},
}

// verdictOf finds the *providers.VerdictError in err's chain and the entry
// of permanentVerdicts its sentinel maps to; ok is false when err is no
// verdict (a transient failure).
func verdictOf(err error) (ve *providers.VerdictError, status storage.Status, result VerdictKind, ok bool) {
	if !errors.As(err, &ve) {
		return nil, "", "", false
	}
	for _, v := range permanentVerdicts {
		if errors.Is(err, v.sentinel) {
			return ve, v.status, v.result, true
		}
	}
	return ve, storage.StatusNeedsReauth, VerdictInvalid, true
}

// VerdictOf is the Verdict (Result, Reason and URL) that a failed
// onboarding or sign-in err stands for when it is a permanent verdict of the
// upstream (a *providers.VerdictError): VerdictInvalid for a dead grant,
// VerdictIneligible, VerdictBanned. ok is false for any other error, which
// is transient.
func VerdictOf(err error) (v Verdict, ok bool) {
	ve, _, result, ok := verdictOf(err)
	if !ok {
		return Verdict{}, false
	}
	return Verdict{Result: result, Reason: ve.Reason, URL: ve.URL}, true
}
