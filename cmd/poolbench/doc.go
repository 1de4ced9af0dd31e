// Command poolbench measures how much of a pool's quota Pollux turns into
// served requests, against an oracle that knows every quota.
//
// For each provider and load it starts, in one process, the fake upstreams
// behind truthful quota windows (cmd/internal/quotasim: Quota requests per
// Window, per model on Gemini, account-wide on Codex, each account's window
// offset differently; resets stated in 429s, Codex headers and the quota
// endpoints), a fresh Pollux (real actors, transport and a temporary SQLite
// file) with the accounts onboarded, and sends Poisson arrivals at the given
// percentage of the pool's capacity, split evenly over two models, half
// unary and half streaming. Then it replays the same arrivals against an
// oracle that knows every account's quota and serves each request at once
// or, within the queue timeout, at the earliest reset.
//
// It prints per run: requests offered, served by the oracle and by Pollux
// (and the ratio), client 429s while some account still had quota for that
// model (checked again 50 ms later, so a race with another request or a
// reset is not counted), upstream generate calls and the wasted 429s among
// them, the client-visible wait of served requests (p50, p99), and how far
// each Retry-After was from the true wait (the time until some account had
// quota again), with the number later than the truth by more than 1 s.
//
// Quota windows are compressed in time (tens of seconds instead of hours)
// so a run takes minutes on a small machine.
//
// Usage:
//
//	poolbench [-providers geminicli,codex] [-loads 50,90,100,150]
//	          [-gemini-accounts 100] [-codex-accounts 20]
//	          [-gemini-quota 4] [-codex-quota 20] [-window 20s] [-windows 3]
//	          [-routing quota] [-queue-timeout 10s] [-seed 1] [-json]
package main
