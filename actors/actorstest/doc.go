// Package actorstest holds helpers for testing actors deterministically: a
// fake clock whose timers fire only when the test advances it.
package actorstest
