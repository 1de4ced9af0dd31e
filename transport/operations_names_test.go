package transport

import "github.com/pollux-gateway/pollux/transport/operations"

// The whole-gateway tests decode the operations routes' answers with
// these names (the types live in package operations).
type (
	ingestJob       = operations.Job
	ingestVerdict   = operations.Verdict
	ingestAccepted  = operations.Accepted
	keyView         = operations.KeyView
	usageRow        = operations.UsageRow
	usageReport     = operations.UsageReport
	meView          = operations.MeView
	keySecretReply  = operations.KeySecretReply
	poolSummary     = operations.PoolSummary
	providerSummary = operations.ProviderSummary
	modelSummary    = operations.ModelSummary
	statusCounts    = operations.StatusCounts
	credentialList  = operations.CredentialList
	poolUsage       = operations.PoolUsage
)

// Paths and limits of the operations routes, as the tests name them.
const (
	adminRoot      = "/admin/v1"
	statusPageRoot = "/"
	statusPagePath = "/status"
	maxIngestBatch = operations.MaxIngestBatch
)
