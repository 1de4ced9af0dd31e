// Package fakeupstream is an http.Handler that imitates the Google services
// behind a Gemini CLI seat, for tests over loopback: the OAuth token
// endpoint (/token), userinfo (/userinfo) and the Code Assist v1internal API
// (/v1internal:loadCodeAssist, :onboardUser, /v1internal/operations/...,
// :generateContent, :streamGenerateContent?alt=sse, :countTokens).
//
// Mount it with httptest.NewServer and point the provider's CustomAPIURL,
// OAuthTokenURL and OAuthUserInfoURL at it. Accounts are set up per refresh
// token; generate replies and streams can be scripted (status, body,
// headers, a delay before the first byte or a connection reset before it;
// per-event gates and cuts); every request is recorded, and generate-family
// calls are counted per account, which SetAccountQuota can cap. Unscripted,
// it answers like a healthy upstream: generate echoes the model, streams send
// three events ending with finishReason STOP and usageMetadata.
//
// Like Google, it only accepts access tokens it issued (401 UNAUTHENTICATED
// otherwise) and rejects a generate envelope without model, project and a
// request object (400 INVALID_ARGUMENT).
//
// One file per endpoint group: oauth.go (/token, /userinfo), codeassist.go
// (loadCodeAssist, onboardUser, operations, retrieveUserQuota), generate.go
// (generateContent, streamGenerateContent, countTokens); server.go holds the
// Server, its routes, request recording and the shared reply writers.
package fakeupstream
