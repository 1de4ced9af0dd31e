// Command loadgen sends a bounded load of identical POST requests to one
// loopback URL and reports latency, errors and, for SSE answers, stream
// completeness. It exists to benchmark Pollux against a baseline (such as
// upstreamsim directly) in the same run, on the same machine.
//
// Usage:
//
//	loadgen -url URL [-header 'K: V']... [-body FILE|JSON] [-n 1000] [-c 10]
//	        [-duration 30s] [-timeout 60s] [-stream] [-pid PID] [-json]
//	        [-sample 30s -metrics URL]
//	loadgen -path gunary|gstream|cstream|cunary [-floor -project P]
//	        -url BASE [-upstream-pid PID] ...
//	loadgen -compare FILE... [-json]
//
// The run stops after -n requests or after -duration, whichever comes first
// (-n defaults to 1000 when -duration is not set); requests in flight at the
// deadline finish and count. Every request has its own -timeout.
//
// With -stream the answer is read as SSE. A stream is complete when it
// carries a terminal event: a Gemini chunk containing "finishReason", or an
// OpenAI response.completed event. It is errored when it carries an error
// event (an OpenAI error or response.failed event, or a Gemini data payload
// that is an {"error": ...} object) and incomplete when it ends without
// either. TTFB is the time to the first whole SSE event, which is what a
// client sees first; keep-alive comments do not count.
//
// With -pid the CPU time (utime+stime from /proc/PID/stat) and memory
// (VmRSS and VmHWM from /proc/PID/status) of that process are sampled before
// and after the run, to report CPU milliseconds per request and RSS. Clock
// ticks are converted assuming USER_HZ = 100, which is sysconf(_SC_CLK_TCK)
// on every Linux architecture Go supports. VmHWM is the peak over the
// process's whole life, not only this run.
//
// Soak mode (-sample D) samples, every D during the run and once at its end,
// the RSS and open file descriptors of -pid (from /proc) and the live heap
// (go_memstats_heap_alloc_bytes) and goroutines (go_goroutines) that the
// target's Prometheus page at -metrics reports; each sample is printed as it
// is taken and all of them are in the summary. cmd/loadgen/soak.sh runs a
// soak against Pollux and the upstream simulator with a mix of injected
// faults.
//
// Floor mode measures Pollux against the floor: the same requests straight
// at cmd/upstreamsim with no gateway in between. -path names a benchmark
// request (Gemini generateContent or streamGenerateContent, a Codex
// Responses request streamed or not) and -url is then the target's base
// URL: without -floor loadgen sends the client's request to Pollux; with
// -floor it sends what Pollux would send upstream (the Code Assist v1internal
// envelope with -project; the normalized Codex backend body, which always
// streams) to the simulator, whose credentials go in -header. -upstream-pid
// samples a second process (the simulator behind Pollux) alongside -pid.
// -compare reads the -json summaries of such runs and prints, per path,
// Pollux / floor: runs at concurrency 1 give the added latency, the others
// CPU per request (see the README's Performance section for what each
// ratio divides). cmd/loadgen/floor.sh runs the whole comparison.
//
// Only loopback targets are accepted (127.0.0.0/8, ::1, localhost): the URL
// is checked up front, every dial is checked again after name resolution,
// proxies from the environment are ignored and redirects are not followed.
package main
