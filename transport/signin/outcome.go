package signin

import (
	"context"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/pollux-gateway/pollux/actors"
	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/transport/signin/oauthpages"
)

// signInOutcome is what became of a sign-in, for a page or a JSON status.
type signInOutcome struct {
	status int
	// page is an oauthpages.Result or an oauthpages.Problem.
	page oauthpages.Page
	// verdict is set when the account itself was judged.
	verdict *actors.Verdict
}

func problemOutcome(status int, title, msg string) signInOutcome {
	return signInOutcome{status: status, page: oauthpages.Problem{Title: title, Message: msg}}
}

// renderOutcome renders out; a 400 problem without a hint gets hint.
func (f *oauthFlows) renderOutcome(c echo.Context, out signInOutcome, hint string) error {
	page := out.page
	if p, ok := page.(oauthpages.Problem); ok && out.status == http.StatusBadRequest && p.Hint == "" {
		p.Hint = hint
		page = p
	}
	return f.pages.Render(c.Response(), out.status, page)
}

// onboardSignedIn hands a signed-in credential to the provider's pool and
// waits (up to oauthOnboardWait) for the verdict on it.
func onboardSignedIn(ctx context.Context, log *zap.Logger, prov oauthProvider, cred providers.Credential) signInOutcome {
	started, err := prov.pool.Ingest(ctx, []providers.Credential{cred})
	if err != nil {
		log.Warn("oauth: ingest failed", zap.Error(err))
		return problemOutcome(http.StatusServiceUnavailable, "Could not add the account",
			"Pollux could not start checking the account. Try again in a moment.")
	}
	wctx, cancel := context.WithTimeout(ctx, oauthOnboardWait)
	defer cancel()
	job, err := prov.pool.Job(wctx, started.JobID, true)
	return jobOutcome(log, prov, started.JobID, job, err)
}

// jobOutcome judges the onboarding job of a signed-in credential: its one
// verdict once finished.
func jobOutcome(log *zap.Logger, prov oauthProvider, jobID string, job *actors.JobStatus, err error) signInOutcome {
	if err != nil || !job.Finished || len(job.Verdicts) == 0 {
		log.Warn("oauth: onboarding not finished", zap.String("job", jobID), zap.Error(err))
		return problemOutcome(http.StatusGatewayTimeout, "Still checking the account",
			"The sign-in worked, but Pollux has not finished checking the account (job "+jobID+"). It joins the pool once the check succeeds.")
	}
	v := job.Verdicts[0]
	log.Info("oauth sign-in finished",
		zap.String("job", jobID),
		zap.String("result", string(v.Result)),
		zap.Int64("credential_id", v.CredentialID),
		zap.String("reason", v.Reason))
	status, page := verdictPage(prov, v)
	page.SharedLoginWarning = page.OK && prov.id == providers.Codex
	return signInOutcome{status: status, page: page, verdict: &v}
}

// exchangeOutcome judges a failed code exchange: a refusal of the account
// as a verdict, a refused code as 400, anything else as 502.
func exchangeOutcome(log *zap.Logger, prov oauthProvider, err error) signInOutcome {
	log.Warn("oauth: code exchange failed", zap.Error(err))
	if v, ok := actors.VerdictOf(err); ok {
		if v.Result == actors.VerdictInvalid {
			return problemOutcome(http.StatusBadRequest, "The provider refused the sign-in",
				"Reason: "+shortText(v.Reason, 200)+". An authorization code works once and only for a few minutes; start again.")
		}
		status, page := verdictPage(prov, v)
		return signInOutcome{status: status, page: page, verdict: &v}
	}
	reason := "the token endpoint could not be reached or gave an unusable answer"
	var ue *providers.UpstreamError
	if errors.As(err, &ue) {
		reason = "the token endpoint answered " + shortText(ue.Outcome.Reason, 100)
	}
	return problemOutcome(http.StatusBadGateway, "Could not finish the sign-in",
		"Pollux could not exchange the sign-in with "+prov.name+": "+reason+". Start again in a moment.")
}

// verdictPage renders an onboarding verdict.
func verdictPage(prov oauthProvider, v actors.Verdict) (int, oauthpages.Result) {
	page := oauthpages.Result{
		Email: v.Email, Account: v.Account, Tier: v.Tier, Reason: v.Reason, URL: v.URL,
		AccountLabel: prov.accountLabel, TierLabel: prov.tierLabel,
	}
	status := http.StatusOK
	switch v.Result {
	case actors.VerdictAdded:
		page.OK, page.Title = true, "Account added"
		page.Summary = "The " + prov.name + " account is now in the pool."
	case actors.VerdictUpdated:
		page.OK, page.Title = true, "Account renewed"
		page.Summary = "This " + prov.name + " account was already in the pool; it now uses the new sign-in."
	case actors.VerdictDuplicate:
		page.OK, page.Title = true, "Already in the pool"
		page.Summary = "This sign-in is already in the pool."
	case actors.VerdictIneligible:
		status, page.Title = http.StatusUnprocessableEntity, "Account not eligible"
		page.Summary = "The provider does not let this account be used here (for example, no licence or plan)."
	case actors.VerdictBanned:
		status, page.Title = http.StatusUnprocessableEntity, "Account suspended"
		page.Summary = "The provider reports this account as suspended or deactivated."
	case actors.VerdictInvalid:
		status, page.Title = http.StatusUnprocessableEntity, "Sign-in not usable"
		page.Summary = "The provider rejected the new sign-in when Pollux tried to use it. Start again."
	default:
		status, page.Title = http.StatusBadGateway, "Could not add the account"
		page.Summary = "Pollux could not finish checking the account. Try again in a moment."
	}
	return status, page
}
